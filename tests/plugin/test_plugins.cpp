// Isolation: each misbehaving plugin gets its own verdict, and the harness lives on.
#include <gtest/gtest.h>

#include "harness/runner.hpp"
#include "plugin/plugin_backend.hpp"

using namespace bncheck;

namespace {

std::unique_ptr<Backend> plugin(const std::string& name, double timeout = 2, bool isolate = true) {
  auto b = load_plugin(std::string(BNCHECK_PLUGIN_DIR) + "/" + name + ".so", {isolate, timeout});
  EXPECT_TRUE(b) << b.error();
  return b ? std::move(*b) : nullptr;
}

CaseReport run(Backend& b, const std::string& desc = "n=2,c=3,sp=4x4") {
  CaseRunner r(parse_problem(desc));
  return r.run(b);
}

}  // namespace

TEST(Plugins, ExamplePluginPassesAndIsIsolated) {
  auto b = plugin("bn_example");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->name(), "bn_example");
  EXPECT_NE(b->description().find("[isolated]"), std::string::npos);
  for (const char* d : {"n=2,c=3,sp=4x4", "n=2,c=3,sp=4x4,layout=cl,dir=bwd",
                        "n=3,c=2,sp=5,dt=f64,pdt=f64,dir=fwd_infer", "n=2,c=5,dir=bwd,affine=0"})
    EXPECT_EQ(run(*b, d).verdict, Verdict::pass) << d;
  EXPECT_EQ(run(*b, "n=2,c=3,dt=f16").verdict, Verdict::unsupported);
}

TEST(Plugins, CrashIsCrashWithTheSignal) {
  auto r = run(*plugin("bad_crash"));
  EXPECT_EQ(r.verdict, Verdict::crash);
  EXPECT_NE(r.message.find("SIGSEGV"), std::string::npos) << r.message;
  r = run(*plugin("bad_abort_"));
  EXPECT_EQ(r.verdict, Verdict::crash);
  EXPECT_NE(r.message.find("SIGABRT"), std::string::npos) << r.message;
  r = run(*plugin("bad_exit_"));
  EXPECT_EQ(r.verdict, Verdict::crash);
  EXPECT_NE(r.message.find("without returning"), std::string::npos) << r.message;
}

TEST(Plugins, HangIsTimeout) {
  const auto r = run(*plugin("bad_hang", 0.5));
  EXPECT_EQ(r.verdict, Verdict::timeout);
  EXPECT_NE(r.message.find("0.5 s"), std::string::npos) << r.message;
}

TEST(Plugins, OutOfBoundsWritesWithOffsets) {
  const size_t ybytes = 2 * 3 * 16 * 4;
  auto r = run(*plugin("bad_oob_near"));
  EXPECT_EQ(r.verdict, Verdict::oob_write);
  EXPECT_NE(r.message.find("y at byte offset " + std::to_string(ybytes + 5)), std::string::npos) << r.message;
  r = run(*plugin("bad_oob_far"));
  EXPECT_EQ(r.verdict, Verdict::oob_write);
  EXPECT_NE(r.message.find("y at byte offset " + std::to_string(ybytes + 8192)), std::string::npos) << r.message;
  r = run(*plugin("bad_underrun"));
  EXPECT_EQ(r.verdict, Verdict::oob_write);
  EXPECT_NE(r.message.find("y at byte offset -1"), std::string::npos) << r.message;
  r = run(*plugin("bad_input_write"));
  EXPECT_EQ(r.verdict, Verdict::oob_write);
  EXPECT_NE(r.message.find("read-only input x at byte offset 0"), std::string::npos) << r.message;
}

TEST(Plugins, UnwrittenNanAndError) {
  EXPECT_EQ(run(*plugin("bad_unwritten")).verdict, Verdict::unwritten);
  EXPECT_EQ(run(*plugin("bad_nans")).verdict, Verdict::fail);
  const auto r = run(*plugin("bad_error_"));
  EXPECT_EQ(r.verdict, Verdict::error);
  EXPECT_NE(r.message.find("returned 7: planted failure: out of cheese"), std::string::npos) << r.message;
}

TEST(Plugins, CrashOnLoadIsAnErrorNotADeath) {
  auto b = load_plugin(std::string(BNCHECK_PLUGIN_DIR) + "/bad_load_crash.so", {});
  EXPECT_FALSE(b);
  EXPECT_NE(b.error().find("crashed while loading"), std::string::npos) << b.error();
  auto missing = load_plugin("/nonexistent/plugin.so", {});
  EXPECT_FALSE(missing);
  EXPECT_NE(missing.error().find("cannot load"), std::string::npos) << missing.error();
}

TEST(Plugins, NoIsolationStillSeesUnwrittenOutputs) {
  EXPECT_EQ(run(*plugin("bad_unwritten", 2, false)).verdict, Verdict::unwritten);
  EXPECT_EQ(run(*plugin("bn_example", 2, false)).verdict, Verdict::pass);
}

// ---- ABI version 2: declared direction support, conventions and numerics ----------------

namespace {
// The tensor a failing case names as its worst (the first tensor over budget).
std::string worst_failing(const CaseReport& r) {
  for (const auto& t : r.tensors)
    if (t.failures > 0) return t.name;
  return "";
}
}  // namespace

TEST(PluginAbi2, InferenceOnlyFoldedFloatEpsilonIsJudgedAsDeclared) {
  auto b = plugin("bn_folded");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->conventions(Problem{}).eps_float);
  EXPECT_TRUE(b->numerics(Problem{}).folds_inference);
  // supports() sees the direction: training and backward are declined, not errors.
  EXPECT_EQ(run(*b, "n=2,c=3,sp=4x4,dir=fwd_train").verdict, Verdict::unsupported);
  EXPECT_EQ(run(*b, "n=2,c=3,sp=4x4,dir=bwd").verdict, Verdict::unsupported);
  // eps = 0.1 is not a float: with a tiny running variance the float epsilon matters,
  // and the reference uses it too.
  for (const char* d : {"n=2,c=3,sp=4x4,dir=fwd_infer", "n=3,c=5,sp=7,layout=cl,dir=fwd_infer,eps=0.1",
                        "n=4,c=4,sp=3x3,dir=fwd_infer,eps=0.1,fill=normal:1000:1e-3"})
    EXPECT_EQ(run(*b, d).verdict, Verdict::pass) << d;
  // Every output one ulp up in the fold.
  auto bias = plugin("planted_fold_bias");
  EXPECT_EQ(run(*bias, "n=4,c=32,sp=14x14,dir=fwd_infer").verdict, Verdict::fail);
}

TEST(PluginAbi2, KerasConventionsPassAndEachMixIsCaught) {
  auto b = plugin("bn_keras");
  ASSERT_TRUE(b);
  const Conventions cv = b->conventions(Problem{});
  EXPECT_EQ(cv.running_var, RunningVar::biased);
  EXPECT_EQ(cv.momentum_dir, MomentumDir::old_stat);
  EXPECT_EQ(cv.saved, SavedStat::variance);
  for (const char* d : {"n=4,c=3,sp=5x5,mom=0.9", "n=4,c=3,sp=5x5,dir=bwd", "n=1,c=2,dir=fwd_train,mom=0.99"})
    EXPECT_EQ(run(*b, d).verdict, Verdict::pass) << d;
  // Each plant does one convention another way while declaring Keras's.
  const std::pair<const char*, const char*> mixes[] = {{"planted_keras_mix1", "running_mean"},
                                                       {"planted_keras_mix2", "running_var"},
                                                       {"planted_keras_mix3", "save_stat"}};
  for (const auto& [name, tensor] : mixes) {
    const CaseReport r = run(*plugin(name), "n=4,c=3,sp=5x5,mom=0.9");
    EXPECT_EQ(r.verdict, Verdict::fail) << name;
    EXPECT_EQ(worst_failing(r), tensor) << name;
  }
}

TEST(PluginAbi2, VersionOnePluginBuiltAgainstTheOldHeaderLoads) {
  auto b = plugin("bn_example_v1");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->conventions(Problem{}), Conventions{});  // version 1: PyTorch's
  for (const char* d :
       {"n=2,c=3,sp=4x4", "n=2,c=3,sp=4x4,layout=cl,dir=bwd", "n=3,c=2,sp=5,dt=f64,pdt=f64,dir=fwd_infer"})
    EXPECT_EQ(run(*b, d).verdict, Verdict::pass) << d;
}

TEST(PluginAbi2, LaterMinorLoadsAndUnknownValuesAreRefused) {
  auto b = plugin("abi_future");
  ASSERT_TRUE(b);
  EXPECT_EQ(run(*b).verdict, Verdict::pass);
  const auto bad = load_plugin(std::string(BNCHECK_PLUGIN_DIR) + "/abi_future_bad.so", {true, 2});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("conventions.momentum = 7"), std::string::npos) << bad.error();
}

// Minor 0 ends where minor 1's split statistics begin: the loader reads no further.
TEST(PluginAbi2, MinorZeroTableHasNoSplitStatistics) {
  auto b = plugin("abi_minor_zero");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->split_kind(), SplitKind::none);
  EXPECT_EQ(run(*b).verdict, Verdict::pass);
  EXPECT_EQ(run(*b, "n=4,c=2,sp=3,split=1:3").verdict, Verdict::unsupported);
}

// Split statistics through the ABI (minor 1): the example's Chan merge passes uneven,
// empty and one-sample slices; the planted unweighted merge of slice means fails them,
// and passes without a split (the bug is the merge's).
TEST(PluginAbi2, SplitStatisticsAreJudgedAgainstTheWholeBatch) {
  auto good = plugin("bn_example");
  auto bad = plugin("planted_unweighted_merge");
  ASSERT_TRUE(good && bad);
  EXPECT_EQ(good->split_kind(), SplitKind::mean_m2);
  for (const char* d : {"n=9,c=3,sp=4,fill=normal:5:1,split=4:0:1:4", "n=5,c=2,sp=2x3,layout=cl,split=1:1:1:1:1",
                        "n=3,c=2,dt=f64,pdt=f64,split=0:0:3"})
    EXPECT_EQ(run(*good, d).verdict, Verdict::pass) << d;
  EXPECT_EQ(run(*bad, "n=9,c=3,sp=4,fill=normal:5:1,split=4:0:1:4").verdict, Verdict::fail);
  EXPECT_EQ(run(*bad, "n=9,c=3,sp=4,fill=normal:5:1").verdict, Verdict::pass);
}
