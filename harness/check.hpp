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

// compare_tensor over a tensor too large to hold its reference whole (a streamed check):
// add() the reference and budgets of consecutive parts of got, from its first element
// on, then report(): the same report as compare_tensor, but for the median error in
// ULPs, which is the lower end of its bin in a histogram of the errors' float bits
// (bins 2^-11 wide relative to their values; 4 MiB of counts).
class TensorComparison {
 public:
  // got: the backend's output of `count` elements (outlives this); want: the reference's dtype.
  TensorComparison(const std::string& name, const Tensor& got, Dtype want, size_t count);
  void add(const RefTensor& ref, const std::vector<double>& budget);
  // Throws std::logic_error where elements were left out.
  TensorReport report() const;

 private:
  static constexpr int kDroppedBits = 12;
  TensorReport r_;
  const Tensor& got_;
  bool ok_;
  size_t done_ = 0;
  uint32_t max_bits_ = 0;
  std::vector<uint64_t> histogram_;
};

// Verdict from the tensor reports (for a backend call that returned success).
// main_output names the tensor whose degeneracy makes the case MISTRUSTED.
Verdict decide(std::vector<TensorReport>& tensors, const std::string& main_output, std::string* message);

// Fraction of degenerate reference elements above which a passing case is MISTRUSTED.
inline constexpr double kMistrustFraction = 0.5;

}  // namespace bncheck
