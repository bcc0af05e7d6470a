// Runs one problem on backends: generates the data once, computes the reference once
// per convention, calls each backend on fresh guarded buffers and judges the result.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bncheck/backend.hpp"
#include "harness/case_data.hpp"
#include "harness/check.hpp"
#include "harness/error_model.hpp"
#include "reference/reference.hpp"

namespace bncheck {

// The outputs a backend produced for a case (names as in the reports).
struct CaseOutputs {
  std::vector<std::pair<std::string, Tensor>> tensors;
  const Tensor* find(const std::string& name) const;
};

class CaseRunner {
 public:
  explicit CaseRunner(const Problem& p);
  // A case with explicit data (as make_case_data lays it out), for property tests.
  CaseRunner(const Problem& p, CaseData data);
  const Problem& problem() const { return p_; }
  const CaseData& data() const { return data_; }

  // Runs backend b on the problem. outputs, when non-null, receives what it wrote.
  // Never throws: an exception from the backend is the case's ERROR (SKIPPED when
  // out of memory).
  CaseReport run(Backend& b, CaseOutputs* outputs = nullptr);

  // The reference and the backward inputs under conventions conv (computed once).
  const Reference& reference(const Conventions& conv);
  const CaseData& data_for(const Conventions& conv);

 private:
  struct PerConvention {
    Reference ref;
    CaseData data;   // data_ plus the saved statistics of this convention (backward)
    double seconds = 0;
  };
  PerConvention& get(const Conventions& conv);
  CaseReport run_unguarded(Backend& b, CaseOutputs* outputs);

  Problem p_;
  CaseData data_;
  std::vector<std::pair<Conventions, std::unique_ptr<PerConvention>>> cache_;
};

// A shell word for s, and the one-line command that reruns backend on p.
std::string shell_quote(const std::string& s);
std::string repro_line(const std::string& argv0, const std::string& backend, const Problem& p);

// Writes the inputs, the reference (correctly rounded) and the backend's outputs of a
// case as .npy files under dir, with case.json naming the problem and the backend.
// Returns an error message, empty on success.
std::string save_case(const std::string& dir, CaseRunner& runner, const CaseReport& report,
                      const CaseOutputs& outputs, const std::string& repro);

// Writes one tensor as .npy: f64, f32 and f16 natively; bf16 widened exactly to f32.
// shape is the logical shape in the problem's layout.
bool write_npy(const std::string& path, const Tensor& t, const std::vector<int64_t>& shape);
bool write_npy(const std::string& path, const RefTensor& t, const std::vector<int64_t>& shape);

}  // namespace bncheck
