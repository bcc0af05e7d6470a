// The inputs of a case (bncheck/case_data.hpp), generated deterministically from the
// problem's seed.
#pragma once

#include <memory>

#include "bncheck/case_data.hpp"

namespace bncheck {

// x, gamma, beta, dy and the running statistics of p (see docs/error-model.md for
// the fills). Saved statistics are left empty: the harness sets them from the reference.
// The same data for any number of threads; up to `threads` of them (the calling one
// included) share the work on large tensors.
CaseData make_case_data(const Problem& p, int threads = 1);

// make_case_data in pieces that any number of threads take in turn: construct it (it
// allocates the tensors and fills the per-channel parameters), call work() from as many
// threads as may help, and take() from one of them: it does what is left and waits for
// the pieces other threads are filling, so a lone take() is make_case_data.
class CaseDataBuilder {
 public:
  explicit CaseDataBuilder(const Problem& p);
  CaseDataBuilder(const CaseDataBuilder&) = delete;
  CaseDataBuilder& operator=(const CaseDataBuilder&) = delete;
  ~CaseDataBuilder();
  // Fills pieces until none is left to take; any number of threads may call it.
  void work();
  // The data, once every piece is filled (also those other threads are filling: it
  // waits for them). Throws std::bad_alloc where a piece could not be filled.
  CaseData take();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Bytes the harness needs for a case of p (inputs, outputs, reference) run on
// backends that declare `conventions` different conventions (one reference each): an
// upper bound of the measured peak beyond start-up, used to refuse a problem that does
// not fit in memory before allocating it.
double estimated_case_bytes(const Problem& p, int conventions = 1);

}  // namespace bncheck
