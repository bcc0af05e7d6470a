// Two-pass batch norm accumulating in the compute type (f32, f64 for f64 data) with
// plain recursive sums: the textbook two-pass algorithm of Chan, Golub & LeVeque (1983)
// at the data's precision, whose relative variance error grows like M u + (M u kappa)^2.
// An honest implementation, kept as a baseline for precision studies (`bncheck study
// --preset variance-algorithms`); it runs only when named, never under `all`.
#include "cpu/cpu_common.hpp"

namespace bncheck::cpu {
namespace {

class TwoPassF32 final : public Backend {
 public:
  std::string name() const override { return "cpu_two_pass_f32"; }
  std::string description() const override {
    return "ours, study baseline: two-pass statistics, recursive f32 sums (f64 for f64 data); no fast-math, no FTZ";
  }
  bool weak() const override { return true; }
  Support supports(const Problem& p) const override { return cpu_supports(p); }
  Numerics numerics(const Problem& p) const override {
    Numerics n;
    n.accumulation_bits = n.compute_bits = p.dtype == Dtype::f64 ? 53 : 24;
    n.stats = StatsAlgorithm::two_pass;
    n.sum_based_stats = true;
    return n;
  }

  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    with_storage(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t c = 0; c < p.c; ++c) two_pass_channel<T, compute_t<T>>(p, c, a);
    });
    return Status::success();
  }

  Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) override {
    with_storage(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t c = 0; c < p.c; ++c) inference_channel<T, compute_t<T>>(p, c, a);
    });
    return Status::success();
  }

  Status backward(const Problem& p, const BackwardArgs& a) override {
    with_storage(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t c = 0; c < p.c; ++c) recursive_backward_channel<T, compute_t<T>>(p, c, a);
    });
    return Status::success();
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_two_pass_f32() { return std::make_unique<TwoPassF32>(); }

}  // namespace bncheck::cpu
