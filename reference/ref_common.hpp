// What the reference's directions share: rounding a Real result once into a RefTensor,
// a channel's exact statistics, xhat, and one channel's inputs gathered as Real.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "reference/reference.hpp"

namespace bncheck::ref {

template <class Real>
void put(RefTensor& t, size_t i, const Real& v) {
  t.rounded.set(i, round_to_bits(v, t.dtype));
  const double hi = bits_to_double(round_to_bits(v, Dtype::f64), Dtype::f64);
  t.hi[i] = hi;
  if (t.lo.empty()) return;
  if (std::isfinite(hi)) {
    const Real rest = v - Real(hi);
    t.lo[i] = bits_to_double(round_to_bits(rest, Dtype::f64), Dtype::f64);
  } else {
    t.lo[i] = 0;
  }
}

inline void put_double(RefTensor& t, size_t i, double v) {  // already exact (special values)
  t.rounded.set(i, round_to_bits(v, t.dtype));
  t.hi[i] = v;
  if (!t.lo.empty()) t.lo[i] = 0;
}

// with_lo: keep the low parts (see RefTensor::lo). The elements are left unfilled: both
// paths set every one (the fast path's bitwise test against the slow one also passes
// with its outputs filled with a value no element has), and a fill on one thread cost
// a third of a large case.
inline void init(RefTensor& t, Dtype dt, size_t n, bool with_lo = true) {
  t.dtype = dt;
  t.rounded.assign(n, dt);
  t.hi.clear();
  t.hi.resize(n);
  t.lo.clear();
  t.lo.resize(with_lo ? n : 0);
}

template <class Real>
Real to_real(double v) {
  return Real(v);
}

template <class Real>
double to_double(const Real& v) {
  return bits_to_double(round_to_bits(v, Dtype::f64), Dtype::f64);
}

// Exact statistics of one channel.
template <class Real>
struct Stats {
  Real sum, mean, var, invstd;  // sum x exactly (data spanning < ~200 bits), the rest rounded once
  double m = 1;                 // M
  bool invstd_inf = false;
};

// mean = S / M and var = sum (M x - S)^2 / M^3 with S = sum x: for data whose values
// span fewer than ~200 bits (all f32-representable data short of mixing 2^100 with
// 2^-100) S, every M x - S and the sum of squares are exact at 256 bits, so each
// statistic is rounded once; the textbook (x - mean)^2 would carry the rounding of
// mean into var, enough to round an exact tie of f64 the wrong way.
template <class Real>
Stats<Real> channel_stats(const std::vector<Real>& x, double eps, const Conventions& conv) {
  using std::sqrt;
  Stats<Real> s;
  const Real M(static_cast<double>(x.size()));
  Real sum = 0;
  for (const Real& v : x) sum += v;
  s.sum = sum;
  s.m = static_cast<double>(x.size());
  s.mean = sum / M;
  Real q = 0;
  for (const Real& v : x) {
    const Real d = M * v - sum;
    q += d * d;
  }
  s.var = q / (M * M * M);
  const Real denom = s.var + Real(eps);
  if (denom == 0) {
    s.invstd_inf = !conv.zero_var_invstd_is_zero;
    s.invstd = 0;
  } else
    s.invstd = Real(1) / sqrt(denom);
  return s;
}

// xhat for one element, (M x - S) r / M: M x - S is exact where x - mean would carry
// mean's rounding. IEEE semantics when r is infinite.
template <class Real>
Real xhat(const Real& x, const Stats<Real>& s) {
  const Real M(s.m);
  if (!s.invstd_inf) return (M * x - s.sum) * s.invstd / M;
  const Real d = M * x - s.sum;
  if (d == 0) return Real(std::numeric_limits<double>::quiet_NaN());
  return Real(d > 0 ? HUGE_VAL : -HUGE_VAL);
}

// ChannelRef's statistics in units of 2^e, e the exponent of rms (exact scaling).
template <class Real>
void set_scaled(ChannelRef& cr, const Real& mean, const Real& var, const Real& rms, const Real& invstd) {
  using std::frexp;
  using std::isinf;
  using std::ldexp;
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

// One channel's x as Real, with each element's index; poisoned when x (or dy, in
// backward) holds a non-finite value.
template <class Real>
struct ChannelInput {
  std::vector<Real> xs;
  std::vector<size_t> idx;
  bool poisoned = false;
};

template <class Real>
void gather_channel(const Problem& p, const CaseData& d, int64_t c, ChannelInput<Real>& in) {
  const int64_t N = p.n, S = p.spatial_size();
  in.xs.resize(static_cast<size_t>(N * S));
  in.idx.resize(static_cast<size_t>(N * S));
  in.poisoned = false;
  for (int64_t n = 0, k = 0; n < N; ++n)
    for (int64_t s = 0; s < S; ++s, ++k) {
      in.idx[k] = static_cast<size_t>(p.index(n, c, s));
      const double xv = d.x.get(in.idx[k]);
      if (!std::isfinite(xv)) in.poisoned = true;
      if (p.dir == Direction::bwd && !std::isfinite(d.dy.get(in.idx[k]))) in.poisoned = true;
      in.xs[k] = Real(xv);
    }
}

inline double gamma_of(const Problem& p, const CaseData& d, int64_t c) { return p.affine ? d.gamma.get(c) : 1.0; }
inline double beta_of(const Problem& p, const CaseData& d, int64_t c) { return p.affine ? d.beta.get(c) : 0.0; }

}  // namespace bncheck::ref
