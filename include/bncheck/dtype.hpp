// Floating-point formats bncheck knows, their parameters, and one rounding
// function used everywhere a value is narrowed to a format.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace bncheck {

enum class Dtype { f64, f32, f16, bf16 };

// IEEE-754 binary format parameters. p counts the implicit bit.
struct FormatInfo {
  int p;      // precision in bits
  int emin;   // exponent of the smallest normal
  int emax;   // exponent of the largest finite
  int ebits;  // stored exponent bits
  int bytes;  // storage size
  const char* name;
};

constexpr FormatInfo format_info(Dtype dt) {
  switch (dt) {
    case Dtype::f64: return {53, -1022, 1023, 11, 8, "f64"};
    case Dtype::f32: return {24, -126, 127, 8, 4, "f32"};
    case Dtype::f16: return {11, -14, 15, 5, 2, "f16"};
    case Dtype::bf16: return {8, -126, 127, 8, 2, "bf16"};
  }
  return {53, -1022, 1023, 11, 8, "f64"};
}

inline const char* dtype_name(Dtype dt) { return format_info(dt).name; }
std::optional<Dtype> parse_dtype(std::string_view s);

// Unit roundoff 2^-p of round-to-nearest in a format of precision p bits.
constexpr double unit_roundoff_bits(int p) {
  double u = 1.0;
  for (int i = 0; i < p; ++i) u *= 0.5;
  return u;
}
constexpr double unit_roundoff(Dtype dt) { return unit_roundoff_bits(format_info(dt).p); }

// Storage types for the 16-bit formats: bits only; arithmetic goes through float.
struct f16_t {
  uint16_t bits;
};
struct bf16_t {
  uint16_t bits;
};

// Decode a stored value (bits in the low bytes) to double: exact for all four formats.
inline double bits_to_double(uint64_t bits, Dtype dt) {
  switch (dt) {
    case Dtype::f64: {
      double d;
      std::memcpy(&d, &bits, 8);
      return d;
    }
    case Dtype::f32: {
      uint32_t b = static_cast<uint32_t>(bits);
      float f;
      std::memcpy(&f, &b, 4);
      return f;
    }
    case Dtype::bf16: {
      uint32_t b = static_cast<uint32_t>(bits & 0xFFFF) << 16;
      float f;
      std::memcpy(&f, &b, 4);
      return f;
    }
    case Dtype::f16: {
      const uint32_t h = static_cast<uint32_t>(bits & 0xFFFF);
      const double sign = (h & 0x8000) ? -1.0 : 1.0;
      const int e = (h >> 10) & 0x1F;
      const int m = h & 0x3FF;
      if (e == 0x1F) return m ? std::numeric_limits<double>::quiet_NaN() : sign * HUGE_VAL;
      if (e == 0) return sign * (static_cast<double>(m) * 0x1p-24);  // exact
      const uint64_t d =
          (static_cast<uint64_t>(e + 1008) << 52) | (static_cast<uint64_t>(m) << 42);  // rebias 15 -> 1023
      double v;
      std::memcpy(&v, &d, sizeof v);
      return sign * v;
    }
  }
  return 0;
}

inline uint64_t load_bits(const void* p, Dtype dt, size_t i) {
  switch (format_info(dt).bytes) {
    case 8: {
      uint64_t b;
      std::memcpy(&b, static_cast<const char*>(p) + 8 * i, 8);
      return b;
    }
    case 4: {
      uint32_t b;
      std::memcpy(&b, static_cast<const char*>(p) + 4 * i, 4);
      return b;
    }
    default: {
      uint16_t b;
      std::memcpy(&b, static_cast<const char*>(p) + 2 * i, 2);
      return b;
    }
  }
}

inline void store_bits(void* p, Dtype dt, size_t i, uint64_t bits) {
  switch (format_info(dt).bytes) {
    case 8: std::memcpy(static_cast<char*>(p) + 8 * i, &bits, 8); break;
    case 4: {
      uint32_t b = static_cast<uint32_t>(bits);
      std::memcpy(static_cast<char*>(p) + 4 * i, &b, 4);
      break;
    }
    default: {
      uint16_t b = static_cast<uint16_t>(bits);
      std::memcpy(static_cast<char*>(p) + 2 * i, &b, 2);
      break;
    }
  }
}

// Read element i of a buffer of dtype dt as double (exact).
inline double load_as_double(const void* p, Dtype dt, size_t i) { return bits_to_double(load_bits(p, dt, i), dt); }

// Spacing of format dt at |v|: 2^(max(e, emin) - p + 1), e the exponent of v.
// For v = 0 it is the smallest subnormal; for non-finite v it is NaN.
inline double ulp(double v, Dtype dt) {
  if (!std::isfinite(v)) return std::numeric_limits<double>::quiet_NaN();
  const FormatInfo F = format_info(dt);
  int e = F.emin;
  if (v != 0) {
    uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    const int biased = static_cast<int>((b >> 52) & 0x7ffu);
    int fe1 = biased - 1023;  // the exponent of a normal double, read from its bits
    if (biased == 0) {        // subnormal double
      int fe;
      (void)std::frexp(v, &fe);
      fe1 = fe - 1;
    }
    e = std::max(fe1, F.emin);
  }
  const int k = e - (F.p - 1);
  if (k < -1022) return std::ldexp(1.0, k);
  const uint64_t r = static_cast<uint64_t>(k + 1023) << 52;  // 2^k, normal
  double u;
  std::memcpy(&u, &r, sizeof u);
  return u;
}

// ---- correctly rounded narrowing -------------------------------------------------
// round_to_bits works for any Real with frexp/ldexp/floor/abs/isnan/isinf/signbit found
// by ADL or in std: double, float, long double and Boost.Multiprecision numbers. The
// value is rounded once, directly from Real: no intermediate format.
namespace detail {
inline uint64_t to_u64(double v) { return static_cast<uint64_t>(v); }
inline uint64_t to_u64(float v) { return static_cast<uint64_t>(v); }
inline uint64_t to_u64(long double v) { return static_cast<uint64_t>(v); }
template <class Real>
uint64_t to_u64(const Real& v) {
  return v.template convert_to<uint64_t>();
}

// The bits of sign * mi * 2^q in format F, mi the rounded significand (the last kept
// bit's exponent q): a carry into a new binade, overflow after rounding, subnormals.
inline uint64_t pack(uint64_t sign, uint64_t mi, int q, const FormatInfo& F) {
  const int mbits = F.p - 1;
  const uint64_t exp_all = ((uint64_t{1} << F.ebits) - 1) << mbits;
  if (mi == (uint64_t{1} << F.p)) {
    mi >>= 1;
    ++q;
  }
  if (mi >= (uint64_t{1} << mbits)) {  // normal
    const int top = q + mbits;
    if (top > F.emax) return sign | exp_all;  // overflow after rounding
    return sign | (static_cast<uint64_t>(top + F.emax) << mbits) | (mi - (uint64_t{1} << mbits));  // bias = emax
  }
  return sign | mi;  // subnormal (or zero after rounding)
}

// The algorithm below for a double, on its bits: v = M 2^E with an integer M < 2^53,
// the bits below the last kept one compared with half of it as integers. The same
// results (tests/api/test_dtype.cpp compares them), without frexp, ldexp and floor.
inline uint64_t round_double_to_bits(double v, const FormatInfo& F) {
  const int mbits = F.p - 1;
  const uint64_t sign_bit = uint64_t{1} << (F.ebits + mbits);
  const uint64_t exp_all = ((uint64_t{1} << F.ebits) - 1) << mbits;
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  const uint64_t a = b & ~(uint64_t{1} << 63);
  if (a > 0x7ff0000000000000ull) return exp_all | (uint64_t{1} << (mbits - 1));  // canonical quiet NaN
  const uint64_t sign = (b >> 63) ? sign_bit : 0;
  if (a == 0x7ff0000000000000ull) return sign | exp_all;
  if (a == 0) return sign;
  const int biased = static_cast<int>(a >> 52);
  uint64_t M = a & 0xfffffffffffffull;
  int E, lead;  // v = M 2^E, 2^lead <= |v| < 2^(lead + 1)
  if (biased) {
    M |= uint64_t{1} << 52;
    E = biased - 1075;
    lead = biased - 1023;
  } else {
    E = -1074;
    lead = 63 - __builtin_clzll(M) - 1074;
  }
  int q = std::max(lead, F.emin) - mbits;  // exponent of the last kept bit
  if (q > F.emax) return sign | exp_all;
  const int shift = q - E;  // >= 0 for every format no wider than double
  uint64_t mi = 0;
  if (shift <= 0) {
    mi = M;
  } else if (shift < 64) {
    mi = M >> shift;
    const uint64_t rem = M & ((uint64_t{1} << shift) - 1), half = uint64_t{1} << (shift - 1);
    if (rem > half || (rem == half && (mi & 1u))) ++mi;  // ties to even
  }
  return pack(sign, mi, q, F);
}
}  // namespace detail

template <class Real>
uint64_t round_to_bits(const Real& v, Dtype dt) {
  using std::abs;
  using std::floor;
  using std::frexp;
  using std::isinf;
  using std::isnan;
  using std::ldexp;
  using std::signbit;
  const FormatInfo F = format_info(dt);
  if constexpr (std::is_same_v<Real, double> || std::is_same_v<Real, float>)
    return detail::round_double_to_bits(static_cast<double>(v), F);
  const int mbits = F.p - 1;
  const uint64_t sign_bit = uint64_t{1} << (F.ebits + mbits);
  const uint64_t exp_all = ((uint64_t{1} << F.ebits) - 1) << mbits;
  if (isnan(v)) return exp_all | (uint64_t{1} << (mbits - 1));  // canonical quiet NaN
  const uint64_t sign = signbit(v) ? sign_bit : 0;
  if (isinf(v)) return sign | exp_all;
  Real a = abs(v);
  if (a == 0) return sign;
  int e = 0;
  (void)frexp(a, &e);                       // a = f * 2^e, f in [0.5, 1)
  int q = std::max(e - 1, F.emin) - mbits;  // exponent of the last kept bit
  if (q > F.emax) return sign | exp_all;    // far beyond the range
  Real m = ldexp(a, -q);                    // exact: scaling by a power of two
  Real fl = floor(m);
  Real frac = m - fl;
  uint64_t mi = detail::to_u64(fl);
  if (frac > Real(0.5) || (frac == Real(0.5) && (mi & 1u))) ++mi;  // ties to even
  return detail::pack(sign, mi, q, F);
}

// Round v (round-to-nearest-even, with subnormals and overflow) to dt and store it.
inline void store_rounded(void* p, Dtype dt, size_t i, double v) { store_bits(p, dt, i, round_to_bits(v, dt)); }

// Round a double to a format and decode again (exact widening).
inline double round_to(double v, Dtype dt) { return bits_to_double(round_to_bits(v, dt), dt); }

inline float f16_to_float(f16_t h) { return static_cast<float>(bits_to_double(h.bits, Dtype::f16)); }
inline float bf16_to_float(bf16_t h) {
  uint32_t b = uint32_t{h.bits} << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
inline f16_t float_to_f16(float f) { return {static_cast<uint16_t>(round_to_bits(f, Dtype::f16))}; }
inline bf16_t float_to_bf16(float f) { return {static_cast<uint16_t>(round_to_bits(f, Dtype::bf16))}; }

// A signalling NaN with a payload no arithmetic produces (arithmetic quiets NaNs):
// output buffers are pre-filled with it so that unwritten elements are recognisable.
uint64_t sentinel_bits(Dtype dt);

}  // namespace bncheck
