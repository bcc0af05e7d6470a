// Exact sums of f32 values, of their squares and of products of two f32 values, for
// the fast reference. An f32 value is m 2^(E - 150) with an integer |m| < 2^24 and E
// in [1, 254] (subnormals: E = 1 without the hidden bit); a product of two is
// m1 m2 2^(E1 + E2 - 300) with |m1 m2| < 2^48. Each term goes, unrounded, into a
// 128-bit integer bin for its exponent: no bin overflows before 2^79 terms. The bins
// are combined exactly into one multiprecision integer at the end (per channel), the
// sum in units of 2^-150 (single values) or 2^-300 (products).
#pragma once

#include <algorithm>
#include <array>
#include <boost/multiprecision/cpp_int.hpp>
#include <cstdint>
#include <cstring>

namespace bncheck::ref {

__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

// v = m 2^(e - 150).
struct F32Parts {
  int64_t m;
  int e;
};
inline F32Parts f32_parts(float v) {
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

class ExactBins {
 public:
  static constexpr int kBins = 512;  // exponents of products reach 2 * 254
  void clear() {
    for (int e = lo_; e <= hi_; ++e) bin_[static_cast<size_t>(e)] = 0;
    lo_ = kBins;
    hi_ = -1;
  }
  void add(int64_t m, int e) {
    bin_[static_cast<size_t>(e)] += m;
    lo_ = std::min(lo_, e);
    hi_ = std::max(hi_, e);
  }
  // Sum over the bins of bin[e] 2^e, exactly: each bin added, shifted, into a
  // two's-complement array of 64-bit limbs, then read as one integer.
  boost::multiprecision::cpp_int total() const {
    constexpr int kLimbs = (kBins + 128) / 64 + 2;  // room for 2^(kBins + 128) and the sign
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
    const bool neg = (limb[kLimbs - 1] >> 63) != 0;
    if (neg) {  // magnitude = -limbs
      uint64_t carry = 1;
      for (auto& w : limb) {
        const UInt128 t = static_cast<UInt128>(~w) + carry;
        w = static_cast<uint64_t>(t);
        carry = static_cast<uint64_t>(t >> 64);
      }
    }
    boost::multiprecision::cpp_int t;
    boost::multiprecision::import_bits(t, limb.begin(), limb.end(), 64, false);
    return neg ? boost::multiprecision::cpp_int(-t) : t;
  }

 private:
  static boost::multiprecision::cpp_int to_cpp_int(Int128 v) {
    const bool neg = v < 0;
    const UInt128 a = neg ? static_cast<UInt128>(-(v + 1)) + 1 : static_cast<UInt128>(v);
    boost::multiprecision::cpp_int r = static_cast<uint64_t>(a >> 64);
    r <<= 64;
    r += static_cast<uint64_t>(a);
    return neg ? boost::multiprecision::cpp_int(-r) : r;
  }
  std::array<Int128, kBins> bin_{};
  int lo_ = kBins, hi_ = -1;
};

}  // namespace bncheck::ref
