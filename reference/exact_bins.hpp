// Exact sums of f32 values, of their squares and of products of two f32 values, for
// the fast reference. An f32 value is m 2^(E - 150) with an integer |m| < 2^24 and E
// in [1, 254] (subnormals: E = 1 without the hidden bit); a product of two is
// m1 m2 2^(E1 + E2 - 300) with |m1 m2| < 2^48. Each term goes, unrounded, into an
// integer bin for its exponent; the bins are combined exactly into one integer (a Big)
// per channel, the sum in units of 2^-150 (single values) or 2^-300 (products).
//
// Bins: 64-bit ones for the m (no overflow before 2^39 terms); 64-bit ones for the
// products, emptied into 128-bit bins every kChunk terms (|m1 m2| < 2^48, so 2^15
// terms fit; no 128-bit bin overflows before 2^79 terms).
//
// An f64 value is m 2^(E - 1075), |m| < 2^53, E in [1, 2046]; a product of two is
// m1 m2 2^(E1 + E2 - 2150), |m1 m2| < 2^106. These go straight into 128-bit bins (a
// single value: no overflow before 2^74 terms; a product: 2^21), whose totals are
// added into a WideBig every 2^20 terms (reference_fast.cpp).
#pragma once

#include <algorithm>
#include <array>
#include <boost/multiprecision/cpp_int.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "reference/approx.hpp"

namespace bncheck::ref {

__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

// v = m 2^(e - 150) (f32_parts), m 2^(e - 1075) (f64_parts).
struct FloatParts {
  int64_t m;
  int e;
};
inline FloatParts f32_parts(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  int e = static_cast<int>((b >> 23) & 0xffu);
  int64_t m = b & 0x7fffffu;
  if (e == 0)
    e = 1;
  else
    m |= 0x800000;
  return {(b >> 31) ? -m : m, e};
}

inline FloatParts f64_parts(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  int e = static_cast<int>((b >> 52) & 0x7ffu);
  int64_t m = static_cast<int64_t>(b & 0xfffffffffffffull);
  if (e == 0)
    e = 1;
  else
    m |= int64_t{1} << 52;
  return {(b >> 63) ? -m : m, e};
}

// An integer of up to L 64-bit limbs, sign and magnitude. Big (13 limbs) holds the
// statistics' numerators of f32 values (M Q - S^2 and M Sdyx - Sdy S below
// 2^(2*318 + 36)); WideBig (72 limbs) those of f64 values (below 2^(2*2163 + 64)).
template <int L>
class BigN {
 public:
  static constexpr int kLimbs = L;
  BigN() = default;
  explicit BigN(uint64_t v) {
    w_[0] = v;
    n_ = v ? 1 : 0;
  }
  // From a two's-complement array of limbs (least significant first).
  template <size_t K>
  static BigN from_twos(const std::array<uint64_t, K>& limb) {
    static_assert(K <= kLimbs);
    BigN r;
    r.neg_ = (limb[K - 1] >> 63) != 0;
    uint64_t carry = 1;
    for (size_t i = 0; i < K; ++i) {
      uint64_t w = limb[i];
      if (r.neg_) {
        const UInt128 t = static_cast<UInt128>(~w) + carry;
        w = static_cast<uint64_t>(t);
        carry = static_cast<uint64_t>(t >> 64);
      }
      r.w_[i] = w;
    }
    r.trim(static_cast<int>(K));
    return r;
  }
  // false when the product would not fit (never for the statistics' operands).
  friend bool mul(const BigN& a, const BigN& b, BigN* out) {
    BigN r;
    if (a.n_ + b.n_ > kLimbs) return false;
    for (int i = 0; i < a.n_; ++i) {
      if (a.w_[i] == 0) continue;
      uint64_t carry = 0;
      for (int j = 0; j < b.n_; ++j) {
        const UInt128 t = static_cast<UInt128>(a.w_[i]) * b.w_[j] + r.w_[i + j] + carry;
        r.w_[i + j] = static_cast<uint64_t>(t);
        carry = static_cast<uint64_t>(t >> 64);
      }
      r.w_[i + b.n_] = carry;
    }
    r.neg_ = a.neg_ != b.neg_;
    r.trim(a.n_ + b.n_);
    *out = r;
    return true;
  }
  friend BigN operator-(const BigN& a, const BigN& b) {
    BigN nb = b;
    nb.neg_ = !b.neg_;
    return add(a, nb);
  }
  friend BigN operator+(const BigN& a, const BigN& b) { return add(a, b); }
  // The value times 2^scale as an Approx: its top 106 bits as two doubles, exact
  // (e = 0) when no bit lies below them, else e bounds the bits below.
  Approx to_approx(int scale) const {
    if (n_ == 0) return {0, 0, 0};
    const int top = 64 * (n_ - 1) + 63 - __builtin_clzll(w_[static_cast<size_t>(n_ - 1)]);  // highest set bit
    const int k = std::max(0, top - 105);                                                   // the lowest bit kept
    const uint64_t hi = bits(k + 53, 53), lo = bits(k, 53);
    const bool rest = any_below(k);
    const double sgn = neg_ ? -1 : 1;
    const dd::DD v = dd::fast_two_sum(sgn * std::ldexp(static_cast<double>(hi), k + 53 + scale),
                                      sgn * std::ldexp(static_cast<double>(lo), k + scale));  // exact
    // A value below the bounds' range would underflow, to zero with a zero bound.
    if (top + scale < -960) undecided = true;
    return approx_detail::checked(v.h, v.l, rest ? std::ldexp(1.0, k + scale) : 0.0);
  }
  boost::multiprecision::cpp_int to_cpp_int() const {
    boost::multiprecision::cpp_int t;
    if (n_ == 0) return t;
    boost::multiprecision::import_bits(t, w_.begin(), w_.begin() + n_, 64, false);
    return neg_ ? boost::multiprecision::cpp_int(-t) : t;
  }

 private:
  // count (<= 64) bits from bit pos up.
  uint64_t bits(int pos, int count) const {
    const size_t q = static_cast<size_t>(pos / 64);
    const int r = pos % 64;
    uint64_t v = w_[q] >> r;  // w_ has a zero limb past the top one
    if (r) v |= w_[q + 1] << (64 - r);
    return count == 64 ? v : v & ((uint64_t{1} << count) - 1);
  }
  // Whether a bit below pos is set.
  bool any_below(int pos) const {
    const size_t q = static_cast<size_t>(pos / 64);
    for (size_t i = 0; i < q; ++i)
      if (w_[i]) return true;
    const int r = pos % 64;
    return r && (w_[q] & ((uint64_t{1} << r) - 1)) != 0;
  }
  void trim(int n) {
    n_ = n;
    while (n_ > 0 && w_[static_cast<size_t>(n_ - 1)] == 0) --n_;
    if (n_ == 0) neg_ = false;
  }
  static int cmp_mag(const BigN& a, const BigN& b) {
    if (a.n_ != b.n_) return a.n_ < b.n_ ? -1 : 1;
    for (int i = a.n_ - 1; i >= 0; --i)
      if (a.w_[i] != b.w_[i]) return a.w_[i] < b.w_[i] ? -1 : 1;
    return 0;
  }
  static BigN add(const BigN& a, const BigN& b) {
    BigN r;
    const int n = std::max(a.n_, b.n_);
    if (a.neg_ == b.neg_) {
      uint64_t carry = 0;
      for (int i = 0; i < n; ++i) {
        const UInt128 t = static_cast<UInt128>(a.w_[i]) + b.w_[i] + carry;
        r.w_[i] = static_cast<uint64_t>(t);
        carry = static_cast<uint64_t>(t >> 64);
      }
      r.w_[n] = carry;
      r.neg_ = a.neg_;
      r.trim(n + 1);
      return r;
    }
    const bool a_big = cmp_mag(a, b) >= 0;
    const BigN& x = a_big ? a : b;
    const BigN& y = a_big ? b : a;
    uint64_t borrow = 0;
    for (int i = 0; i < n; ++i) {
      const UInt128 t = static_cast<UInt128>(x.w_[i]) - y.w_[i] - borrow;
      r.w_[i] = static_cast<uint64_t>(t);
      borrow = static_cast<uint64_t>(t >> 64) ? 1 : 0;
    }
    r.neg_ = x.neg_;
    r.trim(n);
    return r;
  }
  std::array<uint64_t, kLimbs + 2> w_{};  // zero limbs past the top one (bits() reads one)
  int n_ = 0;
  bool neg_ = false;
};
using Big = BigN<13>;
using WideBig = BigN<72>;

// Exact sum of terms v 2^e (v a 64- or 128-bit integer, e in [0, Bins)), read as a B.
template <int Bins, class B = Big>
class ExactBins {
 public:
  void clear() {
    for (int e = lo_; e <= hi_; ++e) bin_[static_cast<size_t>(e)] = 0;
    lo_ = Bins;
    hi_ = -1;
  }
  void add(Int128 v, int e) {
    bin_[static_cast<size_t>(e)] += v;
    lo_ = std::min(lo_, e);
    hi_ = std::max(hi_, e);
  }
  // Empties 64-bit bins [lo, hi] into these.
  template <class T>
  void drain(T* b, int lo, int hi) {
    for (int e = lo; e <= hi; ++e) {
      if (b[e] == 0) continue;
      add(static_cast<Int128>(b[e]), e);
      b[e] = 0;
    }
  }
  // Sum over the bins of bin[e] 2^e, exactly: each bin added, shifted, into a
  // two's-complement array of 64-bit limbs, then read as one integer.
  B total() const {
    constexpr int kLimbs = (Bins + 128) / 64 + 2;  // room for 2^(Bins + 128) and the sign
    std::array<uint64_t, kLimbs> limb{};
    for (int e = lo_; e <= hi_; ++e) {
      const Int128 v = bin_[static_cast<size_t>(e)];
      if (v == 0) continue;
      // v 2^e: v sign-extended to three limbs (a0, a1, a2), shifted left by e % 64 into
      // limbs e/64 on; the limbs above hold the sign.
      const int k = e / 64, sh = e % 64;
      const uint64_t a0 = static_cast<uint64_t>(static_cast<UInt128>(v)),
                     a1 = static_cast<uint64_t>(static_cast<UInt128>(v) >> 64), ext = v < 0 ? ~uint64_t{0} : 0;
      const uint64_t w0 = a0 << sh, w1 = (a1 << sh) | (sh ? a0 >> (64 - sh) : 0),
                     w2 = (ext << sh) | (sh ? a1 >> (64 - sh) : 0);
      uint64_t carry = 0;
      for (int i = k; i < kLimbs; ++i) {
        const uint64_t w = i == k ? w0 : i == k + 1 ? w1 : i == k + 2 ? w2 : ext;
        const UInt128 t = static_cast<UInt128>(limb[static_cast<size_t>(i)]) + w + carry;
        limb[static_cast<size_t>(i)] = static_cast<uint64_t>(t);
        carry = static_cast<uint64_t>(t >> 64);
      }
    }
    return B::from_twos(limb);
  }

 private:
  std::array<Int128, Bins> bin_{};
  int lo_ = Bins, hi_ = -1;
};

}  // namespace bncheck::ref
