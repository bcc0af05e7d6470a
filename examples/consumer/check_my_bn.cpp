// Checking a project's own Batch Normalization in its own test binary, through
// bncheck's public API (bncheck/bncheck.hpp). MyBN is a plain f32 implementation with
// two-pass statistics accumulated in double; MyBN(one_pass) computes the variance as
// E[x^2] - E[x]^2 in float, which loses every digit when |mean| >> std. The test
// passes when bncheck passes the first on a suite and fails the second on an
// ill-conditioned problem, printing the descriptor that reproduces it.
#include <bncheck/bncheck.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "my_bn.hpp"

namespace {

using bncheck::Problem;
using my_bn::MyBN;

// Runs backend b on problems; returns how many cases had each outcome.
struct Tally {
  int passed = 0, failed = 0, other = 0;
};
Tally check(bncheck::Backend& b, const std::vector<Problem>& problems) {
  Tally t;
  for (const Problem& p : problems) {
    bncheck::CaseRunner runner(p);
    const bncheck::CaseReport r = runner.run(b);
    const int w = r.worst_tensor();
    std::printf("%-16s %-12s err/budget %-10.3g %s\n", r.backend.c_str(), to_string(r.verdict),
                w >= 0 ? r.tensors[static_cast<size_t>(w)].max_ratio : 0.0, to_string(p).c_str());
    if (r.verdict == bncheck::Verdict::pass)
      ++t.passed;
    else if (is_failure(r.verdict)) {
      ++t.failed;
      std::printf("  %s\n  rerun: CaseRunner(parse_problem(\"%s\"))\n", r.message.c_str(), to_string(p).c_str());
    } else
      ++t.other;
  }
  return t;
}

}  // namespace

int main() {
  MyBN good(false), weak(true);
  const Tally g = check(good, bncheck::load_suite("smoke", 1));
  const Tally w = check(weak, {bncheck::parse_problem("n=4,c=4,sp=8x8,fill=normal:1e4:1")});
  std::printf("my_bn: %d passed, %d failed, %d not checked; my_bn_one_pass: %d failed\n", g.passed, g.failed, g.other,
              w.failed);
  const bool ok = g.passed > 0 && g.failed == 0 && w.failed == 1;
  std::printf("%s\n", ok ? "as expected" : "NOT as expected");
  return ok ? 0 : 1;
}
