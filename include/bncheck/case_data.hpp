// The inputs of one case: what the reference and every backend of a case read.
#pragma once

#include "bncheck/problem.hpp"
#include "bncheck/tensor.hpp"

namespace bncheck {

struct CaseData {
  Tensor x;                          // dtype, elements()
  Tensor gamma, beta;                // pdtype, c (empty when !affine)
  Tensor dy;                         // dtype, elements() (backward only)
  Tensor running_mean, running_var;  // pdtype, c: forward-training input, forward-inference input
  Tensor save_mean, save_stat;       // pdtype, c: backward input, set from the reference
};

}  // namespace bncheck
