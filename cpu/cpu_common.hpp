// Pieces shared by our CPU implementations: typed element access, the channel walk,
// the running-statistics update and the elementwise passes. Each backend file
// chooses the precisions and the statistics algorithm; nothing here accumulates.
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

#include "bncheck/backend.hpp"

namespace bncheck::cpu {

template <class T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<storage type>{}) for the data dtype.
template <class F>
decltype(auto) with_storage(Dtype dt, F&& f) {
  switch (dt) {  // NOLINT(bugprone-branch-clone): each branch instantiates f for another type
    case Dtype::f64: return f(TypeTag<double>{});
    case Dtype::f32: return f(TypeTag<float>{});
    case Dtype::f16: return f(TypeTag<f16_t>{});
    case Dtype::bf16: return f(TypeTag<bf16_t>{});
  }
  return f(TypeTag<float>{});
}

// Natural compute type of a storage type: f64 stays f64, the rest compute in f32.
template <class T>
using compute_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <class T>
inline compute_t<T> load(const void* p, size_t i) {
  const T v = static_cast<const T*>(p)[i];
  if constexpr (std::is_same_v<T, f16_t>)
    return f16_to_float(v);
  else if constexpr (std::is_same_v<T, bf16_t>)
    return bf16_to_float(v);
  else
    return v;
}

template <class T, class V>
inline void store(void* p, size_t i, V v) {
  T* out = static_cast<T*>(p);
  // Narrow once from the compute type: going through float first would round twice.
  if constexpr (std::is_same_v<T, f16_t>)
    out[i] = f16_t{static_cast<uint16_t>(round_to_bits(v, Dtype::f16))};
  else if constexpr (std::is_same_v<T, bf16_t>)
    out[i] = bf16_t{static_cast<uint16_t>(round_to_bits(v, Dtype::bf16))};
  else
    out[i] = static_cast<T>(v);
}

// Parameters and statistics (pdtype), per channel: exact reads, rounded writes.
inline double load_param(const void* p, Dtype dt, int64_t c) { return load_as_double(p, dt, static_cast<size_t>(c)); }
inline void store_param(void* p, Dtype dt, int64_t c, double v) { store_rounded(p, dt, static_cast<size_t>(c), v); }

// Visits the elements of channel c in (n, spatial) order: f(linear index).
template <class F>
inline void for_channel(const Problem& p, int64_t c, F&& f) {
  const int64_t S = p.spatial_size();
  for (int64_t n = 0; n < p.n; ++n) {
    const int64_t base = p.index(n, c, 0);
    const int64_t step = p.layout == Layout::channels_first ? 1 : p.c;
    for (int64_t s = 0; s < S; ++s) f(static_cast<size_t>(base + s * step));
  }
}

// Running statistics under convention conv, in compute type Cmp.
template <class Cmp>
inline void update_running(const Problem& p, int64_t c, Cmp mean, Cmp var, void* running_mean, void* running_var) {
  if (!running_mean || !running_var) return;
  const int64_t M = p.reduction_size();
  const Cmp m = static_cast<Cmp>(p.momentum);
  const Cmp w_new = p.conv.momentum_dir == MomentumDir::new_stat ? m : Cmp(1) - m;
  const Cmp w_old = Cmp(1) - w_new;
  Cmp vstat = var;
  if (p.conv.running_var == RunningVar::unbiased)
    // var * (M / (M-1)): var * M first would overflow for var near the type's maximum.
    vstat = M > 1 ? var * (static_cast<Cmp>(M) / static_cast<Cmp>(M - 1)) : std::numeric_limits<Cmp>::quiet_NaN();
  const Cmp rm = static_cast<Cmp>(load_param(running_mean, p.pdtype, c));
  const Cmp rv = static_cast<Cmp>(load_param(running_var, p.pdtype, c));
  store_param(running_mean, p.pdtype, c, static_cast<double>(w_old * rm + w_new * mean));
  store_param(running_var, p.pdtype, c, static_cast<double>(w_old * rv + w_new * vstat));
}

// Saves mean and the statistic of the convention, and applies y = (x - mean) * (gamma r) + beta.
template <class T, class Cmp>
inline void normalize_channel(const Problem& p, int64_t c, const ForwardTrainingArgs& a, Cmp mean, Cmp var) {
  const Cmp r = Cmp(1) / std::sqrt(var + static_cast<Cmp>(p.eps));
  store_param(a.save_mean, p.pdtype, c, static_cast<double>(mean));
  store_param(a.save_stat, p.pdtype, c, static_cast<double>(p.conv.saved == SavedStat::invstd ? r : var));
  const Cmp g = a.gamma ? static_cast<Cmp>(load_param(a.gamma, p.pdtype, c)) : Cmp(1);
  const Cmp b = a.beta ? static_cast<Cmp>(load_param(a.beta, p.pdtype, c)) : Cmp(0);
  const Cmp scale = g * r;
  for_channel(p, c, [&](size_t i) { store<T>(a.y, i, (static_cast<Cmp>(load<T>(a.x, i)) - mean) * scale + b); });
  update_running<Cmp>(p, c, mean, var, a.running_mean, a.running_var);
}

// y = (x - rm) * (gamma / sqrt(rv + eps)) + beta.
template <class T, class Cmp>
inline void inference_channel(const Problem& p, int64_t c, const ForwardInferenceArgs& a) {
  const Cmp rm = static_cast<Cmp>(load_param(a.running_mean, p.pdtype, c));
  const Cmp b = a.beta ? static_cast<Cmp>(load_param(a.beta, p.pdtype, c)) : Cmp(0);
  // The per-channel scale from the parameters' own precision: an f64 running variance
  // beyond FLT_MAX still gives a representable f32 scale (found by `bncheck fuzz`).
  using W = std::conditional_t<(sizeof(Cmp) > sizeof(double)), Cmp, double>;  // the wider of the two
  const W g = a.gamma ? static_cast<W>(load_param(a.gamma, p.pdtype, c)) : W(1);
  const Cmp scale =
      static_cast<Cmp>(g / std::sqrt(static_cast<W>(load_param(a.running_var, p.pdtype, c)) + static_cast<W>(p.eps)));
  for_channel(p, c, [&](size_t i) { store<T>(a.y, i, (static_cast<Cmp>(load<T>(a.x, i)) - rm) * scale + b); });
}

// Inverse std from the saved statistic of the convention.
// A saved variance is read in the wider of its dtype and Cmp: an f64 variance beyond
// FLT_MAX (f32 data near 1e37) still gives a representable f32 inverse std (found by
// `bncheck fuzz`: read in f32 it became infinite, r = 0 and dgamma = 0).
template <class Cmp>
inline Cmp saved_invstd(const Problem& p, const BackwardArgs& a, int64_t c) {
  using W = std::conditional_t<(sizeof(Cmp) > sizeof(double)), Cmp, double>;
  const W s = static_cast<W>(load_param(a.save_stat, p.pdtype, c));
  return static_cast<Cmp>(p.conv.saved == SavedStat::invstd ? s : W(1) / std::sqrt(s + static_cast<W>(p.eps)));
}

// dx = gamma r / M (M dy - dbeta - xhat dgamma), given the channel's sums.
template <class T, class Cmp>
inline void backward_apply(const Problem& p, int64_t c, const BackwardArgs& a, Cmp mean, Cmp r, Cmp dbeta, Cmp dgamma) {
  const Cmp g = a.gamma ? static_cast<Cmp>(load_param(a.gamma, p.pdtype, c)) : Cmp(1);
  const Cmp M = static_cast<Cmp>(p.reduction_size());
  // (g r) * (... / M), not (g r / M) * (...): g r / M goes subnormal for data of large
  // magnitude (r ~ 1e-37 in f32) and loses its bits (found by `bncheck fuzz`).
  const Cmp k = g * r;
  for_channel(p, c, [&](size_t i) {
    const Cmp xh = (static_cast<Cmp>(load<T>(a.x, i)) - mean) * r;
    store<T>(a.dx, i, k * ((M * static_cast<Cmp>(load<T>(a.dy, i)) - dbeta - xh * dgamma) / M));
  });
  if (a.dgamma) store_param(a.dgamma, p.pdtype, c, static_cast<double>(dgamma));
  if (a.dbeta) store_param(a.dbeta, p.pdtype, c, static_cast<double>(dbeta));
}

// r = 1/sqrt(var + eps) and r_s = r 2^e, from var_s = var 2^-2e, without overflow: in
// the channel's units unless eps is out of range there (tiny data), then in real units,
// where var is negligible against eps.
inline void robust_invstd(double var_s, double eps, int e, double* r, double* r_s) {
  const double eps_s = std::ldexp(eps, -2 * e);
  const bool eps_lost = eps > 0 && eps_s == 0 && var_s == 0;  // eps underflowed in these units
  if (std::isfinite(eps_s) && var_s + eps_s > 0 && !eps_lost) {
    *r_s = 1.0 / std::sqrt(var_s + eps_s);
    *r = std::ldexp(*r_s, -e);
  } else {
    *r = 1.0 / std::sqrt(eps + std::ldexp(var_s, 2 * e));
    *r_s = std::ldexp(*r, e);  // may overflow: y is then computed in real units
  }
}

// Two-pass statistics of channel c of x with plain recursive sums in A: the mean and
// the sum of squared deviations from it.
template <class T, class A>
std::pair<A, A> two_pass_sums(const Problem& p, int64_t c, const void* x) {
  const A M = static_cast<A>(p.reduction_size());
  A sum = 0;
  for_channel(p, c, [&](size_t i) { sum += static_cast<A>(load<T>(x, i)); });
  const A mean = sum / M;
  A sq = 0;
  for_channel(p, c, [&](size_t i) {
    const A d = static_cast<A>(load<T>(x, i)) - mean;
    sq += d * d;
  });
  return {mean, sq};
}

// Forward training of channel c from its two-pass statistics.
template <class T, class A>
void two_pass_channel(const Problem& p, int64_t c, const ForwardTrainingArgs& a) {
  const auto [mean, sq] = two_pass_sums<T, A>(p, c, a.x);
  normalize_channel<T, A>(p, c, a, mean, sq / static_cast<A>(p.reduction_size()));
}

// Backward of channel c from the saved statistics, dbeta and dgamma as plain recursive
// sums in A of dy and dy (x - mean) r.
template <class T, class A>
void recursive_backward_channel(const Problem& p, int64_t c, const BackwardArgs& a) {
  const A mean = static_cast<A>(load_param(a.save_mean, p.pdtype, c));
  const A r = saved_invstd<A>(p, a, c);
  A dbeta = 0, dgamma = 0;
  for_channel(p, c, [&](size_t i) {
    const A dy = static_cast<A>(load<T>(a.dy, i));
    dbeta += dy;
    dgamma += dy * ((static_cast<A>(load<T>(a.x, i)) - mean) * r);
  });
  backward_apply<T, A>(p, c, a, mean, r, dbeta, dgamma);
}

// ---- Split statistics (Backend::local_stats, merge_stats, apply_stats) ----
// Local statistics in the form SplitKind::mean_std, (mean, sqrt(M2 / count)): neither
// overflows where x does not. The merge is Chan's, slice after slice, in double, in
// units of 2^e (e the exponent of the largest |mean| or std of the channel's slices)
// so that M2 cannot overflow either; the merged state is (mean 2^-e, r 2^e, r, e), r =
// 1/sqrt(var + eps), and apply_stats normalizes in those units as forward training
// does in bn_welford.cpp.
inline void store_local_stats(double* stats, int64_t c, double mean, double std_dev) {
  stats[2 * c] = mean;
  stats[2 * c + 1] = std_dev;
}

inline Status merge_mean_std(const Problem& p, const MergeStatsArgs& a) {
  const size_t C = static_cast<size_t>(p.c);
  for (size_t c = 0; c < C; ++c) {
    auto slice = [&](int64_t k, int j) { return a.stats[2 * C * static_cast<size_t>(k) + 2 * c + j]; };
    double big = 0;
    for (int64_t k = 0; k < a.k; ++k)
      if (a.counts[k] > 0)
        for (int j = 0; j < 2; ++j)
          if (std::isfinite(slice(k, j))) big = std::max(big, std::fabs(slice(k, j)));
    int e = 0;
    if (big > 0) std::frexp(big, &e);
    double n = 0, mu = 0, m2 = 0;
    for (int64_t k = 0; k < a.k; ++k) {
      if (a.counts[k] == 0) continue;
      const double nb = static_cast<double>(a.counts[k]);
      const double mb = std::ldexp(slice(k, 0), -e), sb = std::ldexp(slice(k, 1), -e);
      const double m2b = nb * (sb * sb);
      if (n == 0) {
        n = nb, mu = mb, m2 = m2b;
        continue;
      }
      const double total = n + nb, delta = mb - mu;
      mu += delta * (nb / total);
      m2 += m2b + delta * delta * (n * (nb / total));
      n = total;
    }
    const double var_s = m2 / n;
    double r = 0, r_s = 0;
    robust_invstd(var_s, p.eps, e, &r, &r_s);
    double* m = a.merged + kMergedDoubles * c;
    m[0] = mu, m[1] = r_s, m[2] = r, m[3] = e;
    const double mean = std::ldexp(mu, e), var = std::ldexp(var_s, 2 * e);
    const auto ic = static_cast<int64_t>(c);
    store_param(a.save_mean, p.pdtype, ic, mean);
    store_param(a.save_stat, p.pdtype, ic, p.conv.saved == SavedStat::invstd ? r : var);
    update_running<double>(p, ic, mean, var, a.running_mean, a.running_var);
  }
  return Status::success();
}

template <class T>
void apply_merged_channel(const Problem& p, int64_t c, const ApplyStatsArgs& a) {
  const double* m = a.merged + kMergedDoubles * static_cast<size_t>(c);
  const double mu = m[0], r_s = m[1], r = m[2];
  const int e = static_cast<int>(m[3]);
  const double g = a.gamma ? load_param(a.gamma, p.pdtype, c) : 1.0;
  const double b = a.beta ? load_param(a.beta, p.pdtype, c) : 0.0;
  const bool scaled_ok = std::isfinite(r_s) && r_s > 0;
  const double gr = g * (scaled_ok ? r_s : r);
  for_channel(p, c, [&](size_t i) {
    const double d = std::ldexp(static_cast<double>(load<T>(a.x, i)), -e) - mu;
    store<T>(a.y, i, (scaled_ok ? d * gr : std::ldexp(d * gr, e)) + b);
  });
}

inline Status apply_merged(const Problem& p, const ApplyStatsArgs& a) {
  with_storage(p.dtype, [&](auto tag) {
    for (int64_t c = 0; c < p.c; ++c) apply_merged_channel<typename decltype(tag)::type>(p, c, a);
  });
  return Status::success();
}

// Every dtype pairing and layout is implemented by our CPU backends.
inline Support cpu_supports(const Problem&) { return Support::yes(); }

}  // namespace bncheck::cpu
