// Midpoint-radius arithmetic in double-double for the fast reference's per-channel
// statistics: an Approx is a double-double value v = h + l with a bound e on its
// distance to the exact real it stands for. Every operation returns its double-double
// result and a bound that adds the propagated input bounds to the operation's own
// rounding error (docs/error-model.md, "Statistics in double-double"). A question the
// bounds cannot answer (a comparison whose intervals overlap, a rounding the test
// cannot decide, a value outside the range where the bounds hold) raises the
// thread's `undecided` flag, and the caller recomputes the channel at 256 bits.
//
// The templates of the slow path (bnorm_ref.hpp, ref_forward.hpp) run unchanged on
// Approx: put, to_double, sqrt, frexp and ldexp below are found by argument-dependent
// lookup.
#pragma once

#include <cmath>
#include <cstdint>

#include "reference/double_double.hpp"
#include "reference/ref_real.hpp"
#include "reference/reference.hpp"

namespace bncheck::ref {

// Set when a result cannot be decided from the bounds; cleared by the caller.
inline thread_local bool undecided = false;

struct Approx {
  double h = 0, l = 0, e = 0;
  Approx() = default;
  Approx(double v) : h(v) {  // NOLINT(google-explicit-constructor): exact, like Real256(double)
    if (!std::isfinite(v)) undecided = true;
  }
  Approx(double h_, double l_, double e_) : h(h_), l(l_), e(e_) {}
};

namespace approx_detail {

// The bounds below hold for double-double operands and results of magnitude within
// (2^-960, 2^960), or exactly zero (no underflow of a low part, no overflow).
constexpr double kMin = 0x1p-960, kMax = 0x1p960;
// The rounding error of one double-double operation, relative to its result: JMP
// (2017) prove 3u^2 for a sum, 7u^2 for a product (Dekker's product, no FMA), 15u^2 +
// 56u^3 for a quotient; the square root below is within 6u^2 (error-model.md). 2^-100
// = 64u^2 covers each, and the rounding of the bound's own arithmetic (factor kUp).
constexpr double kOp = 0x1p-100, kUp = 1 + 0x1p-40;

inline double mag(const Approx& a) { return (std::fabs(a.h) + std::fabs(a.l)) * kUp; }
inline Approx checked(double h, double l, double e) {
  const double m = std::fabs(h);
  if (!(m == 0 || (m > kMin && m < kMax)) || !std::isfinite(l) || !(e < kMax)) undecided = true;
  return {h, l, e};
}
inline Approx result(const dd::DD& v, double e_in) {
  return checked(v.h, v.l, (e_in + kOp * (std::fabs(v.h) + std::fabs(v.l))) * kUp);
}

inline bool power_of_two(double v) {
  int e = 0;
  return std::frexp(v, &e) == (v < 0 ? -0.5 : 0.5);
}
inline dd::DD dd_mul(const Approx& a, const Approx& b) {  // Dekker's product and the cross terms
  const dd::Split as = dd::split(a.h);
  const dd::DD p = dd::two_prod(a.h, as, b.h);
  return dd::fast_two_sum(p.h, p.l + (a.h * b.l + a.l * b.h));
}
inline dd::DD dd_div(const Approx& x, const Approx& y) {  // JMP Algorithm 17
  const double th = x.h / y.h;
  const dd::Split ys = dd::split(y.h);
  const dd::DD c = dd::two_prod(y.h, ys, th);
  const double cl2 = y.l * th;
  const dd::DD t = dd::fast_two_sum(c.h, cl2);
  const dd::DD r = dd::fast_two_sum(t.h, t.l + c.l);  // y th as a double-double
  const double pi_h = x.h - r.h, d_l = x.l - r.l, delta = pi_h + d_l;
  return dd::fast_two_sum(th, delta / y.h);
}

}  // namespace approx_detail

inline Approx operator-(const Approx& a) { return {-a.h, -a.l, a.e}; }
inline Approx operator+(const Approx& a, const Approx& b) {
  if (a.l == 0 && b.l == 0) {  // two doubles: TwoSum is exact
    const dd::DD s = dd::two_sum(a.h, b.h);
    return approx_detail::checked(s.h, s.l, (a.e + b.e) * approx_detail::kUp);
  }
  return approx_detail::result(dd::add(dd::DD{a.h, a.l}, dd::DD{b.h, b.l}), a.e + b.e);
}
inline Approx operator-(const Approx& a, const Approx& b) { return a + (-b); }
inline Approx operator*(const Approx& a, const Approx& b) {
  using approx_detail::mag;
  const double e_in = mag(a) * b.e + mag(b) * a.e + a.e * b.e;
  if (a.l == 0 && b.l == 0) {  // two doubles: Dekker's product is exact
    const dd::DD p = dd::two_prod(a.h, dd::split(a.h), b.h);
    return approx_detail::checked(p.h, p.l, e_in * approx_detail::kUp);
  }
  return approx_detail::result(approx_detail::dd_mul(a, b), e_in);
}
// |x/y - X/Y| <= (e_x + |x/y| e_y) / (|y| - e_y) for |X - x| <= e_x, |Y - y| <= e_y.
inline Approx operator/(const Approx& x, const Approx& y) {
  const double lb = (std::fabs(y.h) - std::fabs(y.l)) * (1 - 0x1p-40) - y.e;
  if (!(lb > 0)) {
    undecided = true;
    return {0, 0, 0};
  }
  if (y.l == 0 && y.e == 0 && approx_detail::power_of_two(y.h)) {  // exact scaling
    const double inv = 1 / y.h;
    return approx_detail::checked(x.h * inv, x.l * inv, x.e * std::fabs(inv));
  }
  const dd::DD q = approx_detail::dd_div(x, y);
  const double mq = (std::fabs(q.h) + std::fabs(q.l)) * approx_detail::kUp;
  return approx_detail::result(q, (x.e + mq * y.e * approx_detail::kUp) / lb);
}
// sqrt in double-double: s = sqrt(a.h) rounded, then one Newton correction
// (a - s^2) / (2 s) with s^2 exact: within 6u^2 of sqrt(a.h + a.l) (error-model.md).
// |sqrt(X) - sqrt(x)| <= e / sqrt(x - e).
inline Approx sqrt(const Approx& a) {
  const double lb = (a.h - std::fabs(a.l)) * (1 - 0x1p-40) - a.e;
  if (a.h == 0 && a.l == 0 && a.e == 0) return {0, 0, 0};
  if (!(lb > 0)) {
    undecided = true;
    return {0, 0, 0};
  }
  const double s = std::sqrt(a.h);
  const dd::DD p = dd::two_prod(s, dd::split(s), s);
  if (a.e == 0 && a.l == 0 && p.h == a.h && p.l == 0) return {s, 0, 0};  // an exact square: s exactly
  const double r = (((a.h - p.h) - p.l) + a.l) / (2 * s);
  return approx_detail::result(dd::fast_two_sum(s, r), a.e / std::sqrt(lb) * approx_detail::kUp);
}
inline Approx abs(const Approx& a) { return a.h < 0 ? -a : a; }

// Comparisons decide from disjoint intervals; otherwise undecided.
inline int compare(const Approx& a, const Approx& b) {
  const Approx d = a - b;
  if (d.h == 0 && d.l == 0 && d.e == 0) return 0;
  const double lo = d.h + d.l;  // |d.l| <= ulp(d.h)/2: the sign is d.h's, its size within 2^-52
  if (std::fabs(lo) * (1 - 0x1p-50) > d.e) return lo > 0 ? 1 : -1;
  undecided = true;
  return 0;
}
inline bool operator>(const Approx& a, const Approx& b) { return compare(a, b) > 0; }
inline bool operator<(const Approx& a, const Approx& b) { return compare(a, b) < 0; }
inline bool operator==(const Approx& a, const Approx& b) { return compare(a, b) == 0; }
inline bool isinf(const Approx&) { return false; }  // Approx values are finite (or undecided)

// Exact scaling by 2^k (within the range of the bounds).
inline Approx ldexp(const Approx& a, int k) {
  return approx_detail::checked(std::ldexp(a.h, k), std::ldexp(a.l, k), std::ldexp(a.e, k));
}
// The binary exponent of the exact value (as std::frexp gives it), undecided when the
// interval holds a power of two (and is not that power of two alone).
inline Approx frexp(const Approx& a, int* e) {
  (void)std::frexp(a.h, e);
  if (a.e == 0 && a.l == 0) return ldexp(a, -*e);  // a double, exactly: its exponent is known
  const double p = std::ldexp(1.0, *e - 1);        // |a.h| in [p, 2p)
  const double m = std::fabs(a.h), dl = a.h < 0 ? -a.l : a.l;
  if (!((m - p) + dl > a.e * approx_detail::kUp && (2 * p - m) - dl > a.e * approx_detail::kUp)) undecided = true;
  return ldexp(a, -*e);
}

inline bool exact_zero(const Approx& a) { return a.h == 0 && a.l == 0 && a.e == 0; }

inline uint64_t bits_of(double v) { return dd::bits_of(v); }
// An exact value (e = 0) next to a rounding boundary, a tie included: rounded from its
// exact 256-bit form, as the slow path rounds it.
inline uint64_t round_exact(const Approx& a, Dtype dt) { return round_to_bits(Real256(a.h) + Real256(a.l), dt); }

// rounds_uniquely for a double-double whose high part may sit exactly on a midpoint
// of dt while its low part decides the side: the test takes its candidate from the high
// part, so it is retried with the high part moved one double towards the low part
// (the low part then exact up to one rounding, u |l'|, added to the bound).
inline bool decides(const Approx& a, Dtype dt, uint64_t* bits) {
  if (dd::rounds_uniquely(a.h, a.l, a.e, dt, bits)) return true;
  if (a.l == 0) return false;
  const double h2 = std::nextafter(a.h, a.l > 0 ? HUGE_VAL : -HUGE_VAL), l2 = (a.h - h2) + a.l;
  return dd::rounds_uniquely(h2, l2, a.e + 0x1p-52 * std::fabs(l2), dt, bits);
}

// The double nearest the exact value, when the bound decides it.
inline double to_double(const Approx& a) {
  uint64_t bits = 0;
  if (exact_zero(a)) return 0;
  if (dd::rounds_uniquely(a.h, a.l, a.e, Dtype::f64, &bits)) return a.h;
  if (a.e == 0) return a.h + a.l;  // one IEEE addition rounds the exact sum correctly, ties to even
  undecided = true;
  return a.h;
}

// The slow path's put(): the value rounded to t's dtype and to double (hi), when the
// bound decides both.
inline void put(RefTensor& t, size_t i, const Approx& a) {
  uint64_t bits = 0, hb = 0;
  if (exact_zero(a)) {  // +0, as the 256-bit evaluation of an exact zero gives
    t.rounded.set(i, 0);
    t.hi[i] = 0;
    if (!t.lo.empty()) t.lo[i] = 0;
    return;
  }
  if (!decides(a, t.dtype, &bits) || !dd::rounds_uniquely(a.h, a.l, a.e, Dtype::f64, &hb)) {
    if (a.e != 0) {  // a placeholder, so that what reads it before the 256-bit values replace it reads no garbage
      undecided = true;
      t.rounded.set(i, 0);
      t.hi[i] = a.h;
      if (!t.lo.empty()) t.lo[i] = 0;
      return;
    }
    const double hi = a.h + a.l;  // correctly rounded, ties to even
    t.rounded.set(i, t.dtype == Dtype::f64 ? bits_of(hi) : round_exact(a, t.dtype));
    t.hi[i] = hi;
    if (!t.lo.empty()) t.lo[i] = (a.h - hi) + a.l;  // exact: TwoSum's error term with |a.h| >= |a.l|
    return;
  }
  t.rounded.set(i, bits);
  t.hi[i] = a.h;
  if (!t.lo.empty()) t.lo[i] = a.l;
}

}  // namespace bncheck::ref
