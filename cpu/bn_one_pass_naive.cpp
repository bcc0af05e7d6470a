// The textbook one-pass batch norm: var = E[x^2] - E[x]^2 with plain recursive sums
// in the compute type (f32, f64 for f64 data). DELIBERATELY WEAK: the subtraction
// cancels about 2 log10(kappa) digits, so ill-conditioned data (|mean|/std >= 1e4 in
// f32) gives garbage variances. Kept as a baseline for precision studies; it runs
// only when named (`--backend cpu_one_pass_naive`), never under `all`.
#include "cpu/cpu_common.hpp"

namespace bncheck::cpu {
namespace {

class OnePassNaive final : public Backend {
 public:
  std::string name() const override { return "cpu_one_pass_naive"; }
  std::string description() const override {
    return "ours, WEAK baseline: one-pass E[x^2]-E[x]^2, recursive f32 sums (f64 for f64 data); no fast-math, no FTZ";
  }
  bool weak() const override { return true; }
  Support supports(const Problem& p) const override { return cpu_supports(p); }
  Numerics numerics(const Problem& p) const override {
    Numerics n;
    n.accumulation_bits = n.compute_bits = p.dtype == Dtype::f64 ? 53 : 24;
    n.stats = StatsAlgorithm::one_pass;
    n.sum_based_stats = true;
    return n;
  }

  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    with_storage(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = compute_t<T>;
      const A M = static_cast<A>(p.reduction_size());
      for (int64_t c = 0; c < p.c; ++c) {
        A s1 = 0, s2 = 0;
        for_channel(p, c, [&](size_t i) {
          const A x = load<T>(a.x, i);
          s1 += x;
          s2 += x * x;
        });
        const A mean = s1 / M;
        normalize_channel<T, A>(p, c, a, mean, s2 / M - mean * mean);
      }
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

std::unique_ptr<Backend> make_cpu_one_pass_naive() { return std::make_unique<OnePassNaive>(); }

}  // namespace bncheck::cpu
