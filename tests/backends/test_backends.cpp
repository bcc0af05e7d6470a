// Every registered backend over the smoke suite (one test body, all backends), and
// the precision study's core claim: the weak one-pass baseline fails ill-conditioned
// data that the honest implementations pass.
#include <gtest/gtest.h>

#include "bncheck/backend.hpp"
#include "harness/runner.hpp"
#include "harness/suites.hpp"

using namespace bncheck;

namespace {

std::vector<std::string> backend_names() {
  std::vector<std::string> v;
  for (auto& b : make_builtin_backends()) v.push_back(b->name());
  return v;
}

std::unique_ptr<Backend> builtin(const std::string& name) {
  for (auto& b : make_builtin_backends())
    if (b->name() == name) return std::move(b);
  return nullptr;
}

class EveryBackend : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(EveryBackend, PassesTheSmokeSuite) {
  auto b = builtin(GetParam());
  if (!b->availability().available) GTEST_SKIP() << b->name() << " unavailable: " << b->availability().reason;
  int passed = 0;
  Baseline baseline = parse_baseline(builtin_baseline(), "known-failures.baseline");
  for (const Problem& p : load_suite("smoke", 1)) {
    if (b->weak() && p.fill.mean >= 1e3) continue;  // the weak baseline's known failure, tested below
    CaseRunner r(p);
    const CaseReport rep = r.run(*b);
    if (rep.verdict == Verdict::unsupported) continue;
    if (rep.verdict == Verdict::fail && baseline.find(b->name(), p)) continue;  // third-party, docs/findings.md
    EXPECT_EQ(rep.verdict, Verdict::pass) << b->name() << " " << to_string(p) << ": " << rep.message;
    ++passed;
  }
  EXPECT_GT(passed, 0) << "no smoke problem was supported: the test would prove nothing";
}

INSTANTIATE_TEST_SUITE_P(Registry, EveryBackend, ::testing::ValuesIn(backend_names()),
                         [](const auto& info) { return info.param; });

TEST(PrecisionStudy, WeakOnePassFailsIllConditionedWhileHonestOnesPass) {
  for (const char* d : {"n=4,c=8,sp=14x14,fill=normal:1e4:1", "n=2,c=4,sp=28x28,layout=cl,fill=normal:1e4:1"}) {
    CaseRunner r(parse_problem(d));
    auto weak = builtin("cpu_one_pass_naive");
    auto two = builtin("cpu_two_pass");
    auto wel = builtin("cpu_welford");
    EXPECT_EQ(r.run(*weak).verdict, Verdict::fail) << d;
    EXPECT_EQ(r.run(*two).verdict, Verdict::pass) << d;
    EXPECT_EQ(r.run(*wel).verdict, Verdict::pass) << d;
  }
  // Well-conditioned, the weak baseline passes: the failure is the conditioning's.
  CaseRunner ok(parse_problem("n=4,c=8,sp=14x14,fill=normal:0:1"));
  EXPECT_EQ(ok.run(*builtin("cpu_one_pass_naive")).verdict, Verdict::pass);
}

TEST(Registry, WeakBackendsAreMarked) {
  EXPECT_TRUE(builtin("cpu_one_pass_naive")->weak());
  EXPECT_FALSE(builtin("cpu_two_pass")->weak());
  EXPECT_FALSE(builtin("cpu_welford")->weak());
}

// Split statistics on our CPU backends: uneven, empty and one-sample slices, both
// layouts, every dtype pairing, and the ranges where M2 or 1/sqrt(var + eps) leave the
// double range of an unscaled merge (data near the square root of the maximum, spreads
// near the subnormal range with eps = 0). A backend without the entry points is
// UNSUPPORTED on a split problem, never a pass.
TEST(SplitStatistics, OurCpuBackendsMatchTheWholeBatch) {
  const char* cases[] = {"n=9,c=3,sp=4,fill=normal:5:1,split=4:0:1:4",
                         "n=5,c=2,sp=2x3,layout=cl,dt=f16,pdt=f32,split=1:1:1:1:1",
                         "n=6,c=2,sp=7,dt=bf16,pdt=bf16,split=0:6:0",
                         "n=3,c=2,dt=f64,pdt=f64,fill=normal:1e4:1,split=1:0:2",
                         "n=40,c=1,sp=5,dt=f64,pdt=f64,fill=normal:6.7e153:3.3e153,split=20:10:5:3:1:1",
                         "n=40,c=1,sp=5,dt=f64,pdt=f64,eps=0,fill=normal:0:4e-308,split=20:10:5:3:1:1",
                         "n=8,c=2,sp=3,rvar=biased,momdir=old,save=var,split=3:5"};
  for (const char* name : {"cpu_two_pass", "cpu_welford"}) {
    auto b = builtin(name);
    ASSERT_NE(b->split_kind(), SplitKind::none) << name;
    for (const char* d : cases) {
      CaseRunner r(parse_problem(d));
      const CaseReport rep = r.run(*b);
      EXPECT_EQ(rep.verdict, Verdict::pass) << name << " " << d << ": " << rep.message;
    }
  }
  CaseRunner r(parse_problem(cases[0]));
  EXPECT_EQ(r.run(*builtin("cpu_one_pass_naive")).verdict, Verdict::unsupported);
}
