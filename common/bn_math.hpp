// Batch-norm arithmetic shared by the CUDA kernels and the host: written once,
// unit-tested on the CPU in CI (tests/backends/test_gpu_math.cpp), compiled by nvcc for the GPU.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define BNCHECK_HD __host__ __device__ __forceinline__
#else
#define BNCHECK_HD inline
#endif

namespace bncheck::gpu {

// Welford's running (count, mean, M2) in accumulation type A, merged with Chan, Golub
// & LeVeque's formula (1979). The CPU backend cpu_welford and the CUDA kernels use
// these same functions.
template <class A>
struct WelfordT {
  A n = 0, mean = 0, m2 = 0;
};
using Welford = WelfordT<float>;

template <class A>
BNCHECK_HD WelfordT<A> welford_add(WelfordT<A> w, A x) {
  w.n += 1;
  const A d = x - w.mean;
  w.mean += d / w.n;
  w.m2 += d * (x - w.mean);
  return w;
}

template <class A>
BNCHECK_HD WelfordT<A> welford_merge(WelfordT<A> a, WelfordT<A> b) {
  if (a.n == 0) return b;
  if (b.n == 0) return a;
  WelfordT<A> r;
  r.n = a.n + b.n;
  const A d = b.mean - a.mean;
  r.mean = a.mean + d * (b.n / r.n);
  r.m2 = a.m2 + b.m2 + d * d * (a.n * b.n / r.n);
  return r;
}

// Folds K values into w: the chunk's mean and M2 by two passes over the values, then
// one Chan merge: one division per K values instead of one per value (the kernels'
// statistics passes are otherwise bound by Welford's divisions). K is a power of two, so
// the mean is the rounded sum scaled exactly. A chunk whose sum is not finite (Inf,
// NaN, or values near the overflow threshold) takes Welford's updates instead, which
// keep the mean finite where it is.
template <int K, class A>
BNCHECK_HD WelfordT<A> welford_add_chunk(WelfordT<A> w, const A (&v)[K]) {
  static_assert(K > 0 && (K & (K - 1)) == 0, "chunks of a power of two");
  A s = 0;
  for (int j = 0; j < K; ++j) s += v[j];
  // s - s is NaN exactly when s is Inf or NaN (a test the CUDA device code can use).
  if (!(s - s == A(0))) {  // NOLINT(misc-redundant-expression)
    for (int j = 0; j < K; ++j) w = welford_add(w, v[j]);
    return w;
  }
  WelfordT<A> b;
  b.n = A(K);
  b.mean = s * (A(1) / A(K));
  for (int j = 0; j < K; ++j) {
    const A d = v[j] - b.mean;
    b.m2 += d * d;
  }
  return welford_merge(w, b);
}

// Element (n, c, s) of an (N, C, S) problem in either layout, with 64-bit indices.
BNCHECK_HD int64_t element_index(bool channels_last, int64_t C, int64_t S, int64_t n, int64_t c, int64_t s) {
  return channels_last ? (n * S + s) * C + c : (n * C + c) * S + s;
}

// The channel of linear index i.
BNCHECK_HD int64_t channel_of(bool channels_last, int64_t C, int64_t S, int64_t i) {
  return channels_last ? i % C : (i / S) % C;
}

// Division of a 32-bit index by a fixed divisor d >= 1 by multiply-high and shift
// (Granlund & Montgomery, 1994): with L = ceil(log2 d) and m = floor(2^32 (2^L - d) / d) + 1,
// n / d = (mulhi(n, m) + n) >> L for every n < 2^31 (so that the sum fits 32 bits).
// The elementwise kernels divide every element's index this way instead of by a
// 64-bit division, which the GPU emulates in dozens of instructions.
struct FastDiv {
  uint32_t d = 1, m = 0, shift = 0;
  FastDiv() = default;
  explicit FastDiv(uint32_t divisor) : d(divisor) {
    while (shift < 32 && (uint64_t{1} << shift) < d) ++shift;
    m = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << shift) - d)) / d + 1);
  }
  BNCHECK_HD uint32_t div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
    const uint32_t t = __umulhi(n, m);
#else
    const uint32_t t = static_cast<uint32_t>((static_cast<uint64_t>(n) * m) >> 32);
#endif
    return (t + n) >> shift;
  }
};

// The channel of linear index i (as channel_of), by FastDiv when every index of the
// tensor is below 2^31, else by 64-bit division.
struct ChannelOf {
  bool cl = false, small = false;
  int64_t C = 1, S = 1;
  FastDiv by_s, by_c;
  ChannelOf(bool channels_last, int64_t channels, int64_t spatial, int64_t elements)
      : cl(channels_last), small(elements < (int64_t{1} << 31)), C(channels), S(spatial) {
    if (small) {
      by_s = FastDiv(static_cast<uint32_t>(S));
      by_c = FastDiv(static_cast<uint32_t>(C));
    }
  }
  BNCHECK_HD int64_t operator()(int64_t i) const {
    if (!small) return channel_of(cl, C, S, i);
    const uint32_t q = cl ? static_cast<uint32_t>(i) : by_s.div(static_cast<uint32_t>(i));
    return static_cast<int64_t>(q - by_c.div(q) * static_cast<uint32_t>(C));
  }

  // The channels of the consecutive indices i, i + 1, ...: divides once for i, then
  // steps (an access of several elements that may straddle channels).
  struct Walk {
    int64_t c, s;  // channel, and (channels-first) position in the channel's run of S
    bool cl;
    int64_t C, S;
    BNCHECK_HD void next() {
      if (!cl && ++s < S) return;
      s = 0;
      if (++c == C) c = 0;
    }
  };
  BNCHECK_HD Walk walk(int64_t i) const {
    if (cl) return Walk{(*this)(i), 0, cl, C, S};
    const int64_t q = small ? static_cast<int64_t>(by_s.div(static_cast<uint32_t>(i))) : i / S;
    const int64_t c = small ? q - static_cast<int64_t>(by_c.div(static_cast<uint32_t>(q))) * C : q % C;
    return Walk{c, i - q * S, cl, C, S};
  }
};

// The channels of the V elements of an access starting at linear index i0. Where the
// access lies within one channel run (channels-first with S a multiple of V,
// channels-last with C a multiple of V: kRun) they follow from one division with no
// branches; otherwise by stepping. Computed before the loads that use them, so that
// those loads issue together.
template <int V, bool kRun>
BNCHECK_HD void access_channels(const ChannelOf& channel, int64_t i0, int64_t (&c)[V]) {
  if constexpr (kRun) {
    const int64_t c0 = channel(i0);
    for (int e = 0; e < V; ++e) c[e] = channel.cl ? c0 + e : c0;
  } else {
    ChannelOf::Walk w = channel.walk(i0);
    for (int e = 0; e < V; ++e, w.next()) c[e] = w.c;
  }
}

// Walks the indices k = k0, k0 + step, ... (k < M = N S) of one channel's elements as
// (n, s) with k = n S + s, dividing once at the start instead of at every step.
struct ChannelWalk {
  int64_t n, s, dn, ds, S;
  BNCHECK_HD ChannelWalk(int64_t k0, int64_t step, int64_t spatial)
      : n(k0 / spatial), s(k0 % spatial), dn(step / spatial), ds(step % spatial), S(spatial) {}
  BNCHECK_HD void next() {
    n += dn;
    s += ds;
    if (s >= S) {
      s -= S;
      ++n;
    }
  }
};

// Running statistics under the PyTorch/cuDNN convention: r <- (1-m) r + m s, the
// variance statistic unbiased, var * (M/(M-1)) (NaN for M = 1).
BNCHECK_HD void running_update(float* rm, float* rv, float mean, float var, float momentum, int64_t M) {
  const float unbiased = M > 1 ? var * (static_cast<float>(M) / static_cast<float>(M - 1)) : NAN;
  *rm = (1 - momentum) * *rm + momentum * mean;
  *rv = (1 - momentum) * *rv + momentum * unbiased;
}

// dx = gamma r (M dy - dbeta - xhat dgamma) / M, in the order that keeps gamma r / M
// from going subnormal; gamma_invstd is the f32 product gamma r (computed once per channel).
BNCHECK_HD float backward_dx(float x, float dy, float mean, float invstd, float gamma_invstd, float dbeta, float dgamma,
                             float M) {
  const float xhat = (x - mean) * invstd;
  return gamma_invstd * ((M * dy - dbeta - xhat * dgamma) / M);
}

}  // namespace bncheck::gpu
