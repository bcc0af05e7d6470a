// The inputs of a case (bncheck/case_data.hpp), generated deterministically from the
// problem's seed.
#pragma once

#include "bncheck/case_data.hpp"

namespace bncheck {

// x, gamma, beta, dy and the running statistics of p (see docs/error-model.md for
// the fills). Saved statistics are left empty: the harness sets them from the reference.
CaseData make_case_data(const Problem& p);

// Bytes the harness needs for a case of p (inputs, outputs, reference) run on
// backends that declare `conventions` different conventions (one reference each): an
// upper bound of the measured peak beyond start-up, used to refuse a problem that does
// not fit in memory before allocating it.
double estimated_case_bytes(const Problem& p, int conventions = 1);

}  // namespace bncheck
