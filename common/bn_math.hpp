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

// Element (n, c, s) of an (N, C, S) problem in either layout, with 64-bit indices.
BNCHECK_HD int64_t element_index(bool channels_last, int64_t C, int64_t S, int64_t n, int64_t c, int64_t s) {
  return channels_last ? (n * S + s) * C + c : (n * C + c) * S + s;
}

// The channel of linear index i.
BNCHECK_HD int64_t channel_of(bool channels_last, int64_t C, int64_t S, int64_t i) {
  return channels_last ? i % C : (i / S) % C;
}

// Running statistics under the PyTorch/cuDNN convention: r <- (1-m) r + m s, the
// variance statistic unbiased, var * (M/(M-1)) (NaN for M = 1).
BNCHECK_HD void running_update(float* rm, float* rv, float mean, float var, float momentum, int64_t M) {
  const float unbiased = M > 1 ? var * (static_cast<float>(M) / static_cast<float>(M - 1)) : NAN;
  *rm = (1 - momentum) * *rm + momentum * mean;
  *rv = (1 - momentum) * *rv + momentum * unbiased;
}

// dx = gamma r (M dy - dbeta - xhat dgamma) / M, in the order that keeps gamma r / M
// from going subnormal.
BNCHECK_HD float backward_dx(float x, float dy, float mean, float invstd, float gamma, float dbeta, float dgamma,
                             float M) {
  const float xhat = (x - mean) * invstd;
  return (gamma * invstd) * ((M * dy - dbeta - xhat * dgamma) / M);
}

}  // namespace bncheck::gpu
