// The twelve properties by name (the families live in properties/statistics.cpp,
// invariance.cpp, structure.cpp, training.cpp and split.cpp). Sums over outputs are exact (256
// bits): no float accumulator decides a property.
#include "properties/support.hpp"

namespace bncheck::props {

using namespace detail;

namespace {
// The direction each property runs a generated problem in.
Direction keep(Direction d) { return d; }
Direction train(Direction) { return Direction::fwd_train; }
Direction backward(Direction) { return Direction::bwd; }
Direction infer(Direction) { return Direction::fwd_infer; }
Direction train_or_bwd(Direction d) { return d == Direction::fwd_infer ? Direction::fwd_train : d; }
}  // namespace

Problem effective_problem(const Property& prop, Problem p) {
  p.dir = prop.direction(p.dir);
  return p;
}

const std::vector<Property>& all() {
  static const std::vector<Property> v = {
      {"zero_mean_unit_variance", "training output has mean beta and variance gamma^2 var/(var+eps)",
       zero_mean_unit_variance, train},
      {"dmu_cancellation", "the dmu term vanishes: sum dx = 0, sum dx*xhat = gamma r dgamma eps/(var+eps)",
       dmu_cancellation, backward},
      {"scale_invariance", "BN(aWu) = BN(Wu) with eps*a^2; du agree, d(aW) = dW/a; scale-exactness reported",
       scale_invariance, train_or_bwd},
      {"shift_invariance", "BN(x + b) = BN(x), b per channel and large against sigma", shift_invariance, train_or_bwd},
      {"affine_recovery", "gamma = sqrt(var+eps), beta = mean gives back x", affine_recovery, train},
      {"sign_symmetry", "BN(-x; -beta, -rm) = -BN(x; beta, rm) bitwise: no rounding leans one way", sign_symmetry,
       keep},
      {"inference_folding", "eval output is the folded affine map; x = running mean gives beta exactly",
       inference_folding, infer},
      {"equivariance_independence", "permutations commute, channels are independent, layouts agree",
       equivariance_independence, keep},
      {"running_statistics", "M = 1 policy; repeated steps converge to the population statistics", running_statistics,
       train},
      {"gradient_central_differences", "backward against central differences of the 256-bit forward",
       gradient_central_differences, backward},
      {"determinism", "the same call twice gives bitwise-identical results", determinism, keep},
      {"split_equivalence", "distributed BN: any split of the batch into K <= 64 ranks gives the whole batch's outputs",
       split_equivalence, train},
  };
  return v;
}

const Property* find(const std::string& name) {
  for (const auto& p : all())
    if (name == p.name) return &p;
  return nullptr;
}

}  // namespace bncheck::props
