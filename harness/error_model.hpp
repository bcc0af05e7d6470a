// Error budgets: docs/error-model.md derives every term used here.
#pragma once

#include <cmath>
#include <vector>

#include "bncheck/backend.hpp"
#include "harness/case_data.hpp"
#include "reference/reference.hpp"

namespace bncheck {

// Confidence factor of the probabilistic summation bound (Higham & Mary 2019,
// Thm 3.1): |error| <= lambda sqrt(n) u sum|x_i| fails with probability below
// n * 2 exp(-lambda^2 / 2), about 1e-8 for n = 1e6 at lambda = 8.
inline constexpr double kLambda = 8.0;

// The budgets are first-order. Every budget is multiplied by 1 + 2^-10: that covers
// the second-order terms (products of two first-order relative errors) whenever those
// are below 2^-10, and the double-precision evaluation of the budget itself. Exact
// budgets (0) stay exact.
inline constexpr double kSecondOrderFactor = 1.0 + 0x1p-10;

// c(M): the multiple of u * sum|terms| that bounds the error of summing M terms:
// the deterministic (M-1) for small M, lambda sqrt(M-1) beyond.
double summation_factor(int64_t M);

// Half the spacing of dtype at v (0 for non-finite v).
inline double half_ulp(double v, Dtype dt) {
  const double u = ulp(v, dt);
  return std::isfinite(u) ? 0.5 * u : 0.0;
}

// Budget of each output, same shapes as the reference (empty where not produced).
struct Budget {
  std::vector<double> y, save_mean, save_stat, running_mean, running_var;
  std::vector<double> dx, dgamma, dbeta;
};

// Per-element and per-channel budgets of an honest implementation with numerics nx.
// For backward, d.save_mean / d.save_stat must hold the statistics the backend was
// given: their actual distance to the exact statistics enters the budget.
// output_rounding = false leaves out the final rounding to the output dtype (for
// quantities that are not stored, e.g. the reference's own double-double results).
// rows: the budgets of y for rows [n0, n1) of a forward (n1 < 0: every row), against a
// reference of those rows (RowReference::rows); the per-channel budgets are whole.
struct Rows {
  int64_t n0 = 0, n1 = -1;
};
Budget compute_budget(const Problem& p, const Conventions& conv, const Numerics& nx, const CaseData& d,
                      const Reference& ref, bool output_rounding = true, Rows rows = {});

}  // namespace bncheck
