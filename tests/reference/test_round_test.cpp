// The rounding tests of the fast reference against exact rounding: wherever a test
// decides, every value within the bound rounds (at 256 bits) to the bits it gave.
// Values are drawn on and beside the rounding boundaries of each format: midpoints,
// powers of two, the subnormal range and half the smallest subnormal.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>

#include "reference/double_double.hpp"
#include "reference/ref_real.hpp"
#include "reference/round_test_avx2.hpp"

using namespace bncheck;

namespace {

// A value of the format (random exponent across its range, subnormals included) moved
// to a midpoint, a boundary or nowhere, then nudged by a few of its own ulps and an
// error bound of a random size.
struct Draw {
  double y, err;
};
Draw draw(std::mt19937_64& rng, Dtype dt) {
  const FormatInfo F = format_info(dt);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const int e = static_cast<int>(pick(F.emin - F.p - 2, std::min(F.emax, 200)));
  double t = std::ldexp(static_cast<double>(pick(0, (int64_t{1} << F.p) - 1)), e - F.p + 1);
  t = round_to(t, dt);
  const double gap = std::ldexp(1.0, std::max(e, F.emin) - F.p + 1);
  switch (pick(0, 3)) {
    case 0: t += gap / 2; break;                       // a midpoint
    case 1: t = std::ldexp(1.0, F.emin - F.p); break;  // half the smallest subnormal
    case 2: t = std::ldexp(1.0, e); break;             // a power of two
    default: break;
  }
  const double y = (t + std::ldexp(static_cast<double>(pick(-3, 3)), -52) * t) * (pick(0, 1) ? -1 : 1);
  const double err = std::fabs(y) * std::ldexp(1.0, -static_cast<int>(pick(20, 60))) * (pick(0, 9) == 0 ? 0 : 1);
  return {y, err};
}

template <Dtype DT>
BNCHECK_AVX2 int avx2_round_test(const double* y, const double* err, uint32_t* bits) {
  __m128i b;
  const int ok = ref::dd::round_test4<DT>(_mm256_loadu_pd(y), _mm256_loadu_pd(err), &b);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(bits), b);
  return ok;
}

bool all_round_to(double y, double err, Dtype dt, uint64_t bits) {
  const Real256 Y(y), E(err);
  return round_to_bits(Real256(Y - E), dt) == bits && round_to_bits(Real256(Y + E), dt) == bits &&
         round_to_bits(Y, dt) == bits;
}

}  // namespace

TEST(RoundTest, ScalarDecisionsAreCorrectRoundings) {
  std::mt19937_64 rng(7);
  for (Dtype dt : {Dtype::f16, Dtype::bf16, Dtype::f32}) {
    int decided = 0, zeros = 0;
    for (int k = 0; k < 200000; ++k) {
      const Draw d = draw(rng, dt);
      uint64_t bits = 0;
      if (!ref::dd::rounds_uniquely(d.y, 0, d.err, dt, &bits)) continue;
      ++decided;
      zeros += round_to(d.y, dt) == 0;
      ASSERT_TRUE(all_round_to(d.y, d.err, dt, bits))
          << format_info(dt).name << " y " << std::hexfloat << d.y << " err " << d.err << " bits " << bits;
    }
    EXPECT_GT(decided, 50000) << format_info(dt).name;
    EXPECT_GT(zeros, 100) << format_info(dt).name << ": values below half the smallest subnormal were left undecided";
  }
}

TEST(RoundTest, VectorDecisionsAreCorrectRoundings) {
  if (!ref::dd::have_avx2_tier()) GTEST_SKIP() << "this processor has no AVX2, FMA and F16C";
  std::mt19937_64 rng(11);
  auto run = [&](Dtype dt, auto test) {
    int decided = 0;
    for (int k = 0; k < 50000; ++k) {
      double y[4], err[4];
      for (int j = 0; j < 4; ++j) {
        const Draw d = draw(rng, dt);
        y[j] = d.y;
        err[j] = d.err;
      }
      uint32_t bits[4];
      const int ok = test(y, err, bits);
      for (int j = 0; j < 4; ++j) {
        if (!(ok >> j & 1)) continue;
        ++decided;
        ASSERT_TRUE(all_round_to(y[j], err[j], dt, bits[j]))
            << format_info(dt).name << " y " << std::hexfloat << y[j] << " err " << err[j] << " bits " << bits[j];
      }
    }
    EXPECT_GT(decided, 50000) << format_info(dt).name;
  };
  run(Dtype::f32, [](const double* y, const double* e, uint32_t* b) { return avx2_round_test<Dtype::f32>(y, e, b); });
  run(Dtype::f16, [](const double* y, const double* e, uint32_t* b) { return avx2_round_test<Dtype::f16>(y, e, b); });
  run(Dtype::bf16, [](const double* y, const double* e, uint32_t* b) { return avx2_round_test<Dtype::bf16>(y, e, b); });
}
