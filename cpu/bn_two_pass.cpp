// Two-pass batch norm accumulating in higher precision than the data: f64 sums for
// f32/f16/bf16 data, x87 long double (64-bit significand) sums for f64 data.
// Mean first, then the sum of squared deviations from it: the variance does not
// suffer the cancellation of E[x^2] - E[x]^2.
#include "cpu/cpu_common.hpp"

namespace bncheck::cpu {
namespace {

template <class T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, long double, double>;

class TwoPass final : public Backend {
 public:
  std::string name() const override { return "cpu_two_pass"; }
  std::string description() const override {
    return "ours: two-pass statistics, f64 accumulation (long double for f64 data); no fast-math, no FTZ";
  }
  Support supports(const Problem& p) const override { return cpu_supports(p); }
  Numerics numerics(const Problem& p) const override {
    Numerics n;
    n.accumulation_bits = n.compute_bits = p.dtype == Dtype::f64 ? std::numeric_limits<long double>::digits : 53;
    n.stats = StatsAlgorithm::two_pass;
    n.sum_based_stats = true;
    return n;
  }

  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    with_storage(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t c = 0; c < p.c; ++c) two_pass_channel<T, acc_t<T>>(p, c, a);
    });
    return Status::success();
  }

  // Split statistics: two passes over the slice, exchanged as (mean, std).
  SplitKind split_kind() const override { return SplitKind::mean_std; }
  Status local_stats(const Problem& p, const LocalStatsArgs& a) override {
    with_storage(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = acc_t<T>;
      for (int64_t c = 0; c < p.c; ++c) {
        if (p.reduction_size() == 0) {
          store_local_stats(a.stats, c, 0, 0);
          continue;
        }
        const auto [mean, sq] = two_pass_sums<T, A>(p, c, a.x);
        store_local_stats(a.stats, c, static_cast<double>(mean),
                          static_cast<double>(std::sqrt(sq / static_cast<A>(p.reduction_size()))));
      }
    });
    return Status::success();
  }
  Status merge_stats(const Problem& p, const MergeStatsArgs& a) override { return merge_mean_std(p, a); }
  Status apply_stats(const Problem& p, const ApplyStatsArgs& a) override { return apply_merged(p, a); }

  Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) override {
    with_storage(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t c = 0; c < p.c; ++c) inference_channel<T, acc_t<T>>(p, c, a);
    });
    return Status::success();
  }

  Status backward(const Problem& p, const BackwardArgs& a) override {
    with_storage(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = acc_t<T>;
      for (int64_t c = 0; c < p.c; ++c) {
        const A mean = static_cast<A>(load_param(a.save_mean, p.pdtype, c));
        const A r = saved_invstd<A>(p, a, c);
        A dbeta = 0, dgamma = 0;
        for_channel(p, c, [&](size_t i) {
          const A dy = static_cast<A>(load<T>(a.dy, i));
          dbeta += dy;
          dgamma += dy * (static_cast<A>(load<T>(a.x, i)) - mean) * r;
        });
        backward_apply<T, A>(p, c, a, mean, r, dbeta, dgamma);
      }
    });
    return Status::success();
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_two_pass() { return std::make_unique<TwoPass>(); }

}  // namespace bncheck::cpu
