// Welford's updating algorithm in f32 (f64 for f64 data), over blocks of kBlock
// elements merged pairwise with Chan, Golub and LeVeque's formula, the way a
// parallel kernel reduces. Backward sums use the same blocking.
//
// Range: sigma^2 overflows f32 once |x| > ~1.8e19 (found by `bncheck fuzz`). Each
// channel is therefore scaled by an exact power of two 2^-e, e the exponent of its
// largest |x|, before accumulating; the statistics are scaled back, and y is computed
// from the scaled values (x - mu) * r is scale-free.
#include <vector>

#include "common/bn_math.hpp"  // Welford and Chan merges, shared with the CUDA kernels
#include "cpu/cpu_common.hpp"

namespace bncheck::cpu {
namespace {

constexpr size_t kBlock = 256;

template <class V, class Merge>
V tree_reduce(std::vector<V> v, Merge merge) {
  if (v.empty()) return V{};
  while (v.size() > 1) {
    std::vector<V> next;
    for (size_t i = 0; i + 1 < v.size(); i += 2) next.push_back(merge(v[i], v[i + 1]));
    if (v.size() % 2) next.push_back(v.back());
    v.swap(next);
  }
  return v[0];
}

// x 2^-e, exact. 2^-e itself overflows A when the channel's largest |x| is subnormal
// (e below A's minimum exponent; found by `bncheck fuzz`, f64 data of spread 1e-310):
// then each element is scaled by ldexp instead of one multiplication.
template <class A>
struct PowerOfTwoScale {
  int e;
  A factor;
  explicit PowerOfTwoScale(int e_) : e(e_), factor(std::ldexp(A(1), -e_)) {}
  A operator()(A x) const { return std::isfinite(factor) ? x * factor : std::ldexp(x, -e); }
};

// normalize_channel for statistics of x * 2^-e: y from the scaled values, statistics
// scaled back (they may overflow the parameter type, as the exact ones do).
template <class T, class A>
void scaled_normalize_channel(const Problem& p, int64_t c, const ForwardTrainingArgs& a, A mean_s, A var_s, int e) {
  // r in double: eps * 2^-2e overflows f32 (and f64) for tiny spreads, found by `bncheck fuzz`.
  double r = 0, r_s = 0;
  robust_invstd(static_cast<double>(var_s), p.eps, e, &r, &r_s);
  const PowerOfTwoScale<A> scale(e);
  const double g = a.gamma ? load_param(a.gamma, p.pdtype, c) : 1.0;
  const double b = a.beta ? load_param(a.beta, p.pdtype, c) : 0.0;
  const bool scaled_ok = std::isfinite(r_s) && r_s > 0;
  const double gr = g * (scaled_ok ? r_s : r);
  for_channel(p, c, [&](size_t i) {
    const double d = static_cast<double>(scale(load<T>(a.x, i)) - mean_s);
    store<T>(a.y, i, (scaled_ok ? d * gr : std::ldexp(d * gr, e)) + b);
  });
  const double mean = std::ldexp(static_cast<double>(mean_s), e), var = std::ldexp(static_cast<double>(var_s), 2 * e);

  store_param(a.save_mean, p.pdtype, c, mean);
  store_param(a.save_stat, p.pdtype, c, p.conv.saved == SavedStat::invstd ? r : var);
  update_running<double>(p, c, mean, var, a.running_mean, a.running_var);
}

// Welford over blocks of kBlock of channel c's x 2^-e, merged pairwise; e (the exponent
// of the channel's largest |x|) is returned through *e. blocks is scratch.
template <class T>
gpu::WelfordT<compute_t<T>> channel_stats(const Problem& p, int64_t c, const void* x,
                                          std::vector<gpu::WelfordT<compute_t<T>>>& blocks, int* e) {
  using A = compute_t<T>;
  A amax = 0;
  for_channel(p, c, [&](size_t i) {
    const A v = std::fabs(load<T>(x, i));
    if (v > amax) amax = v;  // NaN and Inf are left to propagate through the sums
  });
  *e = 0;
  if (std::isfinite(amax) && amax > 0) std::frexp(amax, e);
  const PowerOfTwoScale<A> scale(*e);
  blocks.clear();
  size_t k = 0;
  for_channel(p, c, [&](size_t i) {
    if (k++ % kBlock == 0) blocks.emplace_back();
    blocks.back() = gpu::welford_add<A>(blocks.back(), scale(load<T>(x, i)));
  });
  return tree_reduce(blocks, gpu::welford_merge<A>);
}

class Welford final : public Backend {
 public:
  std::string name() const override { return "cpu_welford"; }
  std::string description() const override {
    return "ours: Welford per block of 256 + Chan pairwise merges, f32 accumulation (f64 for f64 data); no fast-math, no FTZ";
  }
  Support supports(const Problem& p) const override { return cpu_supports(p); }
  Numerics numerics(const Problem& p) const override {
    Numerics n;
    n.accumulation_bits = n.compute_bits = p.dtype == Dtype::f64 ? 53 : 24;
    n.stats = StatsAlgorithm::welford;
    n.sum_based_stats = false;
    return n;
  }

  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    with_storage(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = compute_t<T>;
      std::vector<gpu::WelfordT<A>> blocks;
      for (int64_t c = 0; c < p.c; ++c) {
        int e = 0;
        const gpu::WelfordT<A> m = channel_stats<T>(p, c, a.x, blocks, &e);
        scaled_normalize_channel<T, A>(p, c, a, m.mean, m.m2 / m.n, e);
      }
    });
    return Status::success();
  }

  // Split statistics: the same blocked Welford over the slice, exchanged as (mean, std).
  SplitKind split_kind() const override { return SplitKind::mean_std; }
  Status local_stats(const Problem& p, const LocalStatsArgs& a) override {
    with_storage(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = compute_t<T>;
      std::vector<gpu::WelfordT<A>> blocks;
      for (int64_t c = 0; c < p.c; ++c) {
        if (p.reduction_size() == 0) {
          store_local_stats(a.stats, c, 0, 0);
          continue;
        }
        int e = 0;
        const gpu::WelfordT<A> m = channel_stats<T>(p, c, a.x, blocks, &e);
        const double var_s = static_cast<double>(m.m2) / static_cast<double>(m.n);
        store_local_stats(a.stats, c, std::ldexp(static_cast<double>(m.mean), e), std::ldexp(std::sqrt(var_s), e));
      }
    });
    return Status::success();
  }
  Status merge_stats(const Problem& p, const MergeStatsArgs& a) override { return merge_mean_std(p, a); }
  Status apply_stats(const Problem& p, const ApplyStatsArgs& a) override { return apply_merged(p, a); }

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
      using A = compute_t<T>;
      struct Sums {
        A db = 0, dg = 0;
      };
      std::vector<Sums> blocks;
      for (int64_t c = 0; c < p.c; ++c) {
        const A mean = static_cast<A>(load_param(a.save_mean, p.pdtype, c));
        const A r = saved_invstd<A>(p, a, c);
        blocks.clear();
        size_t k = 0;
        for_channel(p, c, [&](size_t i) {
          if (k++ % kBlock == 0) blocks.emplace_back();
          const A dy = load<T>(a.dy, i);
          blocks.back().db += dy;
          blocks.back().dg += dy * ((load<T>(a.x, i) - mean) * r);
        });
        const Sums s = tree_reduce(blocks, [](const Sums& x, const Sums& y) { return Sums{x.db + y.db, x.dg + y.dg}; });
        backward_apply<T, A>(p, c, a, mean, r, s.db, s.dg);
      }
    });
    return Status::success();
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_welford() { return std::make_unique<Welford>(); }

}  // namespace bncheck::cpu
