// The runner's internals (the public class is in include/bncheck/runner.hpp): the
// reference per convention, the inputs a backward receives, repro lines.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/text.hpp"
#include "bncheck/backend.hpp"
#include "bncheck/runner.hpp"
#include "harness/case_data.hpp"
#include "harness/check.hpp"
#include "harness/error_model.hpp"
#include "reference/reference.hpp"

namespace bncheck {

// The harness's side of CaseRunner (include/bncheck/runner.hpp).
class CaseRunner::Impl {
 public:
  Impl(const Problem& p, CaseData data) : p_(p), data_(std::move(data)) {}
  const Problem& problem() const { return p_; }
  const CaseData& data() const { return data_; }
  CaseReport run(Backend& b, CaseOutputs* outputs);

  // The reference and the backward inputs under conventions conv (computed once).
  const Reference& reference(const Conventions& conv);
  const CaseData& data_for(const Conventions& conv);
  // The budgets of a backend of conventions bp.conv and numerics nx, computed ahead
  // (fuzz: on the thread that prepares the next case) for the run that needs them;
  // nothing for a streamed check.
  void prepare_budget(const Problem& bp, const Numerics& nx);

 private:
  struct PerConvention {
    Reference ref;
    CaseData data;  // data_ plus the saved statistics of this convention (backward)
    double seconds = 0;
    // A streamed check (checked_streamed): the statistics, y rows at a time; ref and
    // data stay empty.
    std::unique_ptr<RowReference> rows;
    // Budgets from prepare_budget, each taken by the first run that needs it.
    std::vector<std::pair<Numerics, std::unique_ptr<Budget>>> budgets;
  };
  PerConvention& get(const Conventions& conv);
  CaseReport run_unguarded(Backend& b, CaseOutputs* outputs);
  CaseReport run_streamed(Backend& b, const Problem& bp, PerConvention& pc, CaseOutputs* outputs, CaseReport& rep);
  void mark_unjudgeable_channels(Reference& ref, const CaseData& d) const;

  Problem p_;
  CaseData data_;
  std::vector<std::pair<Conventions, std::unique_ptr<PerConvention>>> cache_;
};

// A forward of more than 2^27 elements is checked streamed: the reference, budgets and
// comparison of y a part of about 2^22 elements at a time (streamed_rows rows), so that
// the check needs the case's tensors plus O(part) bytes (RowReference,
// TensorComparison). set_streaming changes both sizes (tests).
bool checked_streamed(const Problem& p);
int64_t streamed_rows(const Problem& p);
void set_streaming(int64_t above_elements, int64_t part_elements);

// How many different conventions the backends declare for p: the references a case
// computes (estimated_case_bytes).
int distinct_conventions(const std::vector<Backend*>& backends, const Problem& p);

// The one-line command that reruns backend b on p: every word shell-safe, with the
// options b needs to be found (a plugin's --plugin PATH).
std::string repro_line(const std::string& argv0, const Backend& b, const Problem& p);
// The repro line's options that load b, shell-quoted (for other commands' repro lines).
std::string backend_repro_options(const Backend& b);

}  // namespace bncheck
