// Helpers shared by the tests: problems with explicit data.
#pragma once

#include <vector>

#include "harness/case_data.hpp"

namespace bncheck::testing {

// A channels-first problem with one channel and the given x (and dy), gamma = 1,
// beta = 0, running mean 0 and running variance 1.
inline CaseData explicit_data(const Problem& p, const std::vector<double>& x, const std::vector<double>& dy = {}) {
  CaseData d;
  d.x = Tensor(p.dtype, x.size());
  for (size_t i = 0; i < x.size(); ++i) d.x.set(i, x[i]);
  if (!dy.empty()) {
    d.dy = Tensor(p.dtype, dy.size());
    for (size_t i = 0; i < dy.size(); ++i) d.dy.set(i, dy[i]);
  }
  if (p.affine) {
    d.gamma = Tensor(p.pdtype, p.c);
    d.beta = Tensor(p.pdtype, p.c);
    for (int64_t c = 0; c < p.c; ++c) d.gamma.set(c, 1.0);
  }
  d.running_mean = Tensor(p.pdtype, p.c);
  d.running_var = Tensor(p.pdtype, p.c);
  for (int64_t c = 0; c < p.c; ++c) d.running_var.set(c, 1.0);
  return d;
}

}  // namespace bncheck::testing
