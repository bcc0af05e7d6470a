// The reference's forward directions: inference from the running statistics, and one
// channel of training (y, running statistics) from its exact statistics.
#pragma once

#include "reference/ref_common.hpp"

namespace bncheck::ref {

// Inference, element i of channel c, of value xv (r = 1/sqrt(rv + eps), r_inf when
// rv + eps = 0).
template <class Real>
void inference_element(const Problem& p, double xv, size_t i, double g, double b, double rm, double rv, const Real& r,
                       bool r_inf, Reference& R) {
  if (!std::isfinite(xv) || r_inf || !std::isfinite(rm) || !std::isfinite(rv)) {
    // Special values: plain IEEE evaluation gives the special result; its kind
    // (NaN or +-Inf) depends on the form (folded or not) when r is infinite.
    const double rr = r_inf ? HUGE_VAL : 1.0 / std::sqrt(rv + p.eps);
    put_double(R.y, i, g * ((xv - rm) * rr) + b);
    if (r_inf && !std::isfinite(R.y.hi[i])) R.y.mark(i, RefTensor::kAnyNonFinite);
  } else {
    put(R.y, i, Real(g) * ((Real(xv) - Real(rm)) * r) + Real(b));
  }
}

// Inference's inverse std of channel c, and whether it is infinite (rv + eps = 0).
template <class Real>
Real inference_invstd(const Problem& p, const CaseData& d, int64_t c, bool* r_inf) {
  using std::sqrt;
  const Real denom = Real(d.running_var.get(c)) + Real(p.eps);
  *r_inf = denom == 0;
  return *r_inf ? Real(0) : Real(1) / sqrt(denom);
}

// Inference's ChannelRef for channel c.
template <class Real>
void inference_channel_ref(const CaseData& d, int64_t c, const Real& r, bool r_inf, Reference& R) {
  using std::sqrt;
  const double rm = d.running_mean.get(c), rv = d.running_var.get(c);
  ChannelRef& cr = R.channel[c];
  cr.mean = rm;
  cr.var = rv;
  cr.invstd = r_inf ? HUGE_VAL : to_double(r);
  if (std::isfinite(rm) && std::isfinite(rv) && rv >= 0)
    set_scaled(cr, Real(rm), Real(rv), Real(sqrt(Real(rm) * Real(rm) + Real(rv))), r_inf ? Real(HUGE_VAL) : r);
}

template <class Real>
void inference_channel(const Problem& p, const CaseData& d, int64_t c, Reference& R) {
  const int64_t N = p.n, S = p.spatial_size();
  bool r_inf = false;
  const Real r = inference_invstd<Real>(p, d, c, &r_inf);
  inference_channel_ref(d, c, r, r_inf, R);
  const double g = gamma_of(p, d, c), b = beta_of(p, d, c), rm = d.running_mean.get(c), rv = d.running_var.get(c);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t s = 0; s < S; ++s) {
      const size_t i = static_cast<size_t>(p.index(n, c, s));
      inference_element(p, d.x.get(i), i, g, b, rm, rv, r, r_inf, R);
    }
}

// The running statistics of channel c from its exact statistics. M = 1 with the
// unbiased convention: 0/0 = NaN, or the biased variance where the backend declares it.
template <class Real>
void running_statistics(const Problem& p, const Conventions& conv, const CaseData& d, int64_t c, const Stats<Real>& st,
                        Reference& R) {
  const int64_t M = p.reduction_size();
  Real var_stat = st.var;
  bool var_nan = false;
  if (conv.running_var == RunningVar::unbiased) {
    if (M == 1)
      var_nan = !conv.single_element_biased;
    else
      var_stat = st.var * Real(static_cast<double>(M)) / Real(static_cast<double>(M - 1));
  }
  const Real m(p.momentum);
  const Real w_new = conv.momentum_dir == MomentumDir::new_stat ? m : Real(1) - m;
  const Real w_old = Real(1) - w_new;
  const double rm0 = d.running_mean.get(c), rv0 = d.running_var.get(c);
  if (std::isfinite(rm0))
    put(R.running_mean, c, w_old * Real(rm0) + w_new * st.mean);
  else
    put_double(R.running_mean, c, to_double(w_old) * rm0 + to_double(w_new) * R.channel[c].mean);
  if (var_nan) {
    put_double(R.running_var, c, std::numeric_limits<double>::quiet_NaN());
  } else if (!std::isfinite(rv0)) {
    put_double(R.running_var, c, to_double(w_old) * rv0 + to_double(Real(w_new * var_stat)));
    // 0 * var in an implementation's type is NaN when var overflowed there.
    if (!std::isfinite(R.running_var.hi[c])) R.running_var.mark(c, RefTensor::kAnyNonFinite);
  } else {
    put(R.running_var, c, w_old * Real(rv0) + w_new * var_stat);
  }
}

// Training, one finite channel: y and the running statistics. singular: no value of y
// is wrong (see compute_channel_statistics).
template <class Real>
void forward_training_channel(const Problem& p, const Conventions& conv, const CaseData& d, int64_t c,
                              const ChannelInput<Real>& in, const Stats<Real>& st, bool singular, Reference& R) {
  const double g = gamma_of(p, d, c), b = beta_of(p, d, c);
  for (size_t k = 0; k < in.idx.size(); ++k) {
    const Real xh = xhat(in.xs[k], st);
    put(R.y, in.idx[k], Real(g) * xh + Real(b));
    if (singular) R.y.mark(in.idx[k], RefTensor::kAnyValue);
  }
  running_statistics(p, conv, d, c, st, R);
}

}  // namespace bncheck::ref
