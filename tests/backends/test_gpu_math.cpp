// The arithmetic the CUDA kernels share with the host (common/bn_math.hpp), on the CPU.
#include <gtest/gtest.h>

#include <cmath>
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
  EXPECT_FLOAT_EQ(backward_dx(x0, dy0, mean, r, 1.5f, db, dg, 2), 0.0f);
  EXPECT_FLOAT_EQ(backward_dx(x1, dy1, mean, r, 1.5f, db, dg, 2), 0.0f);
  // No subnormal intermediate for large data: r = 1e-37 in f32.
  const float dx = backward_dx(3e37f, 1.0f, 1e37f, 1e-37f, 1.0f, 0.0f, 0.0f, 1e6f);
  EXPECT_NEAR(dx, 1e-37f, 4 * 0x1p-24 * 1e-37f);  // four f32 roundings of a normal result
}
