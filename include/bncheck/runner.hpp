// Checking a backend on one problem: CaseRunner generates the problem's data once,
// computes the arbitrary-precision reference once per convention, runs each backend
// on fresh guarded buffers and judges its outputs against the error budget
// (docs/error-model.md). The problems of the built-in suites come from load_suite.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bncheck/backend.hpp"
#include "bncheck/case_data.hpp"
#include "bncheck/problem.hpp"
#include "bncheck/report.hpp"
#include "bncheck/tensor.hpp"

namespace bncheck {

// The outputs a backend produced for a case (names as in the reports).
struct CaseOutputs {
  std::vector<std::pair<std::string, Tensor>> tensors;
  const Tensor* find(const std::string& name) const;
};

class CaseRunner {
 public:
  explicit CaseRunner(const Problem& p);
  // A case with explicit data (laid out as the problem's descriptor says), for property tests.
  CaseRunner(const Problem& p, CaseData data);
  ~CaseRunner();
  CaseRunner(CaseRunner&&) noexcept;
  CaseRunner& operator=(CaseRunner&&) noexcept;

  const Problem& problem() const;
  const CaseData& data() const;

  // Runs backend b on the problem. outputs, when non-null, receives what it wrote.
  // Never throws: an exception from the backend is the case's ERROR (SKIPPED when
  // out of memory).
  CaseReport run(Backend& b, CaseOutputs* outputs = nullptr);

  // The harness's own view of the case (the reference, per-convention inputs):
  // defined in the harness, not part of the public API.
  class Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// The problems of a built-in suite ("default", "smoke", "regressions", ...; `bncheck
// list` names them) or of a suite file, with `seed` for lines that name none. Throws
// DescriptorError.
std::vector<Problem> load_suite(const std::string& name_or_path, uint64_t seed);

}  // namespace bncheck
