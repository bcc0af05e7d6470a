#include "harness/runner.hpp"
#include "harness/split.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

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
  if (t.size()) std::memcpy(c.data(), t.data(), t.size() * static_cast<size_t>(format_info(t.dtype()).bytes));
  return c;
}

// A forward's outputs in out (y; in training the saved statistics and the running
// statistics, these copied from d) and the backend's call that fills them.
Status call_forward(Backend& b, const Problem& bp, const CaseData& d, CaseOutputs& out) {
  const size_t E = static_cast<size_t>(bp.elements()), C = static_cast<size_t>(bp.c);
  out.tensors.emplace_back("y", output_tensor(bp.dtype, E));
  if (bp.dir == Direction::fwd_infer) {
    ForwardInferenceArgs a{d.x.data(),           d.gamma.data(),
                           d.beta.data(),        d.running_mean.data(),
                           d.running_var.data(), out.tensors[0].second.data()};
    return b.forward_inference(bp, a);
  }
  out.tensors.emplace_back("save_mean", output_tensor(bp.pdtype, C));
  out.tensors.emplace_back("save_stat", output_tensor(bp.pdtype, C));
  out.tensors.emplace_back("running_mean", copy_of(d.running_mean));
  out.tensors.emplace_back("running_var", copy_of(d.running_var));
  auto& T = out.tensors;
  ForwardTrainingArgs a{d.x.data(),         d.gamma.data(),     d.beta.data(),      T[0].second.data(),
                        T[1].second.data(), T[2].second.data(), T[3].second.data(), T[4].second.data()};
  return bp.split.empty() ? b.forward_training(bp, a) : split_forward_training(b, bp, a);
}

std::atomic<int64_t> g_stream_above{int64_t{1} << 27}, g_stream_part{int64_t{1} << 22};

}  // namespace

bool checked_streamed(const Problem& p) { return p.dir != Direction::bwd && p.elements() > g_stream_above; }
int64_t streamed_rows(const Problem& p) {
  const int64_t row = std::max<int64_t>(1, p.c * p.spatial_size());
  return std::max<int64_t>(1, g_stream_part / row);
}
void set_streaming(int64_t above_elements, int64_t part_elements) {
  g_stream_above = std::max<int64_t>(0, above_elements);
  g_stream_part = std::max<int64_t>(1, part_elements);
}

const Tensor* CaseOutputs::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

CaseRunner::CaseRunner(const Problem& p) : impl_(std::make_unique<Impl>(p, make_case_data(p, reference_threads()))) {}
CaseRunner::CaseRunner(const Problem& p, CaseData data) : impl_(std::make_unique<Impl>(p, std::move(data))) {}
CaseRunner::~CaseRunner() = default;
CaseRunner::CaseRunner(CaseRunner&&) noexcept = default;
CaseRunner& CaseRunner::operator=(CaseRunner&&) noexcept = default;
const Problem& CaseRunner::problem() const { return impl_->problem(); }
const CaseData& CaseRunner::data() const { return impl_->data(); }
CaseReport CaseRunner::run(Backend& b, CaseOutputs* outputs) { return impl_->run(b, outputs); }

// A backward receives the saved statistics rounded to the parameter dtype. Where that
// rounding overflows while the exact statistic is finite (the inverse std of a channel
// of tiny variance exceeds f16's range, found by the libFuzzer target: f16 data near
// 2^-20, eps = 0), the backward's inputs say nothing usable about the channel: an
// honest backend returns NaN for its dx and dgamma. Every value is defensible there
// (and counts as degenerate: a case made of such channels is MISTRUSTED, never a FAIL
// or a PASS). dbeta = sum dy does not depend on the statistics and stays judged.
void CaseRunner::Impl::mark_unjudgeable_channels(Reference& ref, const CaseData& d) const {
  const int64_t S = p_.spatial_size();
  for (int64_t c = 0; c < p_.c; ++c) {
    const bool handed_finite = std::isfinite(d.save_mean.get(c)) && std::isfinite(d.save_stat.get(c));
    const bool exact_finite = std::isfinite(ref.save_mean.hi[c]) && std::isfinite(ref.save_stat.hi[c]);
    if (handed_finite || !exact_finite) continue;
    for (int64_t n = 0; n < p_.n; ++n)
      for (int64_t s = 0; s < S; ++s) ref.dx.mark(static_cast<size_t>(p_.index(n, c, s)), RefTensor::kAnyValue);
    if (!ref.dgamma.empty()) ref.dgamma.mark(static_cast<size_t>(c), RefTensor::kAnyValue);
  }
}

CaseRunner::Impl::PerConvention& CaseRunner::Impl::get(const Conventions& conv) {
  for (auto& [c, pc] : cache_)
    if (c == conv) return *pc;
  auto pc = std::make_unique<PerConvention>();
  const auto t0 = std::chrono::steady_clock::now();
  if (checked_streamed(p_)) {  // the statistics now, y part by part after the backend's call
    pc->rows = std::make_unique<RowReference>(p_, conv, data_, streamed_rows(p_));
    pc->seconds = seconds_since(t0);
    cache_.emplace_back(conv, std::move(pc));
    return *cache_.back().second;
  }
  pc->ref = compute_reference_selected(p_, conv, data_);
  pc->seconds = seconds_since(t0);
  pc->data.x = copy_of(data_.x);
  if (!data_.gamma.empty()) {
    pc->data.gamma = copy_of(data_.gamma);
    pc->data.beta = copy_of(data_.beta);
  }
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
      pc->data.save_mean.set_bits(c, pc->ref.save_mean.rounded[static_cast<size_t>(c)]);
      pc->data.save_stat.set_bits(c, pc->ref.save_stat.rounded[static_cast<size_t>(c)]);
    }
    mark_unjudgeable_channels(pc->ref, pc->data);
  }
  cache_.emplace_back(conv, std::move(pc));
  return *cache_.back().second;
}

const Reference& CaseRunner::Impl::reference(const Conventions& conv) { return get(conv).ref; }

void CaseRunner::Impl::prepare_budget(const Problem& bp, const Numerics& nx) {
  PerConvention& pc = get(bp.conv);
  if (pc.rows) return;
  for (const auto& e : pc.budgets)
    if (e.first == nx) return;
  pc.budgets.emplace_back(nx, std::make_unique<Budget>(compute_budget(bp, bp.conv, nx, pc.data, pc.ref)));
}
const CaseData& CaseRunner::Impl::data_for(const Conventions& conv) {
  PerConvention& pc = get(conv);
  return pc.rows ? data_ : pc.data;  // a streamed check (forward) hands the case's own inputs
}

CaseReport CaseRunner::Impl::run(Backend& b, CaseOutputs* outputs) {
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

int distinct_conventions(const std::vector<Backend*>& backends, const Problem& p) {
  std::vector<Conventions> seen;
  for (const Backend* b : backends) {
    const Conventions cv = b->conventions(p);
    if (std::find(seen.begin(), seen.end(), cv) == seen.end()) seen.push_back(cv);
  }
  return static_cast<int>(seen.size());
}

std::string backend_repro_options(const Backend& b) {
  std::string s;
  for (const auto& w : b.repro_options()) s += " " + shell_word(w);
  return s;
}

std::string repro_line(const std::string& argv0, const Backend& b, const Problem& p) {
  return shell_word(argv0) + " run" + backend_repro_options(b) + " --backend " + shell_word(b.name()) + " --problem " +
         shell_quote(to_string(p));
}

CaseReport CaseRunner::Impl::run_unguarded(Backend& b, CaseOutputs* outputs) {
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
  const Support split_sup = split_support(b, p_);
  if (!sup.supported || !split_sup.supported) {
    rep.verdict = Verdict::unsupported;
    rep.message = sup.supported ? split_sup.reason : sup.reason;
    return rep;
  }
  Problem bp = p_;
  bp.conv = b.conventions(p_);
  rep.conv = bp.conv;
  PerConvention& pc = get(bp.conv);
  rep.seconds_reference = pc.seconds;
  if (pc.rows) return run_streamed(b, bp, pc, outputs, rep);
  rep.reference_slow_elements = pc.ref.path.elements_slow;
  rep.reference_elements = pc.ref.path.elements_slow + pc.ref.path.elements_fast;
  const CaseData& d = pc.data;
  const Reference& ref = pc.ref;
  const Numerics nx = case_numerics(b, bp);
  Budget B;
  auto ready = std::find_if(pc.budgets.begin(), pc.budgets.end(), [&](const auto& e) { return e.first == nx; });
  if (ready != pc.budgets.end()) {
    B = std::move(*ready->second);
    pc.budgets.erase(ready);
  } else {
    B = compute_budget(bp, bp.conv, nx, d, ref);
  }

  const size_t E = static_cast<size_t>(p_.elements()), C = static_cast<size_t>(p_.c);
  CaseOutputs out;
  Status st;
  std::string main_output;
  const auto t0 = std::chrono::steady_clock::now();
  auto judge = [&](const std::string& name, const RefTensor& r, const std::vector<double>& budget) {
    rep.tensors.push_back(compare_tensor(name, r, *out.find(name), budget));
  };
  if (p_.dir != Direction::bwd) {
    st = call_forward(b, bp, d, out);
    rep.seconds_backend = seconds_since(t0);
    if (st.ok()) {
      judge("y", ref.y, B.y);
      if (p_.dir == Direction::fwd_train) {
        judge("save_mean", ref.save_mean, B.save_mean);
        judge("save_stat", ref.save_stat, B.save_stat);
        if (bp.conv.keeps_running) {
          judge("running_mean", ref.running_mean, B.running_mean);
          judge("running_var", ref.running_var, B.running_var);
        }
      }
    }
    main_output = "y";
  } else {
    out.tensors.emplace_back("dx", output_tensor(p_.dtype, E));
    if (p_.affine) {
      out.tensors.emplace_back("dgamma", output_tensor(p_.pdtype, C));
      out.tensors.emplace_back("dbeta", output_tensor(p_.pdtype, C));
    }
    auto& T = out.tensors;
    BackwardArgs a{d.x.data(),
                   d.dy.data(),
                   d.gamma.data(),
                   d.save_mean.data(),
                   d.save_stat.data(),
                   T[0].second.data(),
                   p_.affine ? T[1].second.data() : nullptr,
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

}  // namespace bncheck

namespace bncheck {

// A forward too large for the whole-tensor reference: the backend runs on the whole
// tensors; then, part by part (streamed_rows rows), the reference of those rows, their
// budgets and their comparison, merged into one report on y (TensorComparison). The
// per-channel outputs are judged whole, from the first part's reference.
CaseReport CaseRunner::Impl::run_streamed(Backend& b, const Problem& bp, PerConvention& pc, CaseOutputs* outputs,
                                          CaseReport& rep) {
  const size_t E = static_cast<size_t>(p_.elements());
  const CaseData& d = data_;
  CaseOutputs out;
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = call_forward(b, bp, d, out);
  rep.seconds_backend = seconds_since(t0);
  if (!st.ok()) {
    rep.verdict = verdict_of(st);
    rep.message = st.message.empty() ? "backend returned an error" : st.message;
    if (outputs) *outputs = std::move(out);
    return rep;
  }
  const Numerics nx = case_numerics(b, bp);
  TensorComparison y("y", *out.find("y"), p_.dtype, E);
  std::vector<TensorReport> channels;
  const int64_t rows = streamed_rows(p_);
  try {
    for (int64_t n0 = 0; n0 < p_.n; n0 += rows) {
      const int64_t n1 = std::min(p_.n, n0 + rows);
      const auto t1 = std::chrono::steady_clock::now();
      const Reference part = pc.rows->rows(n0, n1);
      rep.seconds_reference += seconds_since(t1);
      rep.reference_slow_elements += part.path.elements_slow;
      rep.reference_elements += part.path.elements_slow + part.path.elements_fast;
      const Budget B = compute_budget(bp, bp.conv, nx, d, part, true, Rows{n0, n1});
      y.add(part.y, B.y);
      if (n0 == 0 && p_.dir == Direction::fwd_train) {
        auto judge = [&](const char* name, const RefTensor& r, const std::vector<double>& budget) {
          channels.push_back(compare_tensor(name, r, *out.find(name), budget));
        };
        judge("save_mean", part.save_mean, B.save_mean);
        judge("save_stat", part.save_stat, B.save_stat);
        if (bp.conv.keeps_running) {
          judge("running_mean", part.running_mean, B.running_mean);
          judge("running_var", part.running_var, B.running_var);
        }
      }
    }
  } catch (const std::runtime_error& e) {  // a channel the streamed reference does not take
    rep.verdict = Verdict::skipped;
    rep.message = std::string("not checked: ") + e.what();
    if (outputs) *outputs = std::move(out);
    return rep;
  }
  rep.tensors.push_back(y.report());
  for (TensorReport& t : channels) rep.tensors.push_back(std::move(t));
  rep.verdict = decide(rep.tensors, "y", &rep.message);
  if (outputs) *outputs = std::move(out);
  return rep;
}

}  // namespace bncheck
