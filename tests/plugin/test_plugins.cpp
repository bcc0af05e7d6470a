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
