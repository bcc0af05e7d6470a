// The descriptor: round trip, defaults, aliases, and error messages that name the token.
#include <gtest/gtest.h>

#include "bncheck/problem.hpp"
#include "harness/split.hpp"
#include "harness/suites.hpp"

using namespace bncheck;

TEST(Descriptor, RoundTripsEveryField) {
  Problem p;
  p.n = 7;
  p.c = 13;
  p.rank = 3;
  p.spatial = {2, 3, 5};
  p.layout = Layout::channels_last;
  p.dtype = Dtype::bf16;
  p.pdtype = Dtype::f64;
  p.dir = Direction::bwd;
  p.eps = 1.0 / 3.0;
  p.momentum = 0.3;
  p.affine = false;
  p.fill = {FillKind::uniform, -1e10, 0.1};
  p.seed = 1234567890123ull;
  p.conv = {RunningVar::biased, MomentumDir::old_stat, SavedStat::variance};
  const std::string s = to_string(p);
  EXPECT_EQ(parse_problem(s), p) << s;
  EXPECT_EQ(to_string(parse_problem(s)), s);
}

// Split problems: the slices round-trip, must hold n, exist only in forward training,
// and stay consistent when n or the direction changes (fit_split); every shape of
// draw_split holds n.
TEST(Descriptor, SplitRoundTripsAndIsValidated) {
  const Problem p = parse_problem("n=9,c=2,sp=3,split=4:0:1:4");
  EXPECT_EQ(p.split, (std::vector<int64_t>{4, 0, 1, 4}));
  EXPECT_EQ(parse_problem(to_string(p)), p);
  EXPECT_NE(to_string(p).find(",split=4:0:1:4"), std::string::npos) << to_string(p);
  for (const char* bad : {"n=9,c=2,split=4:0:1", "n=9,c=2,split=4::5", "n=9,c=2,split=10:-1",
                          "n=4,c=1,dir=bwd,split=2:2", "n=4,c=1,split=", "n=4,c=1,split=a:4"})
    EXPECT_THROW(parse_problem(bad), DescriptorError) << bad;
  std::string many = "n=4097,c=1,split=1";
  for (int i = 1; i < 4097; ++i) many += ":1";
  EXPECT_THROW(parse_problem(many), DescriptorError);
  EXPECT_NO_THROW(parse_problem(many.substr(0, many.size() - 2).replace(2, 4, "4096")));

  Problem q = p;
  q.n = 5;  // samples come off the last slices
  fit_split(q);
  EXPECT_EQ(q.split, (std::vector<int64_t>{4, 0, 1, 0}));
  q.n = 12;  // and are added to the last one
  fit_split(q);
  EXPECT_EQ(q.split, (std::vector<int64_t>{4, 0, 1, 7}));
  q.dir = Direction::fwd_infer;
  fit_split(q);
  EXPECT_TRUE(q.split.empty());

  for (int64_t n : {1, 2, 7, 64, 65, 1000})
    for (uint64_t seed = 0; seed < 200; ++seed) {
      const std::vector<int64_t> s = draw_split(n, seed);
      ASSERT_GE(s.size(), 1u);
      ASSERT_LE(s.size(), 64u);
      int64_t sum = 0;
      for (int64_t k : s) {
        ASSERT_GE(k, 0);
        sum += k;
      }
      ASSERT_EQ(sum, n) << "seed " << seed;
    }
}

TEST(Descriptor, RoundTripsEverySuiteLine) {
  for (const auto& suite : builtin_suites())
    for (const Problem& p : parse_suite(suite.text, suite.name, 99)) {
      EXPECT_EQ(parse_problem(to_string(p)), p) << suite.name << ": " << to_string(p);
    }
}

TEST(Descriptor, DefaultsAndCanonicalForm) {
  const Problem p = parse_problem("n=2,c=64,sp=56x56");
  EXPECT_EQ(p.rank, 2);
  EXPECT_EQ(p.reduction_size(), 2 * 56 * 56);
  EXPECT_EQ(to_string(p),
            "n=2,c=64,sp=56x56,layout=cf,dt=f32,pdt=f32,dir=fwd_train,eps=1e-05,mom=0.1,"
            "affine=1,fill=normal:0:1,seed=1");
  EXPECT_EQ(parse_problem("n=1,c=2,layout=nhwc").layout, Layout::channels_last);
  EXPECT_EQ(parse_problem("n=1,c=2,layout=ncdhw").layout, Layout::channels_first);
  EXPECT_EQ(parse_problem("n=1,c=2,fill=exact:3:0.125").fill.kind, FillKind::exact);
}

TEST(Descriptor, IndexFollowsLayout) {
  Problem p = parse_problem("n=2,c=3,sp=4x5");
  EXPECT_EQ(p.index(1, 2, 7), (1 * 3 + 2) * 20 + 7);
  p.layout = Layout::channels_last;
  EXPECT_EQ(p.index(1, 2, 7), (1 * 20 + 7) * 3 + 2);
}

namespace {
std::string error_of(const std::string& desc) {
  try {
    parse_problem(desc);
  } catch (const DescriptorError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Descriptor, ErrorsNameTheOffendingToken) {
  struct Case {
    const char* desc;
    const char* token;
  };
  const Case cases[] = {
      {"n=2,c=x3", "'c=x3'"},
      {"n=2,c=3,sp=4x0", "'sp=4x0'"},
      {"n=2,c=3,sp=1x2x3x4", "'sp=1x2x3x4'"},
      {"n=2,c=3,dt=f8", "'dt=f8'"},
      {"n=2,c=3,layout=nchwc", "'layout=nchwc'"},
      {"n=2,c=3,eps=-1", "'eps=-1'"},
      {"n=2,c=3,mom=1.5", "'mom=1.5'"},
      {"n=2,c=3,fill=normal:1", "'fill=normal:1'"},
      {"n=2,c=3,fill=exact:1:0.3", "'fill=exact:1:0.3'"},
      {"n=2,c=3,bogus=1", "'bogus=1'"},
      {"n=2,c=3,affine", "'affine'"},
      {"n=2,c=3,dir=fwd", "'dir=fwd'"},
      {"n=2,c=3,rvar=bessel", "'rvar=bessel'"},
      {"n=0,c=3", "'n=0'"},
  };
  for (const auto& c : cases) {
    const std::string e = error_of(c.desc);
    EXPECT_NE(e.find(c.token), std::string::npos) << c.desc << " -> " << e;
  }
  EXPECT_NE(error_of("c=3").find("lacks n="), std::string::npos);
  EXPECT_NE(error_of("n=3").find("lacks c="), std::string::npos);
  EXPECT_NE(error_of("n=3,,c=2").find("empty token"), std::string::npos);
  EXPECT_NE(error_of("n=1048576,c=1048576,sp=1048576x1048576").find("2^62"), std::string::npos);
}

TEST(Suites, AlternativesExpandToTheCrossProduct) {
  const auto v = expand_alternatives("n=1,dt={f32|f16},dir={bwd|fwd_train|fwd_infer}");
  ASSERT_EQ(v.size(), 6u);
  EXPECT_EQ(v[0], "n=1,dt=f32,dir=bwd");
  EXPECT_EQ(v[5], "n=1,dt=f16,dir=fwd_infer");
}

TEST(Suites, ErrorsCarryOriginAndLine) {
  try {
    parse_suite("n=1,c=1\n# comment\nn=1,c=1,eps=abc\n", "mysuite", 1);
    FAIL() << "no error";
  } catch (const DescriptorError& e) {
    EXPECT_NE(std::string(e.what()).find("mysuite:3:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'eps=abc'"), std::string::npos) << e.what();
  }
}

TEST(Suites, LinesWithoutSeedTakeTheRunSeed) {
  const auto v = parse_suite("n=1,c=1\nn=1,c=1,seed=5\n", "s", 42);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].seed, 42u);
  EXPECT_EQ(v[1].seed, 5u);
}

TEST(Conventions, ParseIsTheInverseOfToString) {
  // Every combination of the seven conventions round-trips through its text.
  for (int bits = 0; bits < 128; ++bits) {
    Conventions c;
    c.running_var = bits & 1 ? RunningVar::biased : RunningVar::unbiased;
    c.momentum_dir = bits & 2 ? MomentumDir::old_stat : MomentumDir::new_stat;
    c.saved = bits & 4 ? SavedStat::variance : SavedStat::invstd;
    c.keeps_running = !(bits & 8);
    c.zero_var_invstd_is_zero = bits & 16;
    c.eps_float = bits & 32;
    c.single_element_biased = bits & 64;
    EXPECT_TRUE(parse_conventions(to_string(c)) == c) << to_string(c);
  }
  EXPECT_TRUE(parse_conventions("") == Conventions{});
  for (const char* bad : {"rvar=odd", "save", "eps=float,eps=float", "colour=red"}) {
    EXPECT_THROW(parse_conventions(bad), DescriptorError) << bad;
  }
}
