// Correct rounding to f64/f32/f16/bf16 at its edges: ties, subnormals, overflow, and
// values whose correct rounding a detour through double would get wrong.
#include <gtest/gtest.h>

#include <boost/multiprecision/cpp_bin_float.hpp>
#include <cmath>
#include <cstring>
#include <random>

#include "bncheck/dtype.hpp"

using namespace bncheck;
using Real =
    boost::multiprecision::number<boost::multiprecision::cpp_bin_float<256, boost::multiprecision::digit_base_2>>;

namespace {
Real pow2(int e) { return ldexp(Real(1), e); }
uint32_t f32bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
uint64_t f64bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}
}  // namespace

TEST(Rounding, TiesToEvenF32) {
  EXPECT_EQ(round_to_bits(Real(1) + pow2(-24), Dtype::f32), f32bits(1.0f));                 // tie, down to even
  EXPECT_EQ(round_to_bits(Real(1) + 3 * pow2(-24), Dtype::f32), f32bits(1.0f + 0x1p-22f));  // tie, up to even
  EXPECT_EQ(round_to_bits(-(Real(1) + 3 * pow2(-24)), Dtype::f32), f32bits(-(1.0f + 0x1p-22f)));
}

TEST(Rounding, NoDetourThroughDouble) {
  // 1 + 2^-24 + 2^-80 is just above the f32 tie: correct rounding goes up. Via double
  // it would first become the tie 1 + 2^-24 and then round down to 1.
  const Real v = Real(1) + pow2(-24) + pow2(-80);
  EXPECT_EQ(round_to_bits(v, Dtype::f32), f32bits(1.0f + 0x1p-23f));
  EXPECT_EQ(static_cast<float>(static_cast<double>(v)), 1.0f);  // the double detour is wrong
  // The same for f16 (ties at 2^-11) and bf16 (2^-8).
  EXPECT_EQ(round_to(1.0 + 0x1p-11, Dtype::f16), 1.0);
  EXPECT_EQ(bits_to_double(round_to_bits(Real(1) + pow2(-11) + pow2(-90), Dtype::f16), Dtype::f16), 1.0 + 0x1p-10);
  EXPECT_EQ(bits_to_double(round_to_bits(Real(1) + pow2(-8) + pow2(-90), Dtype::bf16), Dtype::bf16), 1.0 + 0x1p-7);
  EXPECT_EQ(bits_to_double(round_to_bits(Real(1) + pow2(-8), Dtype::bf16), Dtype::bf16), 1.0);
}

TEST(Rounding, SubnormalsF32) {
  EXPECT_EQ(round_to_bits(pow2(-149), Dtype::f32), 1u);                        // smallest subnormal
  EXPECT_EQ(round_to_bits(pow2(-150), Dtype::f32), 0u);                        // tie with 0: even
  EXPECT_EQ(round_to_bits(pow2(-150) + pow2(-200), Dtype::f32), 1u);           // above the tie
  EXPECT_EQ(round_to_bits(3 * pow2(-150), Dtype::f32), 2u);                    // tie 1.5 -> 2
  EXPECT_EQ(round_to_bits(-pow2(-151), Dtype::f32), 0x80000000u);              // -0
  EXPECT_EQ(round_to_bits(pow2(-126) - pow2(-150), Dtype::f32), 0x00800000u);  // rounds up to the smallest normal
  EXPECT_EQ(round_to_bits(pow2(-126) - pow2(-149), Dtype::f32), 0x007FFFFFu);  // largest subnormal
}

TEST(Rounding, SubnormalsF16AndF64) {
  EXPECT_EQ(round_to_bits(pow2(-24), Dtype::f16), 1u);
  EXPECT_EQ(round_to_bits(pow2(-25), Dtype::f16), 0u);
  EXPECT_EQ(round_to_bits(pow2(-25) + pow2(-60), Dtype::f16), 1u);
  EXPECT_EQ(bits_to_double(0x0001, Dtype::f16), std::ldexp(1.0, -24));
  EXPECT_EQ(round_to_bits(pow2(-1074), Dtype::f64), 1u);
  EXPECT_EQ(round_to_bits(pow2(-1075), Dtype::f64), 0u);
  EXPECT_EQ(round_to_bits(3 * pow2(-1075), Dtype::f64), 2u);
  EXPECT_EQ(round_to_bits(pow2(-133), Dtype::bf16), 1u);  // bf16 subnormal step 2^-133
}

TEST(Rounding, Overflow) {
  const Real max32 = (2 - pow2(-23)) * pow2(127);
  EXPECT_EQ(round_to_bits(max32, Dtype::f32), 0x7F7FFFFFu);
  EXPECT_EQ(round_to_bits(max32 + pow2(103) - pow2(50), Dtype::f32), 0x7F7FFFFFu);  // below the tie
  EXPECT_EQ(round_to_bits(max32 + pow2(103), Dtype::f32), 0x7F800000u);             // tie: to even = Inf
  EXPECT_EQ(round_to_bits(-pow2(200), Dtype::f32), 0xFF800000u);
  EXPECT_EQ(round_to(65504.0, Dtype::f16), 65504.0);
  EXPECT_EQ(round_to(65519.0, Dtype::f16), 65504.0);
  EXPECT_TRUE(std::isinf(round_to(65520.0, Dtype::f16)));
  EXPECT_TRUE(std::isinf(round_to(1e300, Dtype::bf16)));
  EXPECT_EQ(round_to_bits(pow2(1024), Dtype::f64), 0x7FF0000000000000ull);
}

TEST(Rounding, SpecialValues) {
  EXPECT_TRUE(std::isnan(bits_to_double(round_to_bits(std::nan(""), Dtype::f16), Dtype::f16)));
  EXPECT_EQ(round_to_bits(-0.0, Dtype::f32), 0x80000000u);
  EXPECT_EQ(round_to_bits(Real(-0.0), Dtype::bf16), 0x8000u);
  EXPECT_EQ(round_to_bits(-HUGE_VAL, Dtype::f16), 0xFC00u);
  EXPECT_TRUE(std::isnan(bits_to_double(round_to_bits(Real(std::nan("")), Dtype::f64), Dtype::f64)));
}

// Against the hardware's double->float conversion (round-to-nearest-even, with
// subnormals) on random bit patterns across the whole range.
TEST(Rounding, MatchesHardwareDoubleToFloat) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200000; ++i) {
    uint64_t b = rng();
    // Bias exponents towards the f32 range, subnormals included.
    const uint64_t e = 1023 - 160 + rng() % 300;
    b = (b & 0x800FFFFFFFFFFFFFull) | (e << 52);
    double d;
    std::memcpy(&d, &b, 8);
    ASSERT_EQ(round_to_bits(d, Dtype::f32), f32bits(static_cast<float>(d))) << d;
    ASSERT_EQ(round_to_bits(Real(d), Dtype::f64), f64bits(d));
  }
}

// f16 decoding and encoding round-trip over all 65536 patterns.
TEST(Rounding, F16AndBf16RoundTripAllPatterns) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const double v16 = bits_to_double(b, Dtype::f16);
    if (std::isnan(v16)) continue;
    ASSERT_EQ(round_to_bits(v16, Dtype::f16), b);
    ASSERT_EQ(round_to_bits(Real(v16), Dtype::f16), b);
    const double vb = bits_to_double(b, Dtype::bf16);
    if (!std::isnan(vb)) {
      ASSERT_EQ(round_to_bits(vb, Dtype::bf16), b);
    }
  }
}

TEST(Rounding, UlpOfFormats) {
  EXPECT_EQ(ulp(1.0, Dtype::f32), 0x1p-23);
  EXPECT_EQ(ulp(1.5, Dtype::f16), 0x1p-10);
  EXPECT_EQ(ulp(0.0, Dtype::f16), 0x1p-24);
  EXPECT_EQ(ulp(0x1p-130, Dtype::f32), 0x1p-149);  // subnormal range: fixed spacing
  EXPECT_EQ(ulp(-3.0, Dtype::bf16), 0x1p-6);
}

TEST(Rounding, SentinelIsASignallingNaNThatArithmeticChanges) {
  for (Dtype dt : {Dtype::f64, Dtype::f32, Dtype::f16, Dtype::bf16}) {
    const uint64_t s = sentinel_bits(dt);
    EXPECT_TRUE(std::isnan(bits_to_double(s, dt))) << dtype_name(dt);
    // Any arithmetic result is a quiet NaN at most: re-encoding a computed NaN never
    // gives the sentinel back.
    EXPECT_NE(round_to_bits(bits_to_double(s, dt) + 1.0, dt), s) << dtype_name(dt);
  }
}

// round_to_bits of a double (integer rounding on its bits) against the generic
// algorithm at 256 bits, on every format: random bit patterns (subnormals, huge and
// special values included) and values built on and beside each format's ties,
// subnormal boundary and overflow threshold.
TEST(Rounding, DoublePathMatchesTheGenericOne) {
  std::mt19937_64 rng(20261204);
  std::vector<double> vs;
  for (int k = 0; k < 200000; ++k) {
    const uint64_t b = rng();
    double d;
    std::memcpy(&d, &b, 8);
    vs.push_back(d);
  }
  for (const Dtype dt : {Dtype::f64, Dtype::f32, Dtype::f16, Dtype::bf16}) {
    const FormatInfo F = format_info(dt);
    for (int e = F.emin - F.p - 2; e <= F.emax + 1; ++e)
      for (int k = -3; k <= 3; ++k) {
        const double t = std::ldexp(1.0, e);  // a power of two, then steps of half an ulp around it
        const double step = std::ldexp(1.0, std::max(e, F.emin) - F.p);
        for (const double v : {t + k * step, t * 1.5 + k * step, -(t + k * step), std::nextafter(t + step, 0.0),
                               std::nextafter(t + step, HUGE_VAL)})
          vs.push_back(v);
      }
    vs.push_back(std::ldexp(1.0, -1074));
    for (const double v : vs) {
      const uint64_t fast = round_to_bits(v, dt), generic = round_to_bits(Real(v), dt);
      if (std::isnan(v)) {
        EXPECT_EQ(fast, generic) << dtype_name(dt) << " NaN";
        continue;
      }
      ASSERT_EQ(fast, generic) << dtype_name(dt) << " " << std::hexfloat << v;
    }
  }
}
