// Double-double arithmetic for the fast reference, and the rounding test that decides
// when a double-double result with a known error bound gives the correctly rounded
// value of a dtype. The error bounds (u = 2^-53, no underflow) are those proven by
// Joldes, Muller & Popescu, "Tight and rigorous error bounds for basic building blocks
// of double-word arithmetic" (ACM TOMS 44(2), 2017); docs/error-model.md ("The fast
// reference") adds them up for the outputs. Products use Dekker's exact product
// (Veltkamp splitting), which needs no FMA instruction and is exact for operands below
// 2^995 in magnitude whose product does not underflow; callers keep to that range.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "bncheck/dtype.hpp"

namespace bncheck::ref::dd {

struct DD {
  double h = 0, l = 0;
};

// s + e = a + b exactly (Knuth's TwoSum).
inline DD two_sum(double a, double b) {
  const double s = a + b, bb = s - a;
  return {s, (a - (s - bb)) + (b - bb)};
}
// The same when |a| >= |b| or a = 0 (Dekker's Fast2Sum).
inline DD fast_two_sum(double a, double b) {
  const double s = a + b;
  return {s, b - (s - a)};
}

// a = hi + lo with hi holding the top 26 bits (Veltkamp).
struct Split {
  double hi = 0, lo = 0;
};
inline Split split(double a) {
  const double t = 134217729.0 * a;  // 2^27 + 1
  const double hi = t - (t - a);
  return {hi, a - hi};
}

// p + e = a b exactly (Dekker), a given split.
inline DD two_prod(double a, const Split& as, double b) {
  const double p = a * b;
  const Split bs = split(b);
  const double e = ((as.hi * bs.hi - p) + as.hi * bs.lo + as.lo * bs.hi) + as.lo * bs.lo;
  return {p, e};
}

// x + y for a double-double x and a double y: relative error <= 2u^2 (JMP Alg. 4).
inline DD add(const DD& x, double y) {
  const DD s = two_sum(x.h, y);
  return fast_two_sum(s.h, x.l + s.l);
}

// x + y for two double-doubles: relative error <= 3u^2 + 13u^3 (JMP Alg. 6).
inline DD add(const DD& x, const DD& y) {
  const DD s = two_sum(x.h, y.h), t = two_sum(x.l, y.l);
  const DD v = fast_two_sum(s.h, s.l + t.h);
  return fast_two_sum(v.h, t.l + v.l);
}

// x y for a double-double x (its high part split) and a double y: relative error
// <= 3u^2 (JMP Alg. 9 proves 2u^2 with an FMA folding x.l y into the low part; here
// Dekker's exact product stands in for the FMA and x.l y is rounded on its own, one
// more rounding of a term below u |x y|).
struct Factor {
  DD v;
  Split hs;
  explicit Factor(const DD& x) : v(x), hs(split(x.h)) {}
};
// y has at most 26 significant bits (an f32, f16 or bf16 value): it needs no split
// (Veltkamp's split of it is y itself), so Dekker's product reads y as it is.
inline DD mul_short(const Factor& x, double y) {
  const double p = x.v.h * y;
  const double e = (x.hs.hi * y - p) + x.hs.lo * y;
  return fast_two_sum(p, e + x.v.l * y);
}
// The same for any double y (an f64 value): Dekker's product splits y too; exact for
// |x.h|, |y| below 2^995 and a product that does not underflow (callers keep x.h and
// y within [2^-400, 2^400] or zero).
inline DD mul_full(const Factor& x, double y) {
  const DD q = two_prod(x.v.h, x.hs, y);
  return fast_two_sum(q.h, q.l + x.v.l * y);
}

// An f16 value from its bits (finite values only), exactly.
inline double f16_value(uint32_t b) {
  const uint32_t e = (b >> 10) & 0x1fu, m = b & 0x3ffu;
  double v;
  if (e == 0) {
    v = static_cast<double>(m) * 0x1p-24;
  } else {
    const uint64_t d = (static_cast<uint64_t>(e + 1008) << 52) | (static_cast<uint64_t>(m) << 42);  // bias 1023 - 15
    std::memcpy(&v, &d, sizeof v);
  }
  return (b & 0x8000u) ? -v : v;
}
// A bf16 value from its bits, exactly.
inline double bf16_value(uint32_t b) {
  const uint32_t x = b << 16;
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}

// The value t of dt nearest h (ties to even) and its neighbours in magnitude, as
// doubles; false where t is zero, infinite or the largest finite value, or h is not
// finite (rounding boundaries the callers leave to the slow path).
struct Candidate {
  uint64_t bits;
  double t, below, above;  // |t| and the representable magnitudes either side
};
inline bool candidate(double h, Dtype dt, Candidate* c) {
  if (!std::isfinite(h)) return false;
  if (dt == Dtype::f64) {
    uint64_t b;
    std::memcpy(&b, &h, sizeof b);
    const uint64_t mag = b & ~(uint64_t{1} << 63);
    if (mag == 0 || mag >= 0x7fefffffffffffffull) return false;
    double below, above;
    const uint64_t bm = mag - 1, am = mag + 1;
    std::memcpy(&below, &bm, sizeof below);
    std::memcpy(&above, &am, sizeof above);
    *c = {b, std::fabs(h), below, above};
    return true;
  }
  if (dt == Dtype::f32) {
    const float f = static_cast<float>(h);  // rounds to nearest even, subnormals included
    uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    const uint32_t mag = b & 0x7fffffffu;
    if (mag == 0 || mag >= 0x7f7fffffu) return false;
    float below, above;
    const uint32_t bm = mag - 1, am = mag + 1;
    std::memcpy(&below, &bm, sizeof below);
    std::memcpy(&above, &am, sizeof above);
    *c = {b, std::fabs(static_cast<double>(f)), below, above};
    return true;
  }
  // f16 and bf16: h rounded to f32, then to the format. The double rounding can miss
  // the nearest value only for h next to a midpoint, where the test below fails anyway
  // (it checks that h lies within half a spacing of the candidate).
  const float f = static_cast<float>(h);
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  uint64_t b;
  if (dt == Dtype::bf16) {
    if ((x & 0x7fffffffu) >= 0x7f7f8000u) return false;  // rounds to infinity, or is the largest finite
    b = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;          // to nearest even
  } else {
    const uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
    if (a >= 0x477fe000u) return false;  // 65504 and beyond: the largest finite, or infinity
    if (a < 0x38800000u) {               // below 2^-14: a subnormal of f16, m 2^-24
      float m;
      std::memcpy(&m, &a, sizeof m);
      m = (m * 16777216.0f + 12582912.0f) - 12582912.0f;  // to the nearest integer, ties to even
      b = sign | static_cast<uint32_t>(m);
    } else {
      b = sign | ((a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u) >> 13);
    }
  }
  const uint32_t mag = static_cast<uint32_t>(b) & 0x7fffu;
  if (mag == 0) return false;
  const auto value = dt == Dtype::bf16 ? bf16_value : f16_value;  // mag + 1 stays finite (checked above)
  *c = {b, value(mag), value(mag - 1), value(mag + 1)};
  return true;
}

// Whether every real within err of h + l rounds to the same value of dt (see
// candidate for the values left out); if so, its bits go to *bits. The test: h + l -
// err and h + l + err lie strictly between the midpoints of t = the rounding of h with
// its neighbours, with a margin of 2^-50 of the terms compared, which covers the
// rounding of the comparison itself.
// Below half the smallest subnormal of f32, f16 or bf16 (where candidate() finds zero):
// whether every real within err of h + l has one sign and lies strictly below that
// half, so that all of them round to the zero of that sign; its bits to *bits. The
// same margin of 2^-50 of the quantities compared as rounds_uniquely. f64's half subnormal is no double: never.
inline bool rounds_to_zero(double h, double l, double err, Dtype dt, uint64_t* bits) {
  const double half_min = dt == Dtype::f32 ? 0x1p-150 : dt == Dtype::f16 ? 0x1p-25 : dt == Dtype::bf16 ? 0x1p-134 : 0;
  const bool neg = h < 0;
  const double dh = neg ? -h : h, dl = neg ? -l : l;
  if (!(dh < half_min) || !std::isfinite(l) || !(err < 0x1p1000)) return false;
  const double lo_margin = (dh + dl) - err, hi_margin = (half_min - dh) - dl - err;
  const double lo_slack = 0x1p-50 * (dh + std::fabs(dl) + err), hi_slack = lo_slack + 0x1p-50 * half_min;
  if (!(lo_margin > lo_slack && hi_margin > hi_slack)) return false;
  *bits = neg ? (dt == Dtype::f32 ? 0x80000000u : 0x8000u) : 0;
  return true;
}

inline bool rounds_uniquely(double h, double l, double err, Dtype dt, uint64_t* bits) {
  Candidate c;
  if (!std::isfinite(l) || !(err < 0x1p1000)) return false;
  if (!candidate(h, dt, &c)) return rounds_to_zero(h, l, err, dt, bits);
  const double half_below = (c.t - c.below) * 0.5, half_above = (c.above - c.t) * 0.5;
  const bool neg = h < 0;
  const double dh = (neg ? -h : h) - c.t;  // exact: h is within half a spacing of t (Sterbenz)
  const double dl = neg ? -l : l;
  const double lo_margin = (dh + half_below) + dl - err, hi_margin = (half_above - dh) - dl - err;
  const double slack = 0x1p-50 * (std::fabs(dh) + half_below + half_above + std::fabs(dl) + err);
  if (!(lo_margin > slack && hi_margin > slack)) return false;
  *bits = c.bits;
  return true;
}

// 2^k for k in double's normal range, from its bits (no libm call).
inline double pow2(int k) {
  const uint64_t b = static_cast<uint64_t>(k + 1023) << 52;
  double v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}
// The unbiased exponent of a normal double.
inline int exponent(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return static_cast<int>((b >> 52) & 0x7ffu) - 1023;
}

inline uint64_t bits_of(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}
inline uint32_t bits_of(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// rounds_uniquely for one format, for the elementwise loops: the same decision (every
// real within err of h + l rounds to the same value t of the format, with a margin of
// 2^-50 of the quantities compared), t and the gaps to its neighbours read from t's
// bits. t is the format's value nearest h (for f16 and bf16 through f32, a double
// rounding that can miss only next to a midpoint, where the test fails anyway). h must
// be a normal double; t = 0, the largest finite value and beyond are left undecided,
// as in rounds_uniquely.
template <Dtype DT>
inline bool round_test(double h, double l, double err, uint64_t* bits) {
  const double a = std::fabs(h);
  if (!(a >= 0x1p-1000 && a < 0x1p1000)) return false;
  double t, gap;
  bool lower;  // t a power of two above the smallest normal: the gap below it is half
  uint64_t tb;
  if constexpr (DT == Dtype::f64) {
    const uint64_t b = bits_of(a);
    const int E = static_cast<int>(b >> 52);
    t = a;
    gap = pow2(E - 1075);
    lower = (b & 0xfffffffffffffull) == 0 && E > 1;
    tb = bits_of(h);
  } else if constexpr (DT == Dtype::f32) {
    const float f = static_cast<float>(a);  // to nearest, ties to even, subnormals included
    const uint32_t fb = bits_of(f);
    if (fb - 1u >= 0x7f7ffffeu) return false;  // zero, the largest finite, infinity
    const int E = static_cast<int>(fb >> 23);
    t = f;
    gap = pow2((E ? E : 1) - 150);
    lower = (fb & 0x7fffffu) == 0 && E > 1;
    tb = (h < 0 ? uint64_t{1} << 31 : 0) | fb;
  } else {
    const uint32_t x = bits_of(static_cast<float>(a));
    uint32_t b;
    if constexpr (DT == Dtype::bf16) {
      if (x >= 0x7f7f8000u) return false;  // rounds to infinity, or is the largest finite
      b = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
      if (b == 0) return false;
      const int E = static_cast<int>(b >> 7);
      t = bf16_value(b);
      gap = pow2((E ? E : 1) - 134);
      lower = (b & 0x7fu) == 0 && E > 1;
    } else {
      if (x >= 0x477fe000u) return false;  // 65504 and beyond
      if (x < 0x38800000u) {               // below 2^-14: a subnormal of f16, m 2^-24
        float m;
        std::memcpy(&m, &x, sizeof m);
        m = (m * 16777216.0f + 12582912.0f) - 12582912.0f;  // to the nearest integer, ties to even
        b = static_cast<uint32_t>(m);
      } else {
        b = (x + 0xfffu + ((x >> 13) & 1u) - 0x38000000u) >> 13;
      }
      if (b == 0 || b >= 0x7bffu) return false;  // zero, the largest finite
      const int E = static_cast<int>(b >> 10);
      t = f16_value(b);
      gap = pow2((E ? E : 1) - 25);
      lower = (b & 0x3ffu) == 0 && E > 1;
    }
    tb = (h < 0 ? 0x8000u : 0) | b;
  }
  const double d = (a - t) + (h < 0 ? -l : l);  // a - t exact (Sterbenz)
  const double half = (d < 0 && lower ? 0.25 : 0.5) * gap;
  if (!((std::fabs(d) + err) * (1 + 0x1p-50) < half)) return false;
  *bits = tb;
  return true;
}

}  // namespace bncheck::ref::dd
