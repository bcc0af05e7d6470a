// The reference against cases computed by hand, against itself at 512 bits (two
// independent libraries), and its defined behaviour on degenerate and special input.
#include <gtest/gtest.h>

#include <cmath>

#include "harness/case_data.hpp"
#include "harness/suites.hpp"
#include "reference/reference.hpp"
#include "test_support.hpp"

using namespace bncheck;
using bncheck::testing::explicit_data;

TEST(Reference, ForwardTrainingByHand) {
  // x = 1, 2, 3, 4: mean 2.5, var 1.25, r = 1/sqrt(1.25).
  Problem p = parse_problem("n=4,c=1,dt=f64,pdt=f64,eps=0,mom=0.1");
  const Reference R = compute_reference(p, p.conv, explicit_data(p, {1, 2, 3, 4}));
  EXPECT_EQ(R.save_mean.rounded_value(0), 2.5);
  EXPECT_EQ(R.save_stat.rounded_value(0), 0.8944271909999158785636694674925104941765);
  EXPECT_EQ(R.y.rounded_value(0), -1.341640786499873817845504201238765741265);
  EXPECT_EQ(R.y.rounded_value(3), 1.341640786499873817845504201238765741265);
  // Running: 0.9 * 0 + 0.1 * 2.5 and 0.9 * 1 + 0.1 * (1.25 * 4/3).
  EXPECT_EQ(R.running_mean.rounded_value(0), 0.25);
  // m is the double nearest 0.1: (1 - m) + m * 5/3 = 1.066666666666666670367... (Python decimal).
  EXPECT_EQ(R.running_var.rounded_value(0), 1.0666666666666667);
}

TEST(Reference, ConventionsChangeOnlyWhatTheyName) {
  Problem p = parse_problem("n=4,c=1,dt=f64,pdt=f64,eps=0,mom=0.25");
  Conventions c;
  c.running_var = RunningVar::biased;
  c.momentum_dir = MomentumDir::old_stat;
  c.saved = SavedStat::variance;
  const Reference R = compute_reference(p, c, explicit_data(p, {1, 2, 3, 4}));
  EXPECT_EQ(R.save_stat.rounded_value(0), 1.25);           // biased variance saved
  EXPECT_EQ(R.running_mean.rounded_value(0), 0.75 * 2.5);  // m * r + (1 - m) * s, r = 0
  EXPECT_EQ(R.running_var.rounded_value(0), 0.25 * 1 + 0.75 * 1.25);
  EXPECT_EQ(R.y.rounded_value(0), -1.341640786499873817845504201238765741265);
}

TEST(Reference, BackwardByHand) {
  // x = 0, 1, 5: mean 2, var 14/3, r = sqrt(3/14); dy = 1, 0, 0: dbeta = 1,
  // dgamma = -2r, dx = r/3 (8/7, -10/7, 2/7).
  Problem p = parse_problem("n=3,c=1,dt=f64,pdt=f64,eps=0,dir=bwd");
  const Reference R = compute_reference(p, p.conv, explicit_data(p, {0, 1, 5}, {1, 0, 0}));
  EXPECT_EQ(R.dbeta.rounded_value(0), 1.0);
  EXPECT_EQ(R.dgamma.rounded_value(0), -2 * 0.4629100498862757307832833882919997612647);
  EXPECT_EQ(R.dx.rounded_value(0), 0.1763466856709621831555365288731427661961);
  EXPECT_EQ(R.dx.rounded_value(1), -0.2204333570887027289444206610914284577451);
  EXPECT_EQ(R.dx.rounded_value(2), 0.04408667141774054578888413221828569154902);
}

TEST(Reference, InferenceByHand) {
  Problem p = parse_problem("n=2,c=1,dt=f32,pdt=f32,eps=0,dir=fwd_infer");
  CaseData d = explicit_data(p, {3, -1});
  d.running_mean.set(0, 1.0);
  d.running_var.set(0, 4.0);
  const Reference R = compute_reference(p, p.conv, d);
  EXPECT_EQ(R.y.rounded_value(0), 1.0);
  EXPECT_EQ(R.y.rounded_value(1), -1.0);
}

// The result rounded to the output dtype does not change between 256 and 512 bits,
// nor between Boost's cpp_bin_float and MPFR.
TEST(Reference, AgreesWithItselfAt512Bits) {
  const char* suite = R"(n=3,c=4,sp=5x3,dt={f64|f32|f16|bf16},pdt={f64|f32},dir={fwd_train|fwd_infer|bwd}
n=2,c=3,sp=7,fill=normal:1e6:1e-3,dir={fwd_train|bwd},dt={f64|f32}
n=2,c=3,sp=7,fill=uniform:0:1e-30,dir={fwd_train|bwd},dt=f64,pdt=f64,rvar=biased,save=var)";
  for (const Problem& p : parse_suite(suite, "inline", 3)) {
    const CaseData d = make_case_data(p);
    const Reference a = compute_reference(p, p.conv, d);
    const Reference b = compute_reference_bin512(p, p.conv, d);
    std::vector<Reference> others{b};
    if (have_mpfr_reference()) others.push_back(compute_reference_mpfr512(p, p.conv, d));
    for (const Reference& o : others) {
      const std::pair<const RefTensor*, const RefTensor*> pairs[] = {{&a.y, &o.y},
                                                                     {&a.save_mean, &o.save_mean},
                                                                     {&a.save_stat, &o.save_stat},
                                                                     {&a.running_mean, &o.running_mean},
                                                                     {&a.running_var, &o.running_var},
                                                                     {&a.dx, &o.dx},
                                                                     {&a.dgamma, &o.dgamma},
                                                                     {&a.dbeta, &o.dbeta}};
      for (const auto& [x, y] : pairs) {
        ASSERT_EQ(x->rounded, y->rounded) << to_string(p);
        ASSERT_EQ(x->hi, y->hi) << to_string(p);
      }
    }
  }
}

TEST(Reference, MEqualsOne) {
  // y = beta; the unbiased running variance is 0/0 = NaN (declared policy).
  Problem p = parse_problem("n=1,c=1,dt=f32,pdt=f32,eps=1e-5");
  const Reference R = compute_reference(p, p.conv, explicit_data(p, {7}));
  EXPECT_EQ(R.y.rounded_value(0), 0.0);
  EXPECT_EQ(R.save_mean.rounded_value(0), 7.0);
  EXPECT_TRUE(std::isnan(R.running_var.rounded_value(0)));
  Conventions biased;
  biased.running_var = RunningVar::biased;
  const Reference B = compute_reference(p, biased, explicit_data(p, {7}));
  EXPECT_EQ(B.running_var.rounded_value(0), static_cast<double>(0.9f));  // 0.9 * 1 + 0.1 * 0
}

TEST(Reference, ZeroVarianceAndZeroEps) {
  Problem p = parse_problem("n=3,c=1,dt=f32,pdt=f32,eps=0");
  const Reference R = compute_reference(p, p.conv, explicit_data(p, {2, 2, 2}));
  EXPECT_EQ(R.save_mean.rounded_value(0), 2.0);
  EXPECT_TRUE(std::isinf(R.save_stat.rounded_value(0)));                      // r = 1/sqrt(0) = +Inf
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(std::isnan(R.y.rounded_value(i)));  // 0 * Inf
  p.eps = 0.25;
  const Reference E = compute_reference(p, p.conv, explicit_data(p, {2, 2, 2}));
  EXPECT_EQ(E.save_stat.rounded_value(0), 2.0);  // 1/sqrt(0.25)
  for (int i = 0; i < 3; ++i) EXPECT_EQ(E.y.rounded_value(i), 0.0);
}

TEST(Reference, NonFiniteInputsStayInTheirChannel) {
  Problem p = parse_problem("n=2,c=2,dt=f32,pdt=f32");
  // Channels-first, no spatial: x[n * 2 + c]. Channel 0 gets +Inf, channel 1 is clean.
  CaseData d = explicit_data(p, {HUGE_VAL, 1, 3, 2});
  const Reference R = compute_reference(p, p.conv, d);
  EXPECT_EQ(R.save_mean.rounded_value(0), HUGE_VAL);      // IEEE mean of {Inf, 3}
  EXPECT_EQ(R.save_mean.any_nonfinite[0], 1);             // NaN (Welford) accepted too
  EXPECT_TRUE(std::isnan(R.save_stat.rounded_value(0)));  // Inf - Inf
  EXPECT_TRUE(std::isnan(R.y.rounded_value(0)));
  EXPECT_TRUE(std::isnan(R.y.rounded_value(2)));
  EXPECT_EQ(R.running_mean.rounded_value(0), HUGE_VAL);
  EXPECT_EQ(R.save_mean.any_nonfinite[1], 0);
  EXPECT_EQ(R.save_mean.rounded_value(1), 1.5);
  EXPECT_TRUE(std::isfinite(R.y.rounded_value(1)));
  EXPECT_TRUE(std::isfinite(R.y.rounded_value(3)));
  // Backward: a NaN dy poisons its channel only.
  Problem b = parse_problem("n=2,c=2,dt=f32,pdt=f32,dir=bwd");
  const Reference G = compute_reference(b, b.conv, explicit_data(b, {0, 1, 3, 2}, {std::nan(""), 1, 1, -1}));
  EXPECT_TRUE(std::isnan(G.dbeta.rounded_value(0)));  // IEEE sum with a NaN
  EXPECT_EQ(G.dx.any_nonfinite[2], 1);                // non-finite, kind order-dependent
  EXPECT_EQ(G.dx.any_nonfinite[3], 0);
  // A non-finite x leaves dbeta = sum dy: finite.
  const Reference X = compute_reference(b, b.conv, explicit_data(b, {HUGE_VAL, 1, 3, 2}, {1, 1, 0.5, -1}));
  EXPECT_EQ(X.dbeta.rounded_value(0), 1.5);
  EXPECT_TRUE(std::isnan(X.dgamma.rounded_value(0)));
  EXPECT_TRUE(std::isnan(X.dx.rounded_value(0)));
  EXPECT_EQ(G.dbeta.rounded_value(1), 0.0);
  EXPECT_TRUE(std::isfinite(G.dx.rounded_value(3)));
  // Inference: elementwise IEEE.
  Problem i = parse_problem("n=2,c=1,dt=f32,pdt=f32,dir=fwd_infer,eps=0");
  const Reference I = compute_reference(i, i.conv, explicit_data(i, {-HUGE_VAL, 0.5}));
  EXPECT_EQ(I.y.rounded_value(0), -HUGE_VAL);
  EXPECT_EQ(I.y.rounded_value(1), 0.5);
}

TEST(Reference, ExactFillHasExactStatistics) {
  for (const char* desc : {"n=4,c=5,sp=6,fill=exact:3:0.125", "n=2,c=3,sp=8x8,fill=exact:-100:0.5,dt=f16",
                           "n=3,c=2,sp=5,fill=exact:1:1"}) {
    const Problem p = parse_problem(desc);
    const Reference R = compute_reference(p, p.conv, make_case_data(p));
    const bool even = p.reduction_size() % 2 == 0;
    for (int64_t c = 0; c < p.c; ++c) {
      const ChannelRef& cr = R.channel[c];
      EXPECT_EQ(R.save_mean.lo[c], 0.0) << desc;  // mean exactly representable
      EXPECT_EQ(cr.mean, std::ldexp(std::nearbyint(std::ldexp(cr.mean, 10)), -10)) << desc;
      if (even) {
        EXPECT_EQ(cr.var, p.fill.spread * p.fill.spread) << desc;
      }
    }
  }
}
