// A C plugin (include/bncheck/plugin.h) as a backend. Every call into the plugin,
// supports() included, goes through run_isolated: by default in a child process.
#include "plugin/plugin_backend.hpp"

#include <dlfcn.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <system_error>

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
  q.direction = p.dir == Direction::fwd_train   ? BNCHECK_FORWARD_TRAINING
                : p.dir == Direction::fwd_infer ? BNCHECK_FORWARD_INFERENCE
                                                : BNCHECK_BACKWARD;
  return q;
}

// What a table declares (version 2), or version 1's PyTorch conventions and f32
// numerics. The numerics' zero fields take the defaults per problem (numerics()).
struct Declared {
  Conventions conv;
  bncheck_numerics_t nx{};
  SplitKind split = SplitKind::none;
};

// The declared values, each checked against its enumeration: an unknown value is a
// convention this bncheck cannot follow, so the table is refused rather than judged
// under another one.
Result<Declared> read_declarations(const bncheck_plugin_t& t) {
  using R = Result<Declared>;
  Declared d;
  if (t.abi_version < 2) return d;
  const bncheck_conventions_t& c = t.conventions;
  const bncheck_numerics_t& n = t.numerics;
  struct Field {
    const char* name;
    int32_t value, max;
  };
  const Field fields[] = {{"conventions.running_var", c.running_var, 1},
                          {"conventions.momentum", c.momentum, 1},
                          {"conventions.saved_stat", c.saved_stat, 1},
                          {"conventions.no_running_stats", c.no_running_stats, 1},
                          {"conventions.eps_placement", c.eps_placement, 0},
                          {"conventions.eps_dtype", c.eps_dtype, 1},
                          {"conventions.single_element", c.single_element, 1},
                          {"conventions.zero_var", c.zero_var, 1},
                          {"numerics.stats_algorithm", n.stats_algorithm, 3},
                          {"numerics.sum_based_stats", n.sum_based_stats, 1},
                          {"numerics.folds_inference", n.folds_inference, 1},
                          {"numerics.flush_denormals", n.flush_denormals, 1},
                          {"numerics.fast_math", n.fast_math, 1},
                          {"numerics.nondeterministic", n.nondeterministic, 1},
                          {"split_kind", t.split_kind, 3}};
  for (const Field& f : fields)
    if (f.value < 0 || f.value > f.max)
      return R::failure(std::string(f.name) + " = " + std::to_string(f.value) +
                        ": not a value this bncheck knows (0.." + std::to_string(f.max) +
                        ", include/bncheck/plugin.h)");
  for (const auto& [name, bits] : {std::pair{"numerics.accumulation_bits", n.accumulation_bits},
                                   std::pair{"numerics.compute_bits", n.compute_bits}})
    if (bits != 0 && (bits < 8 || bits > 113))
      return R::failure(std::string(name) + " = " + std::to_string(bits) + ": 0 (the default) or 8 to 113 bits");
  d.conv.running_var = c.running_var == BNCHECK_RVAR_BIASED ? RunningVar::biased : RunningVar::unbiased;
  d.conv.momentum_dir = c.momentum == BNCHECK_MOMENTUM_OLD ? MomentumDir::old_stat : MomentumDir::new_stat;
  d.conv.saved = c.saved_stat == BNCHECK_SAVE_VARIANCE ? SavedStat::variance : SavedStat::invstd;
  d.conv.keeps_running = c.no_running_stats == 0;
  d.conv.eps_float = c.eps_dtype == BNCHECK_EPS_FLOAT;
  d.conv.single_element_biased = c.single_element == BNCHECK_M1_BIASED;
  d.conv.zero_var_invstd_is_zero = c.zero_var == BNCHECK_ZERO_VAR_ZERO;
  d.nx = n;
  const int given = (t.local_stats ? 1 : 0) + (t.merge_stats ? 1 : 0) + (t.apply_stats ? 1 : 0);
  if (given != 0 && given != 3) return R::failure("local_stats, merge_stats, apply_stats: give all three or none");
  if ((given == 3) != (t.split_kind != BNCHECK_SPLIT_NONE))
    return R::failure("split_kind = " + std::to_string(t.split_kind) +
                      (given == 3 ? ": the split functions need a split_kind" : " without the split functions"));
  d.split = t.split_kind == BNCHECK_SPLIT_MEAN_M2    ? SplitKind::mean_m2
            : t.split_kind == BNCHECK_SPLIT_MEAN_STD ? SplitKind::mean_std
            : t.split_kind == BNCHECK_SPLIT_SUMS     ? SplitKind::sums
                                                     : SplitKind::none;
  return d;
}

// Loads the library and checks its table; returns a copy of the fields its version has
// (the others zero). The library stays loaded (until exit): the table points into it.
Result<bncheck_plugin_t> open_table(const std::string& path) {
  using R = Result<bncheck_plugin_t>;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return R::failure(std::string("cannot load: ") + dlerror());
  using Get = const bncheck_plugin_t* (*)();
  auto get = reinterpret_cast<Get>(dlsym(handle, "bncheck_get_plugin"));
  if (!get) return R::failure("does not export bncheck_get_plugin");
  const bncheck_plugin_t* table = get();
  if (!table) return R::failure("bncheck_get_plugin() returned NULL");
  const uint32_t version = table->abi_version;  // the first field in every version
  if (version < 1 || version > BNCHECK_PLUGIN_ABI_VERSION)
    return R::failure("ABI version " + std::to_string(version) + ", this bncheck speaks 1 to " +
                      std::to_string(BNCHECK_PLUGIN_ABI_VERSION));
  // A version-1 table ends where version 2's fields begin, a minor-0 table of version 2
  // where minor 1's split functions begin: read no further. A newer minor appends
  // fields past these, which are not read.
  size_t known = sizeof(bncheck_plugin_t);
  if (version == 1)
    known = offsetof(bncheck_plugin_t, abi_minor);
  else if (table->abi_minor == 0)
    known = offsetof(bncheck_plugin_t, split_kind);
  bncheck_plugin_t copy{};
  std::memcpy(&copy, table, known);
  const bncheck_plugin_t* t = &copy;
  if (!t->name || !t->supports || !t->forward_training || !t->forward_inference || !t->backward)
    return R::failure("the plugin table lacks a name or a function");
  // The name reaches repro lines, file names and reports: it must be a plain word.
  if (!valid_backend_name(t->name))
    return R::failure("invalid backend name '" + std::string(t->name).substr(0, 80) +
                      "': 1 to 64 of the characters A-Z a-z 0-9 _ -");
  const auto declared = read_declarations(copy);
  if (!declared) return R::failure(declared.error());
  return copy;
}

class PluginBackend final : public Backend {
 public:
  PluginBackend(std::string path, const bncheck_plugin_t& t, Declared declared, IsolationOptions opt)
      : path_(std::move(path)),
        table_(t),
        declared_(declared),
        opt_(opt),
        name_(t.name),
        description_(t.description ? printable(t.description, 200) : "") {}

  std::string name() const override { return name_; }
  std::string description() const override {
    return "plugin " + printable(path_) + (description_.empty() ? "" : ": " + description_) +
           (opt_.isolate ? " [isolated]" : " [in-process]");
  }
  Support supports(const Problem& p) const override {
    const bncheck_problem_t q = abi_problem(p);
    const Status s = run_isolated(
        opt_, {}, [&](const std::vector<void*>&) { return table_.supports(&q) ? 0 : 1; }, [] { return std::string(); });
    if (s.ok()) return Support::yes();
    if (s.kind == Status::Kind::error) return Support::no("the plugin does not support this problem");
    Support sup = Support::no("supports() failed");
    sup.failure = s;
    return sup;
  }
  std::vector<std::string> repro_options() const override {
    // Absolute, so that the line reruns from any directory.
    std::error_code ec;
    const std::filesystem::path abs = std::filesystem::absolute(path_, ec);
    std::vector<std::string> v{"--plugin", ec ? path_ : abs.lexically_normal().string()};
    if (!opt_.isolate) v.push_back("--no-isolation");
    if (opt_.timeout_set) {
      char b[32];
      std::snprintf(b, sizeof b, "%g", opt_.timeout_s);
      v.insert(v.end(), {"--timeout", b});
    }
    return v;
  }
  Conventions conventions(const Problem&) const override { return declared_.conv; }
  // Undeclared precisions (version 1, or 0): an honest implementation in f32 (f64 for
  // f64 data).
  Numerics numerics(const Problem& p) const override {
    const bncheck_numerics_t& d = declared_.nx;
    Numerics n;
    const int def = p.dtype == Dtype::f64 ? 53 : 24;
    n.accumulation_bits = d.accumulation_bits ? d.accumulation_bits : def;
    n.compute_bits = d.compute_bits ? d.compute_bits : def;
    n.stats = d.stats_algorithm == BNCHECK_STATS_TWO_PASS   ? StatsAlgorithm::two_pass
              : d.stats_algorithm == BNCHECK_STATS_WELFORD  ? StatsAlgorithm::welford
              : d.stats_algorithm == BNCHECK_STATS_ONE_PASS ? StatsAlgorithm::one_pass
                                                            : StatsAlgorithm::unknown;
    n.sum_based_stats = d.sum_based_stats != 0;
    n.folds_inference = d.folds_inference != 0;
    n.flush_denormals = d.flush_denormals != 0;
    n.fast_math = d.fast_math != 0;
    n.deterministic = d.nondeterministic == 0;
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
                  return table_.forward_training(&q, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
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
        [&](const std::vector<void*>& b) { return table_.forward_inference(&q, b[0], b[1], b[2], b[3], b[4], b[5]); });
  }
  SplitKind split_kind() const override { return declared_.split; }
  Status local_stats(const Problem& p, const LocalStatsArgs& a) override {
    const bncheck_problem_t q = abi_problem(p);
    return call({{"x", const_cast<void*>(a.x), data_bytes(p), false}, {"stats", a.stats, stats_bytes(p, 2), true}},
                [&](const std::vector<void*>& b) { return table_.local_stats(&q, b[0], static_cast<double*>(b[1])); });
  }
  Status merge_stats(const Problem& p, const MergeStatsArgs& a) override {
    const bncheck_problem_t q = abi_problem(p);
    const size_t P = param_bytes(p), K = static_cast<size_t>(a.k);
    return call({{"counts", const_cast<int64_t*>(a.counts), K * sizeof(int64_t), false},
                 {"stats", const_cast<double*>(a.stats), K * stats_bytes(p, 2), false},
                 {"merged", a.merged, stats_bytes(p, kMergedDoubles), true},
                 {"save_mean", a.save_mean, P, true},
                 {"save_invstd", a.save_stat, P, true},
                 {"running_mean", a.running_mean, P, true},
                 {"running_var", a.running_var, P, true}},
                [&](const std::vector<void*>& b) {
                  return table_.merge_stats(&q, a.k, static_cast<const int64_t*>(b[0]),
                                            static_cast<const double*>(b[1]), static_cast<double*>(b[2]), b[3], b[4],
                                            b[5], b[6]);
                });
  }
  Status apply_stats(const Problem& p, const ApplyStatsArgs& a) override {
    const bncheck_problem_t q = abi_problem(p);
    const size_t D = data_bytes(p), P = param_bytes(p);
    return call({{"x", const_cast<void*>(a.x), D, false},
                 {"gamma", const_cast<void*>(a.gamma), a.gamma ? P : 0, false},
                 {"beta", const_cast<void*>(a.beta), a.beta ? P : 0, false},
                 {"merged", const_cast<double*>(a.merged), stats_bytes(p, kMergedDoubles), false},
                 {"y", a.y, D, true}},
                [&](const std::vector<void*>& b) {
                  return table_.apply_stats(&q, b[0], b[1], b[2], static_cast<const double*>(b[3]), b[4]);
                });
  }

  Status backward(const Problem& p, const BackwardArgs& a) override {
    const bncheck_problem_t q = abi_problem(p);
    const size_t D = data_bytes(p), P = param_bytes(p);
    return call({{"x", const_cast<void*>(a.x), D, false},
                 {"dy", const_cast<void*>(a.dy), D, false},
                 {"gamma", const_cast<void*>(a.gamma), a.gamma ? P : 0, false},
                 {"save_mean", const_cast<void*>(a.save_mean), P, false},
                 {"save_invstd", const_cast<void*>(a.save_stat), P, false},
                 {"dx", a.dx, D, true},
                 {"dgamma", a.dgamma, a.dgamma ? P : 0, true},
                 {"dbeta", a.dbeta, a.dbeta ? P : 0, true}},
                [&](const std::vector<void*>& b) {
                  return table_.backward(&q, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
                });
  }

 private:
  static size_t data_bytes(const Problem& p) {
    return static_cast<size_t>(p.elements()) * static_cast<size_t>(format_info(p.dtype).bytes);
  }
  static size_t stats_bytes(const Problem& p, size_t per_channel) {
    return static_cast<size_t>(p.c) * per_channel * sizeof(double);
  }
  static size_t param_bytes(const Problem& p) {
    return static_cast<size_t>(p.c) * static_cast<size_t>(format_info(p.pdtype).bytes);
  }
  Status call(std::vector<IsolatedBuffer> bufs, const std::function<int(const std::vector<void*>&)>& fn) {
    for (auto& b : bufs)
      if (!b.caller) b.bytes = 0;  // absent (NULL) stays NULL
    return run_isolated(opt_, std::move(bufs), fn, [this] {
      const char* m = table_.last_error ? table_.last_error() : nullptr;
      return std::string(m ? m : "");
    });
  }

  std::string path_;
  bncheck_plugin_t table_;  // the fields of the plugin's version, the others zero
  Declared declared_;
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
  return std::unique_ptr<Backend>(std::make_unique<PluginBackend>(path, *t, *read_declarations(*t), opt));
}

}  // namespace bncheck
