#include "harness/runner.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "harness/json.hpp"

namespace bncheck {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Verdict verdict_of(const Status& st) {
  switch (st.kind) {
    case Status::Kind::crash: return Verdict::crash;
    case Status::Kind::timeout: return Verdict::timeout;
    case Status::Kind::oob_write: return Verdict::oob_write;
    case Status::Kind::ok: return Verdict::pass;
    case Status::Kind::error: break;
  }
  return Verdict::error;
}

Tensor output_tensor(Dtype dt, size_t n) {
  Tensor t(dt, n);
  t.fill_sentinel();
  return t;
}

Tensor copy_of(const Tensor& t) {
  Tensor c(t.dtype(), t.size());
  for (size_t i = 0; i < t.size(); ++i) c.set_bits(i, t.bits(i));
  return c;
}

std::vector<int64_t> data_shape(const Problem& p) {
  std::vector<int64_t> s{p.n};
  if (p.layout == Layout::channels_first) s.push_back(p.c);
  for (int i = 0; i < p.rank; ++i) s.push_back(p.spatial[i]);
  if (p.layout == Layout::channels_last) s.push_back(p.c);
  return s;
}

}  // namespace

const Tensor* CaseOutputs::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

CaseRunner::CaseRunner(const Problem& p) : p_(p), data_(make_case_data(p)) {}
CaseRunner::CaseRunner(const Problem& p, CaseData data) : p_(p), data_(std::move(data)) {}

CaseRunner::PerConvention& CaseRunner::get(const Conventions& conv) {
  for (auto& [c, pc] : cache_)
    if (c == conv) return *pc;
  auto pc = std::make_unique<PerConvention>();
  const auto t0 = std::chrono::steady_clock::now();
  pc->ref = compute_reference(p_, conv, data_);
  pc->seconds = seconds_since(t0);
  pc->data.x = copy_of(data_.x);
  if (!data_.gamma.empty()) { pc->data.gamma = copy_of(data_.gamma); pc->data.beta = copy_of(data_.beta); }
  if (!data_.dy.empty()) pc->data.dy = copy_of(data_.dy);
  if (!data_.running_mean.empty()) {
    pc->data.running_mean = copy_of(data_.running_mean);
    pc->data.running_var = copy_of(data_.running_var);
  }
  if (p_.dir == Direction::bwd) {
    // The backend's backward gets the reference statistics, correctly rounded.
    pc->data.save_mean = Tensor(p_.pdtype, static_cast<size_t>(p_.c));
    pc->data.save_stat = Tensor(p_.pdtype, static_cast<size_t>(p_.c));
    for (int64_t c = 0; c < p_.c; ++c) {
      pc->data.save_mean.set_bits(c, pc->ref.save_mean.rounded[c]);
      pc->data.save_stat.set_bits(c, pc->ref.save_stat.rounded[c]);
    }
  }
  cache_.emplace_back(conv, std::move(pc));
  return *cache_.back().second;
}

const Reference& CaseRunner::reference(const Conventions& conv) { return get(conv).ref; }
const CaseData& CaseRunner::data_for(const Conventions& conv) { return get(conv).data; }

CaseReport CaseRunner::run(Backend& b, CaseOutputs* outputs) {
  // The harness never dies on a backend: an exception is that case's verdict.
  try {
    return run_unguarded(b, outputs);
  } catch (const std::bad_alloc&) {
    CaseReport rep;
    rep.backend = b.name();
    rep.problem = p_;
    rep.verdict = Verdict::skipped;
    rep.message = "out of memory";
    return rep;
  } catch (const std::exception& e) {
    CaseReport rep;
    rep.backend = b.name();
    rep.problem = p_;
    rep.verdict = Verdict::error;
    rep.message = std::string("exception: ") + e.what();
    return rep;
  }
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string repro_line(const std::string& argv0, const std::string& backend, const Problem& p) {
  return argv0 + " run --backend " + backend + " --problem " + shell_quote(to_string(p));
}

CaseReport CaseRunner::run_unguarded(Backend& b, CaseOutputs* outputs) {
  CaseReport rep;
  rep.backend = b.name();
  rep.problem = p_;
  const Availability av = b.availability();
  if (!av.available) {
    rep.verdict = Verdict::unavailable;
    rep.message = av.reason;
    return rep;
  }
  const Support sup = b.supports(p_);
  if (!sup.failure.ok()) {
    rep.verdict = verdict_of(sup.failure);
    rep.message = "supports(): " + sup.failure.message;
    return rep;
  }
  if (!sup.supported) {
    rep.verdict = Verdict::unsupported;
    rep.message = sup.reason;
    return rep;
  }
  Problem bp = p_;
  bp.conv = b.conventions(p_);
  rep.conv = bp.conv;
  PerConvention& pc = get(bp.conv);
  rep.seconds_reference = pc.seconds;
  const CaseData& d = pc.data;
  const Reference& ref = pc.ref;
  const Numerics nx = b.numerics(bp);
  const Budget B = compute_budget(bp, bp.conv, nx, d, ref);

  const size_t E = static_cast<size_t>(p_.elements()), C = static_cast<size_t>(p_.c);
  CaseOutputs out;
  Status st;
  std::string main_output;
  const auto t0 = std::chrono::steady_clock::now();
  auto judge = [&](const std::string& name, const RefTensor& r, const std::vector<double>& budget) {
    rep.tensors.push_back(compare_tensor(name, r, *out.find(name), budget));
  };
  if (p_.dir == Direction::fwd_train) {
    out.tensors.emplace_back("y", output_tensor(p_.dtype, E));
    out.tensors.emplace_back("save_mean", output_tensor(p_.pdtype, C));
    out.tensors.emplace_back("save_stat", output_tensor(p_.pdtype, C));
    out.tensors.emplace_back("running_mean", copy_of(d.running_mean));
    out.tensors.emplace_back("running_var", copy_of(d.running_var));
    auto& T = out.tensors;
    ForwardTrainingArgs a{d.x.data(), d.gamma.data(), d.beta.data(), T[0].second.data(), T[1].second.data(),
                          T[2].second.data(), T[3].second.data(), T[4].second.data()};
    st = b.forward_training(bp, a);
    rep.seconds_backend = seconds_since(t0);
    if (st.ok()) {
      judge("y", ref.y, B.y);
      judge("save_mean", ref.save_mean, B.save_mean);
      judge("save_stat", ref.save_stat, B.save_stat);
      if (bp.conv.keeps_running) {
        judge("running_mean", ref.running_mean, B.running_mean);
        judge("running_var", ref.running_var, B.running_var);
      }
    }
    main_output = "y";
  } else if (p_.dir == Direction::fwd_infer) {
    out.tensors.emplace_back("y", output_tensor(p_.dtype, E));
    ForwardInferenceArgs a{d.x.data(), d.gamma.data(), d.beta.data(), d.running_mean.data(), d.running_var.data(),
                           out.tensors[0].second.data()};
    st = b.forward_inference(bp, a);
    rep.seconds_backend = seconds_since(t0);
    if (st.ok()) judge("y", ref.y, B.y);
    main_output = "y";
  } else {
    out.tensors.emplace_back("dx", output_tensor(p_.dtype, E));
    if (p_.affine) {
      out.tensors.emplace_back("dgamma", output_tensor(p_.pdtype, C));
      out.tensors.emplace_back("dbeta", output_tensor(p_.pdtype, C));
    }
    auto& T = out.tensors;
    BackwardArgs a{d.x.data(), d.dy.data(), d.gamma.data(), d.save_mean.data(), d.save_stat.data(),
                   T[0].second.data(), p_.affine ? T[1].second.data() : nullptr,
                   p_.affine ? T[2].second.data() : nullptr};
    st = b.backward(bp, a);
    rep.seconds_backend = seconds_since(t0);
    if (st.ok()) {
      judge("dx", ref.dx, B.dx);
      if (p_.affine) {
        judge("dgamma", ref.dgamma, B.dgamma);
        judge("dbeta", ref.dbeta, B.dbeta);
      }
    }
    main_output = "dx";
  }
  if (!st.ok()) {
    rep.verdict = verdict_of(st);
    rep.message = st.message.empty() ? "backend returned an error" : st.message;
  } else {
    rep.verdict = decide(rep.tensors, main_output, &rep.message);
  }
  if (outputs) *outputs = std::move(out);
  return rep;
}

// ---- saving ----------------------------------------------------------------------

namespace {

bool write_npy_raw(const std::string& path, const char* descr, const std::vector<int64_t>& shape,
                   const void* data, size_t bytes) {
  std::string sh = "(";
  for (size_t i = 0; i < shape.size(); ++i) sh += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  sh += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + sh + ", }";
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) return false;
  const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  f.write(reinterpret_cast<const char*>(magic), 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  f.put(static_cast<char>(len & 0xFF));
  f.put(static_cast<char>(len >> 8));
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  return static_cast<bool>(f);
}

const char* npy_descr(Dtype dt) {
  switch (dt) {
    case Dtype::f64: return "<f8";
    case Dtype::f32: return "<f4";
    case Dtype::f16: return "<f2";
    case Dtype::bf16: return "<f4";   // numpy has no bf16: widened exactly
  }
  return "<f4";
}

bool write_npy_bits(const std::string& path, Dtype dt, size_t n, const std::vector<int64_t>& shape,
                    uint64_t (*bits_at)(const void*, size_t), const void* ctx) {
  if (dt == Dtype::bf16) {
    std::vector<float> w(n);
    for (size_t i = 0; i < n; ++i) w[i] = static_cast<float>(bits_to_double(bits_at(ctx, i), dt));
    return write_npy_raw(path, "<f4", shape, w.data(), n * 4);
  }
  const size_t b = static_cast<size_t>(format_info(dt).bytes);
  std::vector<unsigned char> raw(n * b);
  for (size_t i = 0; i < n; ++i) store_bits(raw.data(), dt, i, bits_at(ctx, i));
  return write_npy_raw(path, npy_descr(dt), shape, raw.data(), raw.size());
}

}  // namespace

bool write_npy(const std::string& path, const Tensor& t, const std::vector<int64_t>& shape) {
  return write_npy_bits(path, t.dtype(), t.size(), shape,
                        [](const void* ctx, size_t i) { return static_cast<const Tensor*>(ctx)->bits(i); }, &t);
}

bool write_npy(const std::string& path, const RefTensor& t, const std::vector<int64_t>& shape) {
  return write_npy_bits(path, t.dtype, t.size(), shape,
                        [](const void* ctx, size_t i) { return static_cast<const RefTensor*>(ctx)->rounded[i]; }, &t);
}

std::string save_case(const std::string& dir, CaseRunner& runner, const CaseReport& report,
                      const CaseOutputs& outputs, const std::string& repro) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return "cannot create " + dir + ": " + ec.message();
  const Problem& p = runner.problem();
  const CaseData& d = runner.data_for(report.conv);
  const std::vector<int64_t> ds = data_shape(p), cs{p.c};
  bool ok = true;
  std::vector<std::string> files;
  auto in = [&](const char* name, const Tensor& t, const std::vector<int64_t>& shape) {
    if (t.empty()) return;
    ok &= write_npy(dir + "/" + name + ".npy", t, shape);
    files.push_back(std::string(name) + ".npy");
  };
  in("x", d.x, ds);
  in("dy", d.dy, ds);
  in("gamma", d.gamma, cs);
  in("beta", d.beta, cs);
  in("running_mean_in", d.running_mean, cs);
  in("running_var_in", d.running_var, cs);
  in("save_mean_in", d.save_mean, cs);
  in("save_stat_in", d.save_stat, cs);
  const Reference& ref = runner.reference(report.conv);
  const std::pair<const char*, const RefTensor*> refs[] = {
      {"y", &ref.y}, {"save_mean", &ref.save_mean}, {"save_stat", &ref.save_stat},
      {"running_mean", &ref.running_mean}, {"running_var", &ref.running_var},
      {"dx", &ref.dx}, {"dgamma", &ref.dgamma}, {"dbeta", &ref.dbeta}};
  for (const auto& [name, t] : refs) {
    if (t->empty() || !outputs.find(name)) continue;
    const bool per_elem = std::string(name) == "y" || std::string(name) == "dx";
    ok &= write_npy(dir + "/ref_" + name + ".npy", *t, per_elem ? ds : cs);
    ok &= write_npy(dir + "/impl_" + name + ".npy", *outputs.find(name), per_elem ? ds : cs);
    files.push_back(std::string("ref_") + name + ".npy");
    files.push_back(std::string("impl_") + name + ".npy");
  }
  json::Writer j;
  j.begin_object();
  j.key("problem").value(to_string(p));
  j.key("backend").value(report.backend);
  j.key("conventions").value(to_string(report.conv));
  j.key("verdict").value(to_string(report.verdict));
  j.key("message").value(report.message);
  j.key("layout").value(p.layout == Layout::channels_first ? "N,C,spatial..." : "N,spatial...,C");
  j.key("dtype").value(dtype_name(p.dtype));
  j.key("pdtype").value(dtype_name(p.pdtype));
  j.key("note").value("bf16 tensors are stored widened (exactly) to f32; ref_* are correctly rounded");
  j.key("repro").value(repro);
  j.key("files").begin_array();
  for (const auto& f : files) j.value(f);
  j.end_array();
  j.end_object();
  std::ofstream f(dir + "/case.json");
  f << j.str() << "\n";
  ok &= static_cast<bool>(f);
  return ok ? "" : "failed to write some files under " + dir;
}

}  // namespace bncheck
