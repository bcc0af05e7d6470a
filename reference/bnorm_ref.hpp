// Batch normalization at arbitrary precision, templated on the real type.
// Definitions (per channel, over the M = N * spatial elements):
//   mu = sum x / M,  var = sum (x - mu)^2 / M,  r = 1 / sqrt(var + eps)
//   xhat = (x - mu) r,  y = gamma xhat + beta
//   running: r <- (1-m) r + m s (momdir=new) or m r + (1-m) s (old), the variance
//            statistic s = var * M/(M-1) (rvar=unbiased) or var (biased)
//   inference: y = gamma (x - rm) / sqrt(rv + eps) + beta
//   backward: dbeta = sum dy, dgamma = sum dy xhat,
//             dx = gamma r / M (M dy - dbeta - xhat dgamma)
// Each result is computed in Real and rounded once to its output dtype.
//
// Special values (IEEE semantics, confined to the channel):
//   * a non-finite x in training: var is NaN (x - mu is Inf - Inf or NaN), so y, the
//     saved inverse std and the running variance are NaN; the saved and running means
//     are non-finite (+-Inf as a sum, NaN through Welford's updates: either accepted);
//   * in backward, a non-finite x makes dgamma and dx NaN while dbeta = sum dy stays;
//     a non-finite dy makes dbeta and dgamma their IEEE sums and dx non-finite, of a
//     kind (NaN or +-Inf) that depends on the evaluation order: any is accepted;
//   * in inference each element is independent: it follows IEEE double arithmetic
//     on its own inputs (a non-finite x gives +-Inf or NaN);
//   * var + eps = 0 gives r = +Inf: xhat is NaN where x = mu and +-Inf elsewhere
//     (or r = 0, xhat = 0 under the declared convention zero_var_invstd_is_zero);
//   * M = 1 with rvar=unbiased: var * M / (M-1) is 0/0 = NaN (PyTorch's CPU kernel
//     gives the same); bncheck declares this NaN the policy for every backend.
//
// One file per direction: ref_forward.hpp (inference, training), ref_backward.hpp,
// ref_special.hpp (channels holding non-finite values); what they share is
// ref_common.hpp. compute() below runs the statistics once per channel and dispatches.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "reference/ref_backward.hpp"
#include "reference/ref_common.hpp"
#include "reference/ref_forward.hpp"
#include "reference/ref_special.hpp"

namespace bncheck::ref {

// A finite channel's exact statistics: the ChannelRef summary the error model reads,
// and the saved mean and statistic. Returns whether the channel is singular: var + eps
// = 0 under IEEE semantics, or, in backward, statistics that overflow the parameter
// dtype, so that the backend is handed an infinity: then no value is wrong.
// mean_sq: sum x^2 / M = mean^2 + var (rounded once from exact sums, like the statistics).
template <class Real>
bool record_channel_statistics(const Problem& p, const Conventions& conv, int64_t c, const Stats<Real>& st,
                               const Real& sum_abs_x, const Real& mean_sq, Reference& R) {
  using std::sqrt;
  ChannelRef& cr = R.channel[c];
  cr.mean = to_double(st.mean);
  cr.var = to_double(st.var);
  cr.invstd = st.invstd_inf ? HUGE_VAL : to_double(st.invstd);
  const Real rms = sqrt(mean_sq);
  cr.rms = to_double(rms);
  set_scaled(cr, st.mean, st.var, rms, st.invstd_inf ? Real(HUGE_VAL) : st.invstd);
  cr.sum_abs_x = to_double(sum_abs_x);
  put(R.save_mean, c, st.mean);
  if (conv.saved == SavedStat::invstd)
    put(R.save_stat, c, invstd_or_inf(st));
  else
    put(R.save_stat, c, st.var);
  const bool singular =
      st.invstd_inf || (p.dir == Direction::bwd &&
                        (!std::isfinite(R.save_mean.rounded_value(c)) ||
                         (conv.saved == SavedStat::variance && !std::isfinite(R.save_stat.rounded_value(c)))));
  if (singular && conv.saved == SavedStat::invstd) R.save_stat.mark(c, RefTensor::kAnyValue);
  return singular;
}

template <class Real>
bool compute_channel_statistics(const Problem& p, const Conventions& conv, int64_t c, const ChannelInput<Real>& in,
                                Stats<Real>& st, Reference& R) {
  using std::abs;
  st = channel_stats(in.xs, p.eps, conv);
  Real sabs = 0, sq = 0;
  for (const Real& v : in.xs) {
    sabs += abs(v);
    sq += v * v;
  }
  return record_channel_statistics(p, conv, c, st, sabs, Real(sq / Real(static_cast<double>(in.xs.size()))), R);
}

// Reference::init for the outputs of p's direction.
inline void init_outputs(const Problem& p, Reference& R) {
  const int64_t C = p.c;
  const size_t E = static_cast<size_t>(p.elements());
  const Dtype pd = p.pdtype;
  const bool elementwise_lo = p.dtype == Dtype::f64;  // RefTensor::lo
  R.channel.resize(static_cast<size_t>(C));
  if (p.dir == Direction::fwd_infer) {
    init(R.y, p.dtype, E, elementwise_lo);
    return;
  }
  init(R.save_mean, pd, C);
  init(R.save_stat, pd, C);
  if (p.dir == Direction::fwd_train) {
    init(R.y, p.dtype, E, elementwise_lo);
    init(R.running_mean, pd, C);
    init(R.running_var, pd, C);
  } else {
    init(R.dx, p.dtype, E, elementwise_lo);
    if (p.affine) {
      init(R.dgamma, pd, C);
      init(R.dbeta, pd, C);
    }
  }
}

// One channel at Real precision throughout (the slow path; the fast path's fallback).
template <class Real>
void compute_channel(const Problem& p, const Conventions& conv, const CaseData& d, int64_t c, Reference& R) {
  ChannelInput<Real> in;
  gather_channel(p, d, c, in);
  R.channel[c].poisoned = in.poisoned;
  if (in.poisoned) {
    poisoned_channel(p, conv, d, c, in, R);
    return;
  }
  Stats<Real> st;
  const bool singular = compute_channel_statistics(p, conv, c, in, st, R);
  if (p.dir == Direction::fwd_train)
    forward_training_channel(p, conv, d, c, in, st, singular, R);
  else
    backward_channel(p, d, c, in, st, singular, R);
}

template <class Real>
Reference compute(const Problem& given, const Conventions& conv, const CaseData& d) {
  Problem p = given;
  p.eps = effective_eps(given.eps, conv);  // a backend's float epsilon, when declared
  Reference R;
  init_outputs(p, R);
  for (int64_t c = 0; c < p.c; ++c) {
    if (p.dir == Direction::fwd_infer)
      inference_channel<Real>(p, d, c, R);
    else
      compute_channel<Real>(p, conv, d, c, R);
  }
  R.path.channels_slow = static_cast<uint64_t>(p.c);
  R.path.elements_slow = static_cast<uint64_t>(p.elements());
  return R;
}

// The backward as the textbook chain rule writes it (Ioffe & Szegedy 2015, Alg. 1's
// derivatives), term by term, without the simplification that drops the dmu term.
template <class Real>
std::vector<Real> full_chain_dx(const std::vector<Real>& x, const std::vector<Real>& dy, Real gamma, double eps) {
  using std::sqrt;
  const size_t M = x.size();
  const Real Mr(static_cast<double>(M));
  Real mu = 0;
  for (const Real& v : x) mu += v;
  mu /= Mr;
  Real var = 0;
  for (const Real& v : x) var += (v - mu) * (v - mu);
  var /= Mr;
  const Real ve = var + Real(eps);
  const Real inv = Real(1) / sqrt(ve);
  // dl/dxhat_i = dy_i * gamma
  // dl/dvar = sum dl/dxhat_i (x_i - mu) * (-1/2) (var + eps)^(-3/2)
  // dl/dmu  = sum dl/dxhat_i * (-1/sqrt(var + eps)) + dl/dvar * sum(-2 (x_i - mu)) / M
  // dl/dx_i = dl/dxhat_i / sqrt(var + eps) + dl/dvar * 2 (x_i - mu) / M + dl/dmu / M
  Real dvar = 0, dmu_a = 0, sum_dev = 0;
  for (size_t i = 0; i < M; ++i) {
    const Real dxh = dy[i] * gamma;
    dvar += dxh * (x[i] - mu) * Real(-0.5) * inv * inv * inv;
    dmu_a += dxh * (-inv);
    sum_dev += Real(-2) * (x[i] - mu);
  }
  const Real dmu = dmu_a + dvar * sum_dev / Mr;
  std::vector<Real> dx(M);
  for (size_t i = 0; i < M; ++i) dx[i] = dy[i] * gamma * inv + dvar * Real(2) * (x[i] - mu) / Mr + dmu / Mr;
  return dx;
}

// Simplified: gamma r / M (M dy - dbeta - xhat dgamma).
template <class Real>
std::vector<Real> simplified_dx(const std::vector<Real>& x, const std::vector<Real>& dy, Real gamma, double eps) {
  Conventions conv;
  const Stats<Real> st = channel_stats(x, eps, conv);
  const Real Mr(static_cast<double>(x.size()));
  Real db = 0, dg = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    db += dy[i];
    dg += dy[i] * xhat(x[i], st);
  }
  std::vector<Real> dx(x.size());
  for (size_t i = 0; i < x.size(); ++i) dx[i] = gamma * st.invstd / Mr * (Mr * dy[i] - db - xhat(x[i], st) * dg);
  return dx;
}

template <class Real>
std::vector<Real> channel_values(const Problem& p, const Tensor& t, int64_t c, std::vector<size_t>* idx) {
  std::vector<Real> v;
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t s = 0; s < p.spatial_size(); ++s) {
      const size_t i = static_cast<size_t>(p.index(n, c, s));
      if (idx) idx->push_back(i);
      v.push_back(Real(t.get(i)));
    }
  return v;
}

}  // namespace bncheck::ref
