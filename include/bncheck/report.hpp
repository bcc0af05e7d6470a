// What a check of one case says: the verdict, and per output tensor the size of the
// error against its budget (docs/error-model.md).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "bncheck/problem.hpp"

namespace bncheck {

enum class Verdict {
  pass,         // every element within its budget
  fail,         // some element beyond its budget, or a special value mismatched
  mistrusted,   // within budget, but the outputs are degenerate: the check proves little
  unsupported,  // the backend does not implement the problem: never a pass
  error,        // the backend reported an error
  unwritten,    // the backend returned success but left output elements unwritten
  oob_write,    // the backend wrote outside an output buffer
  crash,        // an isolated call died on a signal
  timeout,      // an isolated call did not return within --timeout
  skipped,      // the harness did not run the case (e.g. it does not fit in memory)
  unavailable,  // the backend cannot run on this machine
};
const char* to_string(Verdict v);
// Whether a verdict makes `bncheck run` exit non-zero.
bool is_failure(Verdict v);

struct TensorReport {
  std::string name;
  size_t count = 0;
  size_t failures = 0;   // beyond budget or special-value mismatch
  size_t unwritten = 0;  // still holding the sentinel
  bool guards_ok = true;
  long long guard_offset = 0;  // first damaged guard byte, relative to the data
  size_t degenerate = 0;       // reference zero or NaN
  double max_ulp = 0, median_ulp = 0;
  double max_ratio = 0;  // largest error / budget
  // Worst element (largest ratio).
  size_t worst = 0;
  double worst_ref = 0, worst_got = 0, worst_err = 0, worst_budget = 0;
};

struct CaseReport {
  std::string backend;
  Problem problem;
  Conventions conv;
  Verdict verdict = Verdict::pass;
  std::string message;  // reason for non-pass verdicts
  std::vector<TensorReport> tensors;
  double seconds_backend = 0, seconds_reference = 0;
  // Elementwise reference outputs the fast path left to the 256-bit evaluation (or all
  // of them, with --reference slow), of reference_elements.
  uint64_t reference_slow_elements = 0, reference_elements = 0;
  // The worst tensor by ratio (index into tensors), or -1.
  int worst_tensor() const;
};

}  // namespace bncheck
