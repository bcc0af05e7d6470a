// Every invariant of BN as a RapidCheck property on your own backend, in your own
// GoogleTest binary (link bncheck::properties and rapidcheck's gtest integration):
//
//   #include <bncheck/rapidcheck.hpp>
//   MyBN my_bn;
//   BNCHECK_RC_PROPERTIES(MyBN, my_bn)      // one RC_GTEST_PROP per invariant
//
// Problems come from bncheck's generator (shapes, dtypes, layouts, fills from benign to
// ill-conditioned, poisoned channels), shrunk by RapidCheck to a minimal failing one; a
// failure names the property, the minimal problem and its seed, and the line that
// reruns the test.
#pragma once

#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <string>

#include "bncheck/gtest.hpp"
#include "bncheck/problem.hpp"
#include "bncheck/properties.hpp"

namespace bncheck {

// The generator of `bncheck props` (at most 4096 elements a problem).
rc::Gen<Problem> property_problems();

namespace rc_detail {

inline void holds(const char* property, Backend& b, const Problem& generated, uint64_t aux) {
  const Problem p = property_problem(property, generated);
  RC_LOG() << "problem: " << to_string(p) << "  aux: " << aux << "\n";
  const PropertyOutcome r = check_property(property, &b, generated, aux);
  if (!r.applicable) return;  // the case says nothing about this property
  if (!r.holds)
    RC_FAIL(std::string(property) + " on " + b.name() + ": " + r.message + "\n  problem: " + to_string(p) +
            "\n  aux: " + std::to_string(aux) + "\n  rerun: " + ::bncheck::testing::rerun_line());
}

}  // namespace rc_detail
}  // namespace bncheck

// One RapidCheck property, Suite.Name, checking invariant `property` on backend_expr.
#define BNCHECK_RC_PROPERTY(Suite, Name, property, backend_expr)     \
  RC_GTEST_PROP(Suite, Name, ()) {                                   \
    const ::bncheck::Problem p_ = *::bncheck::property_problems();   \
    const uint64_t aux_ = *::rc::gen::arbitrary<uint64_t>();         \
    ::bncheck::rc_detail::holds(property, (backend_expr), p_, aux_); \
  }

// Every invariant of `bncheck props --list` on backend_expr (a bncheck::Backend lvalue).
#define BNCHECK_RC_PROPERTIES(Suite, backend_expr)                                                     \
  BNCHECK_RC_PROPERTY(Suite, ZeroMeanUnitVariance, "zero_mean_unit_variance", backend_expr)            \
  BNCHECK_RC_PROPERTY(Suite, DmuCancellation, "dmu_cancellation", backend_expr)                        \
  BNCHECK_RC_PROPERTY(Suite, ScaleInvariance, "scale_invariance", backend_expr)                        \
  BNCHECK_RC_PROPERTY(Suite, ShiftInvariance, "shift_invariance", backend_expr)                        \
  BNCHECK_RC_PROPERTY(Suite, AffineRecovery, "affine_recovery", backend_expr)                          \
  BNCHECK_RC_PROPERTY(Suite, SignSymmetry, "sign_symmetry", backend_expr)                              \
  BNCHECK_RC_PROPERTY(Suite, InferenceFolding, "inference_folding", backend_expr)                      \
  BNCHECK_RC_PROPERTY(Suite, EquivarianceIndependence, "equivariance_independence", backend_expr)      \
  BNCHECK_RC_PROPERTY(Suite, RunningStatistics, "running_statistics", backend_expr)                    \
  BNCHECK_RC_PROPERTY(Suite, GradientCentralDifferences, "gradient_central_differences", backend_expr) \
  BNCHECK_RC_PROPERTY(Suite, Determinism, "determinism", backend_expr)                                 \
  BNCHECK_RC_PROPERTY(Suite, SplitEquivalence, "split_equivalence", backend_expr)
