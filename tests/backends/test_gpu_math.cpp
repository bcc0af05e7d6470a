// The arithmetic the CUDA kernels share with the host (common/bn_math.hpp), on the CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "common/bn_math.hpp"
#include "harness/error_model.hpp"

using namespace bncheck::gpu;

TEST(GpuMath, WelfordMatchesTwoPassAndMergesAreOrderFree) {
  std::vector<float> x;
  for (int i = 0; i < 1000; ++i) x.push_back(1000.0f + 0.5f * std::sin(0.37f * i));
  double s = 0, q = 0;
  for (float v : x) s += v;
  const double mean = s / x.size();
  for (float v : x) q += (v - mean) * (v - mean);
  const double var = q / x.size();
  Welford all;
  for (float v : x) all = welford_add(all, v);
  Welford a, b;
  for (size_t i = 0; i < x.size(); ++i) (i < 337 ? a : b) = welford_add(i < 337 ? a : b, x[i]);
  const Welford m = welford_merge(a, b);
  // The error model's statistics budget for f32 accumulation (docs/error-model.md).
  const double u = 0x1p-24, cM = bncheck::summation_factor(1000), R = std::sqrt(mean * mean + var);
  const double e_mu = cM * u * R + u * std::fabs(mean);
  const double e_var = u * (cM + 3) * var + 2 * cM * u * R * std::sqrt(var) + e_mu * e_mu;
  for (const Welford& w : {all, m}) {
    EXPECT_EQ(w.n, 1000.0f);
    EXPECT_NEAR(w.mean, mean, e_mu);
    EXPECT_NEAR(w.m2 / w.n, var, e_var);
  }
  EXPECT_EQ(welford_merge(Welford{}, a).mean, a.mean);
}

// The kernels fold chunks of 4, 16 or 32 values (welford_add_chunk); the result stays
// inside the same statistics budget as Welford's per-value updates, and a chunk whose
// sum overflows keeps a finite mean.
TEST(GpuMath, ChunkedWelfordWithinTheBudgetAndOverflowSafe) {
  std::vector<float> x;
  for (int i = 0; i < 1024; ++i) x.push_back(1000.0f + 0.5f * std::sin(0.37f * i) + (i % 7 == 0 ? 3.0f : 0.0f));
  double s = 0, q = 0;
  for (float v : x) s += v;
  const double mean = s / x.size();
  for (float v : x) q += (v - mean) * (v - mean);
  const double var = q / x.size();
  const double u = 0x1p-24, cM = bncheck::summation_factor(1024), R = std::sqrt(mean * mean + var);
  const double e_mu = cM * u * R + u * std::fabs(mean);
  const double e_var = u * (cM + 3) * var + 2 * cM * u * R * std::sqrt(var) + e_mu * e_mu;
  Welford w4, w32;
  for (size_t i = 0; i < x.size(); i += 32) {
    float c32[32];
    for (int j = 0; j < 32; ++j) c32[j] = x[i + j];
    w32 = welford_add_chunk(w32, c32);
    for (int h = 0; h < 32; h += 4) {
      float c4[4] = {x[i + h], x[i + h + 1], x[i + h + 2], x[i + h + 3]};
      w4 = welford_add_chunk(w4, c4);
    }
  }
  for (const Welford& w : {w4, w32}) {
    EXPECT_EQ(w.n, 1024.0f);
    EXPECT_NEAR(w.mean, mean, e_mu);
    EXPECT_NEAR(w.m2 / w.n, var, e_var);
  }
  // 3e38 + 3e38 overflows f32; the chunk's mean 3e38 does not.
  float big[4] = {3e38f, 3e38f, 3e38f, 3e38f};
  const Welford b = welford_add_chunk(Welford{}, big);
  EXPECT_EQ(b.mean, 3e38f);
  EXPECT_EQ(b.m2, 0.0f);
  float with_nan[4] = {1, NAN, 2, 3};
  EXPECT_TRUE(std::isnan(welford_add_chunk(Welford{}, with_nan).mean));
}

TEST(GpuMath, IndexingBothLayoutsAnd64Bit) {
  const int64_t C = 3, S = 5;
  EXPECT_EQ(element_index(false, C, S, 1, 2, 4), (1 * 3 + 2) * 5 + 4);
  EXPECT_EQ(element_index(true, C, S, 1, 2, 4), (1 * 5 + 4) * 3 + 2);
  for (int64_t i = 0; i < 2 * C * S; ++i) {
    EXPECT_EQ(channel_of(false, C, S, i), (i / S) % C);
    EXPECT_EQ(channel_of(true, C, S, i), i % C);
  }
  const int64_t big = int64_t{1} << 33;  // beyond 2^31 elements
  EXPECT_EQ(element_index(true, 64, big, 1, 63, 0), big * 64 + 63);
}

TEST(GpuMath, FastDivisionIsExactBelow2To31) {
  std::vector<uint32_t> divisors{1, 2, 3, 5, 7, 49, 64, 196, 784, 1000, 2048, 3136, 12544, 65535, 65536, 65537};
  for (uint32_t k = 1; k < 31; ++k) divisors.insert(divisors.end(), {(1u << k) - 1, 1u << k, (1u << k) + 1});
  divisors.push_back((1u << 31) - 1);
  std::vector<uint32_t> numerators{0, 1, 2, 3, (1u << 31) - 1, (1u << 31) - 2, 1u << 30, 123456789};
  uint64_t z = 88172645463325252ull;  // xorshift: numerators across the range
  for (int i = 0; i < 2000; ++i) {
    z ^= z << 13;
    z ^= z >> 7;
    z ^= z << 17;
    numerators.push_back(static_cast<uint32_t>(z) >> 1);
  }
  for (const uint32_t d : divisors) {
    const FastDiv f(d);
    for (const uint32_t n : numerators) ASSERT_EQ(f.div(n), n / d) << n << " / " << d;
    for (uint32_t q : {0u, 1u, 7u, ((1u << 31) - 1) / d}) {  // around multiples of d
      const uint64_t base = uint64_t{q} * d;
      for (uint64_t n = base > 0 ? base - 1 : 0; n <= base + 1 && n < (1u << 31); ++n)
        ASSERT_EQ(f.div(static_cast<uint32_t>(n)), n / d) << n << " / " << d;
    }
  }
}

TEST(GpuMath, ChannelOfAndChannelWalkMatchDivision) {
  for (const bool cl : {false, true})
    for (const auto& [C, S] : {std::pair<int64_t, int64_t>{3, 5}, {64, 49}, {2048, 1}, {1, 12544}, {7, 3}, {16, 24}}) {
      const int64_t E = 4 * C * S;
      const ChannelOf fast(cl, C, S, E), wide(cl, C, S, int64_t{1} << 32);
      EXPECT_TRUE(fast.small);
      EXPECT_FALSE(wide.small);
      for (int64_t i = 0; i < E; ++i) {
        ASSERT_EQ(fast(i), channel_of(cl, C, S, i)) << i;
        ASSERT_EQ(wide(i), channel_of(cl, C, S, i)) << i;
      }
      // Accesses of 8 elements (16 bytes of 2-byte data) from every start, by stepping;
      // from every multiple of 8 without branches where 8 divides the channel run.
      for (const ChannelOf* of : {&fast, &wide})
        for (int64_t i0 = 0; i0 + 8 <= E; ++i0) {
          int64_t c[8];
          access_channels<8, false>(*of, i0, c);
          for (int e = 0; e < 8; ++e) ASSERT_EQ(c[e], channel_of(cl, C, S, i0 + e)) << i0 << " " << e;
          if ((cl ? C : S) % 8 != 0 || i0 % 8 != 0) continue;
          access_channels<8, true>(*of, i0, c);
          for (int e = 0; e < 8; ++e) ASSERT_EQ(c[e], channel_of(cl, C, S, i0 + e)) << i0 << " " << e;
        }
      for (const int64_t step : {int64_t{1}, S - 1 > 0 ? S - 1 : 1, S, S + 1, 3 * S + 2, int64_t{256} * 17})
        for (const int64_t k0 : {int64_t{0}, int64_t{1}, step - 1, S + 2}) {
          if (k0 < 0) continue;
          ChannelWalk w(k0, step, S);
          for (int64_t k = k0; k < E / C; k += step, w.next()) {
            ASSERT_EQ(w.n, k / S) << k;
            ASSERT_EQ(w.s, k % S) << k;
          }
        }
    }
  const int64_t big = (int64_t{1} << 33) + 7;  // a tensor past 2^31 elements: 64-bit division
  const ChannelOf wide(false, 3, big, 3 * big);
  EXPECT_EQ(wide(big + 5), 1);
}

TEST(GpuMath, RunningUpdateAndBackward) {
  float rm = 1, rv = 2;
  running_update(&rm, &rv, 3.0f, 4.0f, 0.5f, 5);
  EXPECT_FLOAT_EQ(rm, 2.0f);
  EXPECT_FLOAT_EQ(rv, 0.5f * 2 + 0.5f * 4.0f * 5 / 4);
  running_update(&rm, &rv, 3.0f, 0.0f, 0.5f, 1);
  EXPECT_TRUE(std::isnan(rv));
  // dx for M = 2: always 0 (xhat = +-1).
  const float x0 = 0, x1 = 2, mean = 1, r = 1, dy0 = 0.3f, dy1 = -1.1f;
  const float db = dy0 + dy1, dg = dy0 * -1 + dy1 * 1;
  EXPECT_FLOAT_EQ(backward_dx(x0, dy0, mean, r, 1.5f * r, db, dg, 2), 0.0f);
  EXPECT_FLOAT_EQ(backward_dx(x1, dy1, mean, r, 1.5f * r, db, dg, 2), 0.0f);
  // No subnormal intermediate for large data: r = 1e-37 in f32.
  const float dx = backward_dx(3e37f, 1.0f, 1e37f, 1e-37f, 1e-37f, 0.0f, 0.0f, 1e6f);
  EXPECT_NEAR(dx, 1e-37f, 4 * 0x1p-24 * 1e-37f);  // four f32 roundings of a normal result
}
