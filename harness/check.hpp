// Comparison of a backend's outputs with the reference under the error budget, and
// the verdict of a case.
#pragma once

#include <string>
#include <vector>

#include "bncheck/problem.hpp"
#include "bncheck/tensor.hpp"
#include "reference/reference.hpp"

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
  size_t failures = 0;         // beyond budget or special-value mismatch
  size_t unwritten = 0;        // still holding the sentinel
  bool guards_ok = true;
  long long guard_offset = 0;  // first damaged guard byte, relative to the data
  size_t degenerate = 0;       // reference zero or NaN
  double max_ulp = 0, median_ulp = 0;
  double max_ratio = 0;        // largest error / budget
  // Worst element (largest ratio).
  size_t worst = 0;
  double worst_ref = 0, worst_got = 0, worst_err = 0, worst_budget = 0;
};

// Compares got with ref element by element against budget.
TensorReport compare_tensor(const std::string& name, const RefTensor& ref, const Tensor& got,
                            const std::vector<double>& budget);

struct CaseReport {
  std::string backend;
  Problem problem;
  Conventions conv;
  Verdict verdict = Verdict::pass;
  std::string message;                // reason for non-pass verdicts
  std::vector<TensorReport> tensors;
  double seconds_backend = 0, seconds_reference = 0;
  // The worst tensor by ratio (index into tensors), or -1.
  int worst_tensor() const;
};

// Verdict from the tensor reports (for a backend call that returned success).
// main_output names the tensor whose degeneracy makes the case MISTRUSTED.
Verdict decide(std::vector<TensorReport>& tensors, const std::string& main_output, std::string* message);

// Fraction of degenerate reference elements above which a passing case is MISTRUSTED.
inline constexpr double kMistrustFraction = 0.5;

}  // namespace bncheck
