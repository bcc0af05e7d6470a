// Properties of the statistics: zero mean and unit variance of the output, and the
// cancellation of the dmu term in the backward (docs/error-model.md, "Property budgets").
#include "properties/support.hpp"

namespace bncheck::props::detail {

// ---- 1. zero mean, unit variance ---------------------------------------------------
Result zero_mean_unit_variance(Backend* b, const Problem& p0, uint64_t) {
  Problem p = p0;
  p.dir = Direction::fwd_train;
  const CaseData d = make_case_data(p);
  if (poisoned(p, d.x)) return Result::skip("non-finite data");
  const Eval e = evaluate(b, p, d);
  Result r;
  if (failed_to_run(e, &r)) return r;
  for (int64_t c = 0; c < p.c; ++c) {
    const auto st = exact_stats(p, e.p.conv, d.x, c);
    if (degenerate(st, p.eps)) continue;
    const Real g(p.affine ? d.gamma.get(c) : 1.0), be(p.affine ? d.beta.get(c) : 0.0);
    const auto idx = channel_indices(p, c);
    const Real M(static_cast<double>(idx.size()));
    Real sum = 0;
    double tsum = 0, t2 = 0;
    for (size_t i : idx) {
      sum += e.at("y", i);
      tsum += e.tol.at("y")[i];
      t2 += e.tol.at("y")[i] * e.tol.at("y")[i];
    }
    const Real mean = sum / M;
    Real var = 0;
    for (size_t i : idx) var += (e.at("y", i) - mean) * (e.at("y", i) - mean);
    var /= M;
    const Real want_var = g * g * st.var / (st.var + Real(p.eps));
    const double tm = tsum / to_d(M), rms2 = t2 / to_d(M);
    const double tv = 2 * std::sqrt(to_d(want_var) * rms2) + rms2;
    if (!(to_d(abs(mean - be)) <= tm))
      return fail("channel " + std::to_string(c) + ": mean of y " + fmt(to_d(mean)) + ", want beta " + fmt(to_d(be)) +
                  " (tolerance " + fmt(tm) + ")");
    if (!(to_d(abs(var - want_var)) <= tv))
      return fail("channel " + std::to_string(c) + ": variance of y " + fmt(to_d(var)) +
                  ", want gamma^2 var/(var+eps) " + fmt(to_d(want_var)) + " (tolerance " + fmt(tv) + ")");
  }
  return r;
}

// ---- 2. the dmu term cancels: sum dx = 0, sum dx xhat exact --------------------------
Result dmu_cancellation(Backend* b, const Problem& p0, uint64_t) {
  Problem p = p0;
  p.dir = Direction::bwd;
  const CaseData d = make_case_data(p);
  if (poisoned(p, d.x)) return Result::skip("non-finite data");
  if (!b) {
    const double disc = full_chain_backward_discrepancy(p, p.conv, d);
    if (!(disc <= 0x1p-200))
      return fail("full chain rule and simplified backward differ by " + fmt(disc) + " (relative) at 256 bits");
  }
  const Eval e = evaluate(b, p, d);
  Result r;
  if (failed_to_run(e, &r)) return r;
  for (int64_t c = 0; c < p.c; ++c) {
    const auto st = exact_stats(p, e.p.conv, d.x, c);
    if (degenerate(st, p.eps)) continue;
    const Real g(p.affine ? d.gamma.get(c) : 1.0);
    Real sdx = 0, sdxx = 0, dgamma = 0;
    double t1 = 0, t2 = 0;
    for (size_t i : channel_indices(p, c)) {
      const Real xh = ref::xhat(Real(d.x.get(i)), st);
      dgamma += Real(d.dy.get(i)) * xh;
      sdx += e.at("dx", i);
      sdxx += e.at("dx", i) * xh;
      t1 += e.tol.at("dx")[i];
      t2 += e.tol.at("dx")[i] * std::fabs(to_d(xh));
    }
    const Real want = g * st.invstd * dgamma * Real(p.eps) / (st.var + Real(p.eps));
    if (!(to_d(abs(sdx)) <= t1))
      return fail("channel " + std::to_string(c) + ": sum dx = " + fmt(to_d(sdx)) + " (tolerance " + fmt(t1) + ")");
    if (!(to_d(abs(sdxx - want)) <= t2))
      return fail("channel " + std::to_string(c) + ": sum dx*xhat = " + fmt(to_d(sdxx)) + ", want " + fmt(to_d(want)) +
                  " (tolerance " + fmt(t2) + ")");
  }
  return r;
}

}  // namespace bncheck::props::detail
