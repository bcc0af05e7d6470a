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
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "reference/reference.hpp"

namespace bncheck::ref {

template <class Real>
void put(RefTensor& t, size_t i, const Real& v) {
  t.rounded[i] = round_to_bits(v, t.dtype);
  const double hi = bits_to_double(round_to_bits(v, Dtype::f64), Dtype::f64);
  t.hi[i] = hi;
  if (std::isfinite(hi)) {
    const Real rest = v - Real(hi);
    t.lo[i] = bits_to_double(round_to_bits(rest, Dtype::f64), Dtype::f64);
  } else {
    t.lo[i] = 0;
  }
}

inline void put_double(RefTensor& t, size_t i, double v) {   // already exact (special values)
  t.rounded[i] = round_to_bits(v, t.dtype);
  t.hi[i] = v;
  t.lo[i] = 0;
}

inline void init(RefTensor& t, Dtype dt, size_t n) {
  t.dtype = dt;
  t.rounded.assign(n, 0);
  t.hi.assign(n, 0);
  t.lo.assign(n, 0);
}

template <class Real>
Real to_real(double v) { return Real(v); }

template <class Real>
double to_double(const Real& v) { return bits_to_double(round_to_bits(v, Dtype::f64), Dtype::f64); }

// Exact statistics of one channel.
template <class Real>
struct Stats {
  Real mean, var, invstd;
  bool invstd_inf = false;
};

template <class Real>
Stats<Real> channel_stats(const std::vector<Real>& x, double eps, const Conventions& conv) {
  using std::sqrt;
  Stats<Real> s;
  const Real M(static_cast<double>(x.size()));
  Real sum = 0;
  for (const Real& v : x) sum += v;
  s.mean = sum / M;
  Real q = 0;
  for (const Real& v : x) { Real d = v - s.mean; q += d * d; }
  s.var = q / M;
  const Real denom = s.var + Real(eps);
  if (denom == 0) { s.invstd_inf = !conv.zero_var_invstd_is_zero; s.invstd = 0; }
  else s.invstd = Real(1) / sqrt(denom);
  return s;
}

// xhat for one element; IEEE semantics when r is infinite.
template <class Real>
Real xhat(const Real& x, const Stats<Real>& s) {
  if (!s.invstd_inf) return (x - s.mean) * s.invstd;
  const Real d = x - s.mean;
  if (d == 0) return Real(std::numeric_limits<double>::quiet_NaN());
  return Real(d > 0 ? HUGE_VAL : -HUGE_VAL);
}

// ChannelRef's statistics in units of 2^e, e the exponent of rms (exact scaling).
template <class Real>
void set_scaled(ChannelRef& cr, const Real& mean, const Real& var, const Real& rms, const Real& invstd) {
  using std::frexp; using std::ldexp; using std::isinf;
  int e = 0;
  if (rms > 0) (void)frexp(rms, &e);
  cr.exp2 = e;
  cr.mean_s = to_double(Real(ldexp(mean, -e)));
  cr.var_s = to_double(Real(ldexp(var, -2 * e)));
  cr.rms_s = to_double(Real(ldexp(rms, -e)));
  cr.invstd_s = isinf(invstd) ? HUGE_VAL : to_double(Real(ldexp(invstd, e)));
}

template <class Real>
Real invstd_or_inf(const Stats<Real>& s) {
  return s.invstd_inf ? Real(HUGE_VAL) : s.invstd;
}

template <class Real>
Reference compute(const Problem& p, const Conventions& conv, const CaseData& d) {
  using std::sqrt; using std::abs;
  Reference R;
  const int64_t C = p.c, N = p.n, S = p.spatial_size(), M = N * S;
  const size_t E = static_cast<size_t>(p.elements());
  R.channel.resize(static_cast<size_t>(C));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto gamma_of = [&](int64_t c) { return p.affine ? d.gamma.get(c) : 1.0; };
  auto beta_of = [&](int64_t c) { return p.affine ? d.beta.get(c) : 0.0; };

  if (p.dir == Direction::fwd_infer) {
    init(R.y, p.dtype, E);
    for (int64_t c = 0; c < C; ++c) {
      const double g = gamma_of(c), b = beta_of(c), rm = d.running_mean.get(c), rv = d.running_var.get(c);
      const Real denom = Real(rv) + Real(p.eps);
      const bool r_inf = denom == 0;
      const Real r = r_inf ? Real(0) : Real(1) / sqrt(denom);
      ChannelRef& cr = R.channel[c];
      cr.mean = rm; cr.var = rv; cr.invstd = r_inf ? HUGE_VAL : to_double(r);
      if (std::isfinite(rm) && std::isfinite(rv) && rv >= 0)
        set_scaled(cr, Real(rm), Real(rv), Real(sqrt(Real(rm) * Real(rm) + Real(rv))), r_inf ? Real(HUGE_VAL) : r);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) {
          const size_t i = static_cast<size_t>(p.index(n, c, s));
          const double xv = d.x.get(i);
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
    }
    return R;
  }

  const Dtype pd = p.pdtype;
  init(R.save_mean, pd, C);
  init(R.save_stat, pd, C);
  if (p.dir == Direction::fwd_train) {
    init(R.y, p.dtype, E);
    init(R.running_mean, pd, C);
    init(R.running_var, pd, C);
  } else {
    init(R.dx, p.dtype, E);
    if (p.affine) { init(R.dgamma, pd, C); init(R.dbeta, pd, C); }
  }

  std::vector<Real> xs(static_cast<size_t>(M));
  std::vector<size_t> idx(static_cast<size_t>(M));
  for (int64_t c = 0; c < C; ++c) {
    ChannelRef& cr = R.channel[c];
    bool poisoned = false;
    for (int64_t n = 0, k = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s, ++k) {
        idx[k] = static_cast<size_t>(p.index(n, c, s));
        const double xv = d.x.get(idx[k]);
        if (!std::isfinite(xv)) poisoned = true;
        if (p.dir == Direction::bwd && !std::isfinite(d.dy.get(idx[k]))) poisoned = true;
        xs[k] = Real(xv);
      }
    cr.poisoned = poisoned;
    const double g = gamma_of(c), b = beta_of(c);
    if (poisoned) {
      // IEEE evaluation in double of what the definitions give (see the comment above).
      bool x_bad = false;
      double xsum = 0;
      for (size_t k = 0; k < idx.size(); ++k) {
        const double xv = d.x.get(idx[k]);
        x_bad |= !std::isfinite(xv);
        xsum += xv;
      }
      const double mu = x_bad ? xsum / static_cast<double>(M) : to_double(channel_stats(xs, p.eps, conv).mean);
      cr.mean = mu;
      cr.var = cr.invstd = cr.rms = nan;
      put_double(R.save_mean, c, mu);
      put_double(R.save_stat, c, nan);
      if (p.dir == Direction::fwd_train) {
        for (size_t k = 0; k < idx.size(); ++k) put_double(R.y, idx[k], nan);
        const double w_new = conv.momentum_dir == MomentumDir::new_stat ? p.momentum : 1 - p.momentum;
        put_double(R.running_mean, c, (1 - w_new) * d.running_mean.get(c) + w_new * mu);
        put_double(R.running_var, c, nan);
        // The mean of a channel holding an infinity is +-Inf as a sum, NaN through
        // Welford's updates (Inf - Inf): both honest, so any non-finite value is right.
        for (RefTensor* t : {&R.save_mean, &R.running_mean}) t->mark(c, RefTensor::kAnyNonFinite);
      } else if (x_bad) {
        for (size_t k = 0; k < idx.size(); ++k) put_double(R.dx, idx[k], nan);
        Real dbeta = 0;
        bool dy_bad = false;
        double dsum = 0;
        for (size_t k = 0; k < idx.size(); ++k) {
          const double v = d.dy.get(idx[k]);
          dy_bad |= !std::isfinite(v);
          dsum += v;
          dbeta += Real(v);
        }
        if (p.affine) {
          put_double(R.dgamma, c, nan);
          if (dy_bad) put_double(R.dbeta, c, dsum);
          else put(R.dbeta, c, dbeta);
        }
      } else {
        // x finite, dy not: the saved statistics are finite; dbeta and dgamma are IEEE sums.
        const Stats<Real> st = channel_stats(xs, p.eps, conv);
        put(R.save_mean, c, st.mean);
        if (conv.saved == SavedStat::invstd) put(R.save_stat, c, invstd_or_inf(st));
        else put(R.save_stat, c, st.var);
        double db = 0, dg = 0;
        for (size_t k = 0; k < idx.size(); ++k) {
          const double dyv = d.dy.get(idx[k]);
          db += dyv;
          dg += dyv * to_double(xhat(xs[k], st));
        }
        if (p.affine) { put_double(R.dgamma, c, dg); put_double(R.dbeta, c, db); }
        for (size_t k = 0; k < idx.size(); ++k) {
          put_double(R.dx, idx[k], nan);
          R.dx.mark(idx[k], RefTensor::kAnyNonFinite);
        }
      }
      continue;
    }
    const Stats<Real> st = channel_stats(xs, p.eps, conv);
    cr.mean = to_double(st.mean);
    cr.var = to_double(st.var);
    cr.invstd = st.invstd_inf ? HUGE_VAL : to_double(st.invstd);
    const Real rms = sqrt(st.mean * st.mean + st.var);
    cr.rms = to_double(rms);
    set_scaled(cr, st.mean, st.var, rms, st.invstd_inf ? Real(HUGE_VAL) : st.invstd);
    Real sabs = 0;
    for (const Real& v : xs) sabs += abs(v);
    cr.sum_abs_x = to_double(sabs);
    put(R.save_mean, c, st.mean);
    if (conv.saved == SavedStat::invstd) put(R.save_stat, c, invstd_or_inf(st));
    else put(R.save_stat, c, st.var);

    // var + eps = 0 under IEEE semantics; or, in backward, statistics that overflow the
    // parameter dtype, so that the backend is handed an infinity: no value is wrong.
    const bool singular = st.invstd_inf ||
        (p.dir == Direction::bwd && (!std::isfinite(R.save_mean.rounded_value(c)) ||
                                     (conv.saved == SavedStat::variance && !std::isfinite(R.save_stat.rounded_value(c)))));
    if (singular && conv.saved == SavedStat::invstd) R.save_stat.mark(c, RefTensor::kAnyValue);
    if (p.dir == Direction::fwd_train) {
      for (size_t k = 0; k < idx.size(); ++k) {
        const Real xh = xhat(xs[k], st);
        put(R.y, idx[k], Real(g) * xh + Real(b));
        if (singular) R.y.mark(idx[k], RefTensor::kAnyValue);
      }
      // Running statistics. M = 1 with the unbiased convention: 0/0 = NaN.
      Real var_stat = st.var;
      bool var_nan = false;
      if (conv.running_var == RunningVar::unbiased) {
        if (M == 1) var_nan = true;
        else var_stat = st.var * Real(static_cast<double>(M)) / Real(static_cast<double>(M - 1));
      }
      const Real m(p.momentum);
      const Real w_new = conv.momentum_dir == MomentumDir::new_stat ? m : Real(1) - m;
      const Real w_old = Real(1) - w_new;
      const double rm0 = d.running_mean.get(c), rv0 = d.running_var.get(c);
      if (std::isfinite(rm0)) put(R.running_mean, c, w_old * Real(rm0) + w_new * st.mean);
      else put_double(R.running_mean, c, to_double(w_old) * rm0 + to_double(w_new) * cr.mean);
      if (var_nan) put_double(R.running_var, c, nan);
      else if (!std::isfinite(rv0)) {
        put_double(R.running_var, c, to_double(w_old) * rv0 + to_double(Real(w_new * var_stat)));
        // 0 * var in an implementation's type is NaN when var overflowed there.
        if (!std::isfinite(R.running_var.hi[c])) R.running_var.mark(c, RefTensor::kAnyNonFinite);
      }
      else put(R.running_var, c, w_old * Real(rv0) + w_new * var_stat);
    } else {
      Real dbeta = 0, dgamma = 0, sad = 0, sadx = 0;
      std::vector<Real> xh(idx.size()), dys(idx.size());
      for (size_t k = 0; k < idx.size(); ++k) {
        xh[k] = xhat(xs[k], st);
        dys[k] = Real(d.dy.get(idx[k]));
        dbeta += dys[k];
        dgamma += dys[k] * xh[k];
        sad += abs(dys[k]);
        sadx += abs(dys[k] * xh[k]);
      }
      cr.dbeta = to_double(dbeta);
      cr.dgamma = to_double(dgamma);
      cr.sum_abs_dy = to_double(sad);
      cr.sum_abs_dy_xhat = to_double(sadx);
      if (p.affine) { put(R.dbeta, c, dbeta); put(R.dgamma, c, dgamma); }
      const Real Mr(static_cast<double>(M));
      const Real scale = Real(g) * invstd_or_inf(st) / Mr;
      for (size_t k = 0; k < idx.size(); ++k) {
        put(R.dx, idx[k], scale * (Mr * dys[k] - dbeta - xh[k] * dgamma));
        if (singular) R.dx.mark(idx[k], RefTensor::kAnyValue);
      }
      if (singular && p.affine) R.dgamma.mark(c, RefTensor::kAnyValue);
    }
  }
  return R;
}

}  // namespace bncheck::ref

namespace bncheck::ref {

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
  for (size_t i = 0; i < M; ++i)
    dx[i] = dy[i] * gamma * inv + dvar * Real(2) * (x[i] - mu) / Mr + dmu / Mr;
  return dx;
}

// Simplified: gamma r / M (M dy - dbeta - xhat dgamma).
template <class Real>
std::vector<Real> simplified_dx(const std::vector<Real>& x, const std::vector<Real>& dy, Real gamma, double eps) {
  Conventions conv;
  const Stats<Real> st = channel_stats(x, eps, conv);
  const Real Mr(static_cast<double>(x.size()));
  Real db = 0, dg = 0;
  for (size_t i = 0; i < x.size(); ++i) { db += dy[i]; dg += dy[i] * xhat(x[i], st); }
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
