// Training: running statistics, gradients against central differences, determinism.
#include "properties/support.hpp"

namespace bncheck::props::detail {

// ---- 8. running statistics ----------------------------------------------------------------------
Result running_statistics(Backend* b, const Problem& p0, uint64_t aux) {
  Result r;
  if (b && !b->conventions(p0).keeps_running) return Result::skip("the backend keeps no running statistics");
  // (a) M = 1 follows the declared policy: y = beta, the unbiased running variance is
  // 0/0 = NaN (biased: (1-m) rv), the same on every backend.
  {
    Problem q = p0;
    q.n = 1;
    q.rank = 0;
    q.spatial = {1, 1, 1};
    q.dir = Direction::fwd_train;
    const CaseData d = make_case_data(q);
    const Eval e = evaluate(b, q, d);
    if (failed_to_run(e, &r)) return r;
    if (e.has("running_var") && e.p.conv.keeps_running) {
      for (int64_t c = 0; c < q.c; ++c) {
        if (e.p.eps == 0) break;
        const double want_y = q.affine ? d.beta.get(c) : 0.0, got = e.v.at("y")[c];
        if (!(std::fabs(got - want_y) <= e.tol.at("y")[c]))
          return fail("M = 1: y = " + fmt(got) + ", want beta = " + fmt(want_y) + " (tolerance " +
                      fmt(e.tol.at("y")[c]) + ")");
        const double rv = e.v.at("running_var")[c];
        const bool unbiased = e.p.conv.running_var == RunningVar::unbiased;
        if (unbiased != std::isnan(rv))
          return fail(std::string("M = 1: running variance ") + fmt(rv) + ", the declared policy is " +
                      (unbiased ? "NaN (0/0)" : "finite"));
      }
    }
  }
  // (b) One step updates the running statistics exactly as the declared convention
  // says: r1 = (1 - w) r0 + w s, within the running-statistics budget.
  {
    Problem q = p0;
    q.dir = Direction::fwd_train;
    const CaseData d = make_case_data(q);
    if (!poisoned(q, d.x) && q.reduction_size() > 1) {
      const Eval e = evaluate(b, q, d);
      if (failed_to_run(e, &r)) return r;
      const Conventions& cv = e.p.conv;
      const Real m(q.momentum);
      const Real w = cv.momentum_dir == MomentumDir::new_stat ? m : Real(1) - m;
      const Real M(static_cast<double>(q.reduction_size()));
      for (int64_t c = 0; c < q.c; ++c) {
        const auto st = exact_stats(q, cv, d.x, c);
        const Real vstat = cv.running_var == RunningVar::unbiased ? st.var * M / (M - 1) : st.var;
        const Real want_m = (Real(1) - w) * Real(d.running_mean.get(c)) + w * st.mean;
        const Real want_v = (Real(1) - w) * Real(d.running_var.get(c)) + w * vstat;
        const double dm = to_d(abs(e.at("running_mean", c) - want_m)), dv = to_d(abs(e.at("running_var", c) - want_v));
        if (!(dm <= e.tol.at("running_mean")[c]) || !(dv <= e.tol.at("running_var")[c]))
          return fail("one step, channel " + std::to_string(c) + ": running mean " + fmt(e.v.at("running_mean")[c]) +
                      " (want " + fmt(to_d(want_m)) + "), running variance " + fmt(e.v.at("running_var")[c]) +
                      " (want " + fmt(to_d(want_v)) + ") under momdir=" + to_string(cv.momentum_dir) +
                      ", rvar=" + to_string(cv.running_var));
      }
    }
  }
  // (c) Repeated steps on batches of one population converge to its statistics.
  Problem p = p0;
  p.dir = Direction::fwd_train;
  if (p.dtype == Dtype::f16 || p.dtype == Dtype::bf16) return r;  // quantised data: other population moments
  if (p.reduction_size() < 2) return r;
  p.fill.kind = FillKind::normal;
  p.fill.spread = p.fill.spread > 0 ? p.fill.spread : 1.0;
  p.fill.mean = std::clamp(p.fill.mean, -4 * p.fill.spread, 4 * p.fill.spread);
  p.momentum = std::max(p.momentum, 0.3);
  const int T = 40;
  CaseData d = make_case_data(p);
  const Conventions conv = b ? b->conventions(p) : p.conv;
  if (!conv.keeps_running) return r;
  const double w = conv.momentum_dir == MomentumDir::new_stat ? p.momentum : 1 - p.momentum;
  if (w <= 0.05) return r;
  const CaseData first = d;
  for (int t = 0; t < T; ++t) {
    Problem q = p;
    q.seed = mix(p.seed + static_cast<uint64_t>(t) * 7919 + aux);
    CaseData step = make_case_data(q);
    step.running_mean = d.running_mean;
    step.running_var = d.running_var;
    const Eval e = evaluate(b, q, step);
    if (failed_to_run(e, &r)) return r;
    for (int64_t c = 0; c < p.c; ++c) {
      d.running_mean.set(c, e.v.at("running_mean")[c]);
      d.running_var.set(c, e.v.at("running_var")[c]);
    }
  }
  const double M = static_cast<double>(p.reduction_size());
  const double ema = std::sqrt(w / (2 - w)), decay = std::pow(1 - w, T);
  for (int64_t c = 0; c < p.c; ++c) {
    const ChannelFill f = channel_fill(p, c);
    const double mu = f.mean, s2 = f.spread * f.spread;
    const double target = conv.running_var == RunningVar::unbiased ? s2 : s2 * (M - 1) / M;
    // 6 standard deviations of the exponential moving average of batch statistics,
    // the decayed start, and 1e-5 relative for the arithmetic of 40 updates.
    const double tol_m = 6 * ema * f.spread / std::sqrt(M) + decay * std::fabs(first.running_mean.get(c) - mu) +
                         1e-5 * (std::fabs(mu) + f.spread);
    const double tol_v =
        6 * ema * s2 * std::sqrt(2 / (M - 1)) + decay * std::fabs(first.running_var.get(c) - target) + 1e-5 * s2;
    if (!(std::fabs(d.running_mean.get(c) - mu) <= tol_m))
      return fail("after " + std::to_string(T) + " steps, running mean of channel " + std::to_string(c) + " is " +
                  fmt(d.running_mean.get(c)) + ", population mean " + fmt(mu) + " (tolerance " + fmt(tol_m) + ")");
    // The variance of the moving average of sample variances is near-normal only with
    // enough samples behind it (chi-square with few degrees of freedom is skewed).
    if (M >= 64 && !(std::fabs(d.running_var.get(c) - target) <= tol_v))
      return fail("after " + std::to_string(T) + " steps, running variance of channel " + std::to_string(c) + " is " +
                  fmt(d.running_var.get(c)) + ", want " + fmt(target) + " (" + to_string(conv.running_var) +
                  " convention; tolerance " + fmt(tol_v) + ")");
  }
  return r;
}

// ---- 9. gradients against central differences ------------------------------------------------------
Result gradient_central_differences(Backend* b, const Problem& p0, uint64_t) {
  Problem p = p0;
  p.dir = Direction::bwd;
  if (p.elements() > 256) return Result::skip("large: finite differences cost O(M^2) per channel");
  const CaseData d = make_case_data(p);
  if (poisoned(p, d.x)) return Result::skip("non-finite data");
  for (int64_t c = 0; c < p.c; ++c)
    if (exact_stats(p, p.conv, d.x, c).var + Real(p.eps) == 0) return Result::skip("var + eps = 0: not differentiable");
  std::vector<double> fd, fd_lo;
  finite_difference_dx(p, d, &fd, &fd_lo);
  const Eval e = evaluate(b, p, d);
  Result r;
  if (failed_to_run(e, &r)) return r;
  double scale = 0;
  for (double g : fd) scale = std::max(scale, std::fabs(g));
  for (size_t i = 0; i < fd.size(); ++i) {
    // Central differences at 256 bits are good to ~2^-150 relative (see the reference).
    const double tol = e.tol.at("dx")[i] + 0x1p-90 * scale;
    const double diff = to_d(abs(e.at("dx", i) - Real(fd[i]) - Real(fd_lo[i])));
    if (!(diff <= tol))
      return fail("dx[" + std::to_string(i) + "] = " + fmt(e.v.at("dx")[i]) + ", central difference " + fmt(fd[i]) +
                  " (difference " + fmt(diff) + " > tolerance " + fmt(tol) + ")");
  }
  return r;
}

// ---- 10. determinism -----------------------------------------------------------------------------------
Result determinism(Backend* b, const Problem& p, uint64_t) {
  const CaseData d = make_case_data(p);
  const Eval e1 = evaluate(b, p, d), e2 = evaluate(b, p, d);
  Result r;
  if (failed_to_run(e1, &r) || failed_to_run(e2, &r)) return r;
  for (const auto& [n, v1] : e1.v) {
    const auto& v2 = e2.v.at(n);
    for (size_t i = 0; i < v1.size(); ++i)
      // Bit for bit: a NaN payload or the sign of a zero that changes run to run is
      // nondeterminism too, which a value comparison would miss.
      if (std::memcmp(&v1[i], &v2[i], sizeof(double)) != 0) {  // NOLINT(bugprone-suspicious-memory-comparison)
        r.notes.push_back("not deterministic");
        if (e1.nx.deterministic)
          return fail("declared deterministic, but " + n + "[" + std::to_string(i) + "] was " + fmt(v1[i]) + " then " +
                      fmt(v2[i]));
        return r;
      }
  }
  if (b) r.notes.push_back("deterministic");
  return r;
}

}  // namespace bncheck::props::detail
