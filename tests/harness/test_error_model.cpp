// The error model's shape: budgets grow with the conditioning kappa and with M, and
// shrink with the accumulation precision, as docs/error-model.md derives.
#include <gtest/gtest.h>

#include <algorithm>

#include "harness/error_model.hpp"
#include "harness/runner.hpp"

using namespace bncheck;

namespace {
double max_budget(const std::string& desc, int acc_bits, const std::string& which) {
  const Problem p = parse_problem(desc);
  CaseRunner r(p);
  Numerics nx;
  nx.accumulation_bits = acc_bits;
  nx.compute_bits = 24;
  const Budget b = compute_budget(p, p.conv, nx, r.impl().data_for(p.conv), r.impl().reference(p.conv));
  const std::vector<double>& v = which == "y" ? b.y : which == "save_mean" ? b.save_mean : b.save_stat;
  return *std::max_element(v.begin(), v.end());
}
}  // namespace

TEST(ErrorModel, SummationFactor) {
  EXPECT_EQ(summation_factor(1), 0);
  EXPECT_EQ(summation_factor(2), 1);
  EXPECT_EQ(summation_factor(65), 64);                // deterministic bound up to lambda^2 + 1
  EXPECT_EQ(summation_factor(10001), kLambda * 100);  // probabilistic lambda sqrt(M - 1) beyond
}

TEST(ErrorModel, BudgetGrowsWithConditioning) {
  // Mean budget ~ c(M) u R with R = sigma kappa: kappa 1 -> 1e3 grows it ~1e3-fold.
  const double b1 = max_budget("n=4,c=1,sp=8x8,fill=normal:0:1", 24, "save_mean");
  const double b3 = max_budget("n=4,c=1,sp=8x8,fill=normal:1e3:1", 24, "save_mean");
  EXPECT_GT(b3 / b1, 300.0);
  const double y1 = max_budget("n=4,c=1,sp=8x8,fill=normal:0:1", 24, "y");
  const double y3 = max_budget("n=4,c=1,sp=8x8,fill=normal:1e3:1", 24, "y");
  EXPECT_GT(y3 / y1, 100.0);
}

TEST(ErrorModel, BudgetShrinksWithAccumulationPrecision) {
  const double f32 = max_budget("n=4,c=2,sp=8x8,fill=normal:10:1", 24, "save_stat");
  const double f64 = max_budget("n=4,c=2,sp=8x8,fill=normal:10:1", 53, "save_stat");
  EXPECT_GT(f32 / f64, 100.0);
}

TEST(ErrorModel, ExactFillDemandsExactMeanOfSumBasedBackends) {
  const Problem p = parse_problem("n=4,c=3,sp=4x4,fill=exact:3:0.25");
  CaseRunner r(p);
  Numerics nx;
  nx.sum_based_stats = true;
  Budget b = compute_budget(p, p.conv, nx, r.impl().data_for(p.conv), r.impl().reference(p.conv));
  for (double v : b.save_mean) EXPECT_EQ(v, 0.0);
  nx.sum_based_stats = false;  // Welford's divisions are not exact: the ordinary budget
  b = compute_budget(p, p.conv, nx, r.impl().data_for(p.conv), r.impl().reference(p.conv));
  for (double v : b.save_mean) EXPECT_GT(v, 0.0);
}
