// The inputs of one case, generated deterministically from the problem's seed.
#pragma once

#include "bncheck/problem.hpp"
#include "bncheck/tensor.hpp"

namespace bncheck {

struct CaseData {
  Tensor x;              // dtype, elements()
  Tensor gamma, beta;    // pdtype, c (empty when !affine)
  Tensor dy;             // dtype, elements() (backward only)
  Tensor running_mean, running_var;  // pdtype, c: forward-training input, forward-inference input
  Tensor save_mean, save_stat;       // pdtype, c: backward input, set from the reference
};

// x, gamma, beta, dy and the running statistics of p (see docs/error-model.md for
// the fills). Saved statistics are left empty: the harness sets them from the reference.
CaseData make_case_data(const Problem& p);

// Bytes the harness needs for a case of p (inputs, outputs, reference) run on
// backends that declare `conventions` different conventions (one reference each): an
// upper bound of the measured peak beyond start-up, used to refuse a problem that does
// not fit in memory before allocating it.
double estimated_case_bytes(const Problem& p, int conventions = 1);

}  // namespace bncheck
