// Comparison of a backend's outputs with the reference under the error budget, and
// the verdict of a case.
#pragma once

#include <string>
#include <vector>

#include "bncheck/problem.hpp"
#include "bncheck/report.hpp"
#include "bncheck/tensor.hpp"
#include "reference/reference.hpp"

namespace bncheck {

// Compares got with ref element by element against budget.
TensorReport compare_tensor(const std::string& name, const RefTensor& ref, const Tensor& got,
                            const std::vector<double>& budget);

// Verdict from the tensor reports (for a backend call that returned success).
// main_output names the tensor whose degeneracy makes the case MISTRUSTED.
Verdict decide(std::vector<TensorReport>& tensors, const std::string& main_output, std::string* message);

// Fraction of degenerate reference elements above which a passing case is MISTRUSTED.
inline constexpr double kMistrustFraction = 0.5;

}  // namespace bncheck
