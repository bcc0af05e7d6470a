// bncheck in your own GoogleTest binary (link bncheck::harness and GTest):
//
//   #include <bncheck/gtest.hpp>
//   TEST(MyBN, ResNetLayer) { EXPECT_BN_ACCURATE(my_bn, "n=32,c=256,sp=56x56,dt=f16,pdt=f32,dir=bwd"); }
//
// The backend runs on the problem the descriptor names; the check passes when every
// output is within its error budget (docs/error-model.md). Anything else fails,
// UNSUPPORTED included: the message gives the verdict, each failing tensor's largest
// error in ULPs and as a ratio to its budget, its worst element (reference, result,
// budget), and the line that reruns the test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <string>

#include "bncheck/runner.hpp"

namespace bncheck::testing {

// The shell line that reruns the current GoogleTest test (path quoted).
inline std::string rerun_line() {
  char exe[PATH_MAX] = {};
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string q = "'";
  for (const char ch : std::string(n > 0 ? exe : "test-binary"))
    q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  q += "'";
  const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
  return q + " --gtest_filter='" + (t ? std::string(t->test_suite_name()) + "." + t->name() : std::string("*")) + "'";
}

// A predicate-formatter for EXPECT_PRED_FORMAT2: impl (a bncheck::Backend) is accurate
// on the problem `descriptor` describes.
inline ::testing::AssertionResult AccurateOn(const char* impl_text, const char* desc_text, Backend& impl,
                                             const std::string& descriptor) {
  Problem p;
  try {
    p = parse_problem(descriptor);
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << desc_text << ": " << e.what();
  }
  CaseRunner runner(p);
  const CaseReport r = runner.run(impl);
  if (r.verdict == Verdict::pass) return ::testing::AssertionSuccess();
  ::testing::AssertionResult out = ::testing::AssertionFailure();
  out << impl_text << " (" << impl.name() << ") is not accurate on " << to_string(p) << ": " << to_string(r.verdict)
      << (r.message.empty() ? "" : " (" + r.message + ")");
  for (const TensorReport& t : r.tensors) {
    if (!t.failures && !t.unwritten) continue;
    char line[320];
    std::snprintf(line, sizeof line,
                  "\n  %s: %zu of %zu beyond budget; max %.3g ulp, err/budget %.3g; worst [%zu]: ref %.9g got %.9g "
                  "budget %.3g",
                  t.name.c_str(), t.failures, t.count, t.max_ulp, t.max_ratio, t.worst, t.worst_ref, t.worst_got,
                  t.worst_budget);
    out << line;
  }
  out << "\n  rerun: " << rerun_line();
  return out;
}

}  // namespace bncheck::testing

#define EXPECT_BN_ACCURATE(impl, descriptor) EXPECT_PRED_FORMAT2(::bncheck::testing::AccurateOn, impl, descriptor)
#define ASSERT_BN_ACCURATE(impl, descriptor) ASSERT_PRED_FORMAT2(::bncheck::testing::AccurateOn, impl, descriptor)
