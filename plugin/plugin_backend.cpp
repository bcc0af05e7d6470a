// A C plugin (include/bncheck/plugin.h) as a backend. Every call into the plugin,
// supports() included, goes through run_isolated: by default in a child process.
#include "plugin/plugin_backend.hpp"

#include <dlfcn.h>

#include "api/text.hpp"
#include "bncheck/plugin.h"

namespace bncheck {

namespace {

int32_t abi_dtype(Dtype d) {
  switch (d) {
    case Dtype::f64: return BNCHECK_F64;
    case Dtype::f32: return BNCHECK_F32;
    case Dtype::f16: return BNCHECK_F16;
    case Dtype::bf16: return BNCHECK_BF16;
  }
  return BNCHECK_F32;
}

bncheck_problem_t abi_problem(const Problem& p) {
  bncheck_problem_t q{};
  q.n = p.n;
  q.c = p.c;
  q.spatial_rank = p.rank;
  for (int i = 0; i < 3; ++i) q.spatial[i] = i < p.rank ? p.spatial[i] : 1;
  q.layout = p.layout == Layout::channels_first ? BNCHECK_CHANNELS_FIRST : BNCHECK_CHANNELS_LAST;
  q.dtype = abi_dtype(p.dtype);
  q.param_dtype = abi_dtype(p.pdtype);
  q.eps = p.eps;
  q.momentum = p.momentum;
  q.affine = p.affine ? 1 : 0;
  return q;
}

// Loads the library and checks its table. The library stays loaded (until exit): the
// table points into it.
Result<const bncheck_plugin_t*> open_table(const std::string& path) {
  using R = Result<const bncheck_plugin_t*>;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return R::failure(std::string("cannot load: ") + dlerror());
  using Get = const bncheck_plugin_t* (*)();
  auto get = reinterpret_cast<Get>(dlsym(handle, "bncheck_get_plugin"));
  if (!get) return R::failure("does not export bncheck_get_plugin");
  const bncheck_plugin_t* t = get();
  if (!t) return R::failure("bncheck_get_plugin() returned NULL");
  if (t->abi_version != BNCHECK_PLUGIN_ABI_VERSION)
    return R::failure("ABI version " + std::to_string(t->abi_version) + ", this bncheck speaks " +
                      std::to_string(BNCHECK_PLUGIN_ABI_VERSION));
  if (!t->name || !t->supports || !t->forward_training || !t->forward_inference || !t->backward)
    return R::failure("the plugin table lacks a name or a function");
  // The name reaches repro lines, file names and reports: it must be a plain word.
  if (!valid_backend_name(t->name))
    return R::failure("invalid backend name '" + std::string(t->name).substr(0, 80) +
                      "': 1 to 64 of the characters A-Z a-z 0-9 _ -");
  return t;
}

class PluginBackend final : public Backend {
 public:
  PluginBackend(std::string path, const bncheck_plugin_t* t, IsolationOptions opt)
      : path_(std::move(path)),
        t_(t),
        opt_(opt),
        name_(t->name),
        description_(t->description ? printable(t->description, 200) : "") {}

  std::string name() const override { return name_; }
  std::string description() const override {
    return "plugin " + printable(path_) + (description_.empty() ? "" : ": " + description_) +
           (opt_.isolate ? " [isolated]" : " [in-process]");
  }
  Support supports(const Problem& p) const override {
    const bncheck_problem_t q = abi_problem(p);
    const Status s = run_isolated(
        opt_, {}, [&](const std::vector<void*>&) { return t_->supports(&q) ? 0 : 1; }, [] { return std::string(); });
    if (s.ok()) return Support::yes();
    if (s.kind == Status::Kind::error) return Support::no("the plugin does not support this problem");
    Support sup = Support::no("supports() failed");
    sup.failure = s;
    return sup;
  }
  std::vector<std::string> repro_options() const override {
    std::vector<std::string> v{"--plugin", path_};
    if (!opt_.isolate) v.push_back("--no-isolation");
    if (opt_.timeout_set) {
      char b[32];
      std::snprintf(b, sizeof b, "%g", opt_.timeout_s);
      v.insert(v.end(), {"--timeout", b});
    }
    return v;
  }
  Conventions conventions(const Problem&) const override { return Conventions{}; }  // ABI v1: PyTorch's
  Numerics numerics(const Problem& p) const override {
    Numerics n;  // undeclared by the ABI: judged as an honest implementation in f32 (f64 for f64 data)
    n.accumulation_bits = n.compute_bits = p.dtype == Dtype::f64 ? 53 : 24;
    return n;
  }

  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    const bncheck_problem_t q = abi_problem(p);
    const size_t D = data_bytes(p), P = param_bytes(p);
    return call({{"x", const_cast<void*>(a.x), D, false},
                 {"gamma", const_cast<void*>(a.gamma), a.gamma ? P : 0, false},
                 {"beta", const_cast<void*>(a.beta), a.beta ? P : 0, false},
                 {"y", a.y, D, true},
                 {"save_mean", a.save_mean, P, true},
                 {"save_invstd", a.save_stat, P, true},
                 {"running_mean", a.running_mean, P, true},
                 {"running_var", a.running_var, P, true}},
                [&](const std::vector<void*>& b) {
                  return t_->forward_training(&q, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
                });
  }
  Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) override {
    const bncheck_problem_t q = abi_problem(p);
    const size_t D = data_bytes(p), P = param_bytes(p);
    return call(
        {{"x", const_cast<void*>(a.x), D, false},
         {"gamma", const_cast<void*>(a.gamma), a.gamma ? P : 0, false},
         {"beta", const_cast<void*>(a.beta), a.beta ? P : 0, false},
         {"running_mean", const_cast<void*>(a.running_mean), P, false},
         {"running_var", const_cast<void*>(a.running_var), P, false},
         {"y", a.y, D, true}},
        [&](const std::vector<void*>& b) { return t_->forward_inference(&q, b[0], b[1], b[2], b[3], b[4], b[5]); });
  }
  Status backward(const Problem& p, const BackwardArgs& a) override {
    const bncheck_problem_t q = abi_problem(p);
    const size_t D = data_bytes(p), P = param_bytes(p);
    return call(
        {{"x", const_cast<void*>(a.x), D, false},
         {"dy", const_cast<void*>(a.dy), D, false},
         {"gamma", const_cast<void*>(a.gamma), a.gamma ? P : 0, false},
         {"save_mean", const_cast<void*>(a.save_mean), P, false},
         {"save_invstd", const_cast<void*>(a.save_stat), P, false},
         {"dx", a.dx, D, true},
         {"dgamma", a.dgamma, a.dgamma ? P : 0, true},
         {"dbeta", a.dbeta, a.dbeta ? P : 0, true}},
        [&](const std::vector<void*>& b) { return t_->backward(&q, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]); });
  }

 private:
  static size_t data_bytes(const Problem& p) {
    return static_cast<size_t>(p.elements()) * static_cast<size_t>(format_info(p.dtype).bytes);
  }
  static size_t param_bytes(const Problem& p) {
    return static_cast<size_t>(p.c) * static_cast<size_t>(format_info(p.pdtype).bytes);
  }
  Status call(std::vector<IsolatedBuffer> bufs, const std::function<int(const std::vector<void*>&)>& fn) {
    for (auto& b : bufs)
      if (!b.caller) b.bytes = 0;  // absent (NULL) stays NULL
    return run_isolated(opt_, std::move(bufs), fn, [this] {
      const char* m = t_->last_error ? t_->last_error() : nullptr;
      return std::string(m ? m : "");
    });
  }

  std::string path_;
  const bncheck_plugin_t* t_;
  IsolationOptions opt_;
  std::string name_, description_;
};

}  // namespace

Result<std::unique_ptr<Backend>> load_plugin(const std::string& given, const IsolationOptions& opt) {
  using R = Result<std::unique_ptr<Backend>>;
  // dlopen looks a name without '/' up on the library path: "ok.so" would load a
  // system library of that name. A plugin is always a file.
  const std::string path = given.find('/') == std::string::npos ? "./" + given : given;
  // Load it in a child first: a plugin whose constructors crash must not take the
  // harness down with it.
  if (opt.isolate) {
    std::string child_error;
    const Status s = run_isolated(
        opt, {},
        [&](const std::vector<void*>&) {
          const auto t = open_table(path);
          child_error = t.error();
          return t ? 0 : 1;
        },
        [&] { return child_error; });
    if (!s.ok()) {
      // The loader's own message, without run_isolated's "returned 1: " (already made printable there).
      const std::string m = s.message.rfind("returned 1: ", 0) == 0 ? s.message.substr(12) : s.message;
      return R::failure(printable(path) + ": " + (s.kind == Status::Kind::error ? m : "crashed while loading: " + m));
    }
  }
  const auto t = open_table(path);
  if (!t) return R::failure(printable(path) + ": " + printable(t.error()));
  return std::unique_ptr<Backend>(std::make_unique<PluginBackend>(path, *t, opt));
}

}  // namespace bncheck
