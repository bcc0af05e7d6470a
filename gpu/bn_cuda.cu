// Our CUDA batch norm: Welford statistics per block (chunks of values folded in with
// Chan's formula), merged with Chan's formula (two launches, fixed order:
// deterministic), normalisation and backward as elementwise grid-stride kernels with
// 64-bit indices and 16-byte accesses where the shape allows. Channels-first reduces along contiguous
// runs; channels-last puts 32 channels on the threads of a warp (coalesced). Data
// f32, f16 or bf16; statistics, gamma and beta f32. PyTorch's conventions.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "bncheck/backend.hpp"
#include "common/bn_math.hpp"
#include "gpu/device_buffer.hpp"
#include "gpu/device_timing.hpp"

namespace bncheck::gpu {
namespace {

#define BN_CUDA_TRY(expr)                                                                                \
  do {                                                                                                   \
    const cudaError_t err_ = (expr);                                                                     \
    if (err_ != cudaSuccess) return Status::error(std::string(#expr) + ": " + cudaGetErrorString(err_)); \
  } while (0)

template <class T>
__device__ __forceinline__ float ld(const T* p, int64_t i);
template <>
__device__ __forceinline__ float ld<float>(const float* p, int64_t i) {
  return p[i];
}
template <>
__device__ __forceinline__ float ld<__half>(const __half* p, int64_t i) {
  return __half2float(p[i]);
}
template <>
__device__ __forceinline__ float ld<__nv_bfloat16>(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}
template <class T>
__device__ __forceinline__ void st(T* p, int64_t i, float v);
template <>
__device__ __forceinline__ void st<float>(float* p, int64_t i, float v) {
  p[i] = v;
}
template <>
__device__ __forceinline__ void st<__half>(__half* p, int64_t i, float v) {
  p[i] = __float2half_rn(v);
}
template <>
__device__ __forceinline__ void st<__nv_bfloat16>(__nv_bfloat16* p, int64_t i, float v) {
  p[i] = __float2bfloat16_rn(v);
}

// V elements in one 16-byte access (V = 1: one element). The callers use V > 1 only
// where every access is aligned: the pointer from cudaMalloc and the index a multiple of V.
template <class T, int V>
struct alignas(sizeof(T) * V) Pack {
  T e[V];
};
template <class T>
constexpr int kVec = 16 / sizeof(T);
template <class T, int V>
__device__ __forceinline__ void ldv(const T* p, int64_t i, float* out) {
  const Pack<T, V> q = *reinterpret_cast<const Pack<T, V>*>(p + i);
#pragma unroll
  for (int j = 0; j < V; ++j) out[j] = ld(q.e, j);
}
template <class T, int V>
__device__ __forceinline__ void stv(T* p, int64_t i, const float* in) {
  Pack<T, V> q;
#pragma unroll
  for (int j = 0; j < V; ++j) st(q.e, j, in[j]);
  *reinterpret_cast<Pack<T, V>*>(p + i) = q;
}

constexpr int kThreads = 256;
constexpr int kClChannels = 32, kClRows = 8;
// Loads each thread issues before it consumes them: enough bytes in flight to cover
// the memory latency (one load at a time leaves the kernels latency-bound).
constexpr int kUnroll = 4;

// Channels-first statistics: block (c, b) reduces a strided share of channel c, in
// accesses of V elements (V > 1 when S is a multiple of V), kReduceUnroll accesses in
// flight, folded into the thread's Welford state all at once.
template <int V>
constexpr int kReduceUnroll = V == 1 ? 2 * kUnroll : kUnroll;  // accesses in flight per thread

template <class T, int V>
__global__ void stats_cf(const T* x, int64_t C, int64_t S, int64_t M, Welford* partial) {
  constexpr int U = kReduceUnroll<V>;
  __shared__ Welford sh[kThreads];
  const int64_t c = blockIdx.x, Sv = S / V, Mv = M / V;
  Welford w;
  const int64_t k0 = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x,
                step = static_cast<int64_t>(gridDim.y) * blockDim.x;
  ChannelWalk at(k0, step, Sv);
  int64_t k = k0;
  for (; k + (U - 1) * step < Mv; k += U * step) {
    float v[U * V];
#pragma unroll
    for (int j = 0; j < U; ++j, at.next()) ldv<T, V>(x, element_index(false, C, S, at.n, c, at.s * V), v + j * V);
    w = welford_add_chunk(w, v);
  }
  for (; k < Mv; k += step, at.next()) {
    float v[V];
    ldv<T, V>(x, element_index(false, C, S, at.n, c, at.s * V), v);
    w = welford_add_chunk(w, v);
  }
  sh[threadIdx.x] = w;
  __syncthreads();
  for (int h = blockDim.x / 2; h > 0; h /= 2) {
    if (threadIdx.x < h) sh[threadIdx.x] = welford_merge(sh[threadIdx.x], sh[threadIdx.x + h]);
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[c * gridDim.y + blockIdx.y] = sh[0];
}

// Channels-last statistics: threadIdx.x over groups of P consecutive channels (one
// access of P elements; C a multiple of P), threadIdx.y over rows.
template <class T, int P>
__global__ void stats_cl(const T* x, int64_t C, int64_t M, Welford* partial) {
  __shared__ Welford sh[kClRows][kClChannels * P];
  const int64_t c0 = (static_cast<int64_t>(blockIdx.x) * kClChannels + threadIdx.x) * P;
  Welford w[P];
  if (c0 < C) {
    const int64_t step = static_cast<int64_t>(gridDim.y) * kClRows;
    int64_t row = static_cast<int64_t>(blockIdx.y) * kClRows + threadIdx.y;
    for (; row + (kUnroll - 1) * step < M; row += kUnroll * step) {
      float v[kUnroll][P];
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) ldv<T, P>(x, (row + j * step) * C + c0, v[j]);
#pragma unroll
      for (int q = 0; q < P; ++q) {
        float col[kUnroll];
#pragma unroll
        for (int j = 0; j < kUnroll; ++j) col[j] = v[j][q];
        w[q] = welford_add_chunk(w[q], col);
      }
    }
    for (; row < M; row += step) {
      float v[P];
      ldv<T, P>(x, row * C + c0, v);
#pragma unroll
      for (int q = 0; q < P; ++q) w[q] = welford_add(w[q], v[q]);
    }
  }
#pragma unroll
  for (int q = 0; q < P; ++q) sh[threadIdx.y][threadIdx.x * P + q] = w[q];
  __syncthreads();
  for (int h = kClRows / 2; h > 0; h /= 2) {
    if (threadIdx.y < h)
      for (int q = 0; q < P; ++q) {
        Welford& a = sh[threadIdx.y][threadIdx.x * P + q];
        a = welford_merge(a, sh[threadIdx.y + h][threadIdx.x * P + q]);
      }
    __syncthreads();
  }
  if (threadIdx.y == 0 && c0 < C)
    for (int q = 0; q < P; ++q) partial[(c0 + q) * gridDim.y + blockIdx.y] = sh[0][threadIdx.x * P + q];
}

constexpr int kFinalizeWarps = 4;  // channels per block of the finalize kernels

// A warp per channel: lane l merges partials l, l + 32, ... in order, then the lanes
// merge down a fixed tree (deterministic); lane 0 holds the result.
__device__ __forceinline__ Welford warp_merge(const Welford* p, int B) {
  const int lane = threadIdx.x % 32;
  Welford w;
  for (int i = lane; i < B; i += 32) w = welford_merge(w, p[i]);
  for (int o = 16; o > 0; o /= 2) {
    Welford q;
    q.n = __shfl_down_sync(0xffffffffu, w.n, o);
    q.mean = __shfl_down_sync(0xffffffffu, w.mean, o);
    q.m2 = __shfl_down_sync(0xffffffffu, w.m2, o);
    if (lane + o < 32) w = welford_merge(w, q);
  }
  return w;
}

// Save the statistics, update the running ones. A channel whose sum of squares
// overflowed f32 while its mean did not (data beyond ~1.8e19) is left to stats_rescue.
__global__ void stats_finalize(const Welford* partial, int B, int64_t C, int64_t M, float eps, float momentum,
                               float* save_mean, float* save_invstd, float* rm, float* rv, int* rescue) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kFinalizeWarps + threadIdx.x / 32;
  if (c >= C) return;  // the whole warp
  const Welford w = warp_merge(partial + c * B, B);
  if (threadIdx.x % 32 != 0) return;
  const float mean = w.mean, var = w.m2 / w.n;
  // Likewise a variance below f32's normal range where eps does not dominate it (data
  // near 1e-37): var + eps lost its digits, or is 0 and the inverse std +Inf, where the
  // exact one is finite.
  rescue[c] = isfinite(mean) && (!isfinite(var) || (var < FLT_MIN && eps < 0x1p24f * FLT_MIN));
  if (rescue[c]) return;
  save_mean[c] = mean;
  save_invstd[c] = 1.0f / sqrtf(var + eps);
  if (rm && rv) running_update(rm + c, rv + c, mean, var, momentum, M);
}

// The rare channels stats_finalize could not finish: one block each finds max |x|,
// runs Welford on x scaled by an exact power of two 2^-e (as cpu_welford does), and
// scales the statistics back: mean = 2^e m, invstd = 2^-e / sqrt(v + eps 4^-e).
template <class T>
__device__ void rescue_channel(const T* x, int64_t C, int64_t S, int64_t M, bool cl, float eps, float momentum,
                               float* save_mean, float* save_invstd, float* rm, float* rv, int64_t c, float* amax,
                               Welford* sh) {
  float a = 0;
  for (int64_t k = threadIdx.x; k < M; k += blockDim.x)
    a = fmaxf(a, fabsf(ld(x, element_index(cl, C, S, k / S, c, k % S))));
  amax[threadIdx.x] = a;
  __syncthreads();
  for (int h = blockDim.x / 2; h > 0; h /= 2) {
    if (threadIdx.x < h) amax[threadIdx.x] = fmaxf(amax[threadIdx.x], amax[threadIdx.x + h]);
    __syncthreads();
  }
  int e = 0;
  frexpf(amax[0], &e);
  Welford w;
  for (int64_t k = threadIdx.x; k < M; k += blockDim.x)
    w = welford_add(w, ldexpf(ld(x, element_index(cl, C, S, k / S, c, k % S)), -e));
  sh[threadIdx.x] = w;
  __syncthreads();
  for (int h = blockDim.x / 2; h > 0; h /= 2) {
    if (threadIdx.x < h) sh[threadIdx.x] = welford_merge(sh[threadIdx.x], sh[threadIdx.x + h]);
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const float v = sh[0].m2 / sh[0].n, mean = ldexpf(sh[0].mean, e);
    save_mean[c] = mean;
    save_invstd[c] = ldexpf(1.0f / sqrtf(v + ldexpf(eps, -2 * e)), -e);
    if (rm && rv) running_update(rm + c, rv + c, mean, ldexpf(v, 2 * e), momentum, M);
  }
  __syncthreads();
}

// The per-channel constants of the normalisation, y = (x - mean) scale + shift with
// scale = gamma invstd (the f32 product, computed once per channel) and shift = beta:
// three 4-byte loads per element. Separate arrays: a 16-byte struct per channel puts
// the channels a warp touches in channels-last (a 128-byte stride apart) in the same
// banks.
struct Affine {
  const float* mean;
  float* scale;
  float* shift;
};
__device__ __forceinline__ void set_affine(Affine a, int64_t c, float invstd, const float* gamma, const float* beta) {
  a.scale[c] = (gamma ? gamma[c] : 1.0f) * invstd;
  a.shift[c] = beta ? beta[c] : 0.0f;
}

// Blocks over the channels: rescue those stats_finalize flagged, then write every
// channel's normalisation constants.
template <class T>
__global__ void stats_rescue(const T* x, int64_t C, int64_t S, int64_t M, bool cl, float eps, float momentum,
                             float* save_mean, float* save_invstd, float* rm, float* rv, const int* rescue,
                             const float* gamma, const float* beta, Affine affine) {
  __shared__ float amax[kThreads];
  __shared__ Welford sh[kThreads];
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    if (rescue[c]) rescue_channel(x, C, S, M, cl, eps, momentum, save_mean, save_invstd, rm, rv, c, amax, sh);
    if (threadIdx.x == 0) set_affine(affine, c, save_invstd[c], gamma, beta);
  }
}

// Inference: the constants from the running statistics, invstd = 1 / sqrt(var + eps).
__global__ void inference_affine(int64_t C, const float* rv, float eps, const float* gamma, const float* beta,
                                 Affine affine) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < C) set_affine(affine, c, 1.0f / sqrtf(rv[c] + eps), gamma, beta);
}

// The elementwise kernels walk the tensor in accesses of V elements (V > 1 where the
// element count is a multiple of V), the channels of an access's elements from
// access_channels (kRun: the access lies within one channel run). Each thread issues
// kElemUnroll(V) accesses, a grid stride apart (coalesced), before computing.
template <int V>
constexpr int kElemUnroll = V == 1 ? kUnroll : 2;

// y = (x - mean) * (gamma invstd) + beta, for training (batch statistics) and
// inference (running statistics), the constants from set_affine. Ev = E / V accesses.
template <class T, int V, bool kRun>
__global__ void normalize(const T* x, T* y, int64_t Ev, ChannelOf channel, Affine k) {
  constexpr int U = kElemUnroll<V>;
  const int64_t G = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; base < Ev; base += U * G) {
    float v[U][V];
#pragma unroll
    for (int j = 0; j < U; ++j)
      if (base + j * G < Ev) ldv<T, V>(x, (base + j * G) * V, v[j]);
#pragma unroll
    for (int j = 0; j < U; ++j) {
      const int64_t a = base + j * G;
      if (a >= Ev) break;
      int64_t c[V];
      access_channels<V, kRun>(channel, a * V, c);
      float out[V];
#pragma unroll
      for (int e = 0; e < V; ++e) out[e] = (v[j][e] - k.mean[c[e]]) * k.scale[c[e]] + k.shift[c[e]];
      stv<T, V>(y, a * V, out);
    }
  }
}

// Backward sums per block: dbeta = sum dy, dgamma = sum dy xhat (f32, tree within the
// block). Channels-first: block (c, b) reduces a strided share of channel c.
template <class T, int V>
__global__ void backward_sums(const T* x, const T* dy, int64_t C, int64_t S, int64_t M, const float* mean,
                              const float* invstd, float2* partial) {
  constexpr int U = kReduceUnroll<V>;
  __shared__ float2 sh[kThreads];
  const int64_t c = blockIdx.x, Sv = S / V, Mv = M / V;
  const float m = mean[c], r = invstd[c];
  float2 acc = make_float2(0, 0);
  const int64_t k0 = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x,
                step = static_cast<int64_t>(gridDim.y) * blockDim.x;
  ChannelWalk at(k0, step, Sv);
  int64_t k = k0;
  for (; k + (U - 1) * step < Mv; k += U * step) {
    float xv[U * V], dv[U * V];
#pragma unroll
    for (int j = 0; j < U; ++j, at.next()) {
      const int64_t i = element_index(false, C, S, at.n, c, at.s * V);
      ldv<T, V>(x, i, xv + j * V);
      ldv<T, V>(dy, i, dv + j * V);
    }
#pragma unroll
    for (int j = 0; j < U * V; ++j) {
      acc.x += dv[j];
      acc.y += dv[j] * ((xv[j] - m) * r);
    }
  }
  for (; k < Mv; k += step, at.next()) {
    float xv[V], dv[V];
    const int64_t i = element_index(false, C, S, at.n, c, at.s * V);
    ldv<T, V>(x, i, xv);
    ldv<T, V>(dy, i, dv);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      acc.x += dv[j];
      acc.y += dv[j] * ((xv[j] - m) * r);
    }
  }
  sh[threadIdx.x] = acc;
  __syncthreads();
  for (int h = blockDim.x / 2; h > 0; h /= 2) {
    if (threadIdx.x < h) {
      sh[threadIdx.x].x += sh[threadIdx.x + h].x;
      sh[threadIdx.x].y += sh[threadIdx.x + h].y;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[c * gridDim.y + blockIdx.y] = sh[0];
}

// The same for channels-last: threadIdx.x over groups of P channels (coalesced),
// threadIdx.y over rows, as stats_cl.
template <class T, int P>
__global__ void backward_sums_cl(const T* x, const T* dy, int64_t C, int64_t M, const float* mean, const float* invstd,
                                 float2* partial) {
  __shared__ float2 sh[kClRows][kClChannels * P];
  const int64_t c0 = (static_cast<int64_t>(blockIdx.x) * kClChannels + threadIdx.x) * P;
  float2 acc[P];
#pragma unroll
  for (int q = 0; q < P; ++q) acc[q] = make_float2(0, 0);
  if (c0 < C) {
    float m[P], r[P];
#pragma unroll
    for (int q = 0; q < P; ++q) {
      m[q] = mean[c0 + q];
      r[q] = invstd[c0 + q];
    }
    const int64_t step = static_cast<int64_t>(gridDim.y) * kClRows;
    int64_t row = static_cast<int64_t>(blockIdx.y) * kClRows + threadIdx.y;
    for (; row + (kUnroll - 1) * step < M; row += kUnroll * step) {
      float xv[kUnroll][P], dv[kUnroll][P];
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) {
        ldv<T, P>(x, (row + j * step) * C + c0, xv[j]);
        ldv<T, P>(dy, (row + j * step) * C + c0, dv[j]);
      }
#pragma unroll
      for (int j = 0; j < kUnroll; ++j)
#pragma unroll
        for (int q = 0; q < P; ++q) {
          acc[q].x += dv[j][q];
          acc[q].y += dv[j][q] * ((xv[j][q] - m[q]) * r[q]);
        }
    }
    for (; row < M; row += step) {
      float xv[P], dv[P];
      ldv<T, P>(x, row * C + c0, xv);
      ldv<T, P>(dy, row * C + c0, dv);
#pragma unroll
      for (int q = 0; q < P; ++q) {
        acc[q].x += dv[q];
        acc[q].y += dv[q] * ((xv[q] - m[q]) * r[q]);
      }
    }
  }
#pragma unroll
  for (int q = 0; q < P; ++q) sh[threadIdx.y][threadIdx.x * P + q] = acc[q];
  __syncthreads();
  for (int h = kClRows / 2; h > 0; h /= 2) {
    if (threadIdx.y < h)
      for (int q = 0; q < P; ++q) {
        float2& a = sh[threadIdx.y][threadIdx.x * P + q];
        a.x += sh[threadIdx.y + h][threadIdx.x * P + q].x;
        a.y += sh[threadIdx.y + h][threadIdx.x * P + q].y;
      }
    __syncthreads();
  }
  if (threadIdx.y == 0 && c0 < C)
    for (int q = 0; q < P; ++q) partial[(c0 + q) * gridDim.y + blockIdx.y] = sh[0][threadIdx.x * P + q];
}

// The per-channel constants of dx besides mean and invstd: gamma invstd, dbeta, dgamma
// (separate arrays, as Affine).
struct BackwardConstants {
  float *scale, *dbeta, *dgamma;
  static size_t bytes(int64_t C) { return 3 * static_cast<size_t>(C) * sizeof(float); }
  BackwardConstants(void* p, int64_t C) : scale(static_cast<float*>(p)), dbeta(scale + C), dgamma(scale + 2 * C) {}
};

// A warp per channel, as stats_finalize: lane l sums partials l, l + 32, ..., then a
// fixed tree over the lanes.
__global__ void backward_finalize(const float2* partial, int B, int64_t C, float* dbeta, float* dgamma,
                                  const float* invstd, const float* gamma, BackwardConstants out) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kFinalizeWarps + threadIdx.x / 32;
  if (c >= C) return;  // the whole warp
  const int lane = threadIdx.x % 32;
  const float2* p = partial + c * B;
  float2 a = make_float2(0, 0);
  for (int i = lane; i < B; i += 32) {
    a.x += p[i].x;
    a.y += p[i].y;
  }
  for (int o = 16; o > 0; o /= 2) {
    const float qx = __shfl_down_sync(0xffffffffu, a.x, o), qy = __shfl_down_sync(0xffffffffu, a.y, o);
    if (lane + o < 32) {
      a.x += qx;
      a.y += qy;
    }
  }
  if (lane != 0) return;
  out.scale[c] = (gamma ? gamma[c] : 1.0f) * invstd[c];
  out.dbeta[c] = a.x;
  out.dgamma[c] = a.y;
  if (dbeta) dbeta[c] = a.x;
  if (dgamma) dgamma[c] = a.y;
}

template <class T, int V, bool kRun>
__global__ void backward_dx_kernel(const T* x, const T* dy, T* dx, int64_t Ev, ChannelOf channel, float M,
                                   const float* mean, const float* invstd, BackwardConstants k) {
  constexpr int U = kElemUnroll<V>;
  const int64_t G = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; base < Ev; base += U * G) {
    float xv[U][V], dv[U][V];
#pragma unroll
    for (int j = 0; j < U; ++j)
      if (base + j * G < Ev) {
        ldv<T, V>(x, (base + j * G) * V, xv[j]);
        ldv<T, V>(dy, (base + j * G) * V, dv[j]);
      }
#pragma unroll
    for (int j = 0; j < U; ++j) {
      const int64_t a = base + j * G;
      if (a >= Ev) break;
      int64_t c[V];
      access_channels<V, kRun>(channel, a * V, c);
      float out[V];
#pragma unroll
      for (int e = 0; e < V; ++e)
        out[e] =
            backward_dx(xv[j][e], dv[j][e], mean[c[e]], invstd[c[e]], k.scale[c[e]], k.dbeta[c[e]], k.dgamma[c[e]], M);
      stv<T, V>(dx, a * V, out);
    }
  }
}

// Blocks per channel (channels-first) or per group of 32 channels (channels-last) of
// the reductions: about 2048 blocks in all (a few waves on the largest GPUs), each
// with at least a few thousand elements, at most 512 partials per channel (merged by
// a warp in the finalize kernels).
int blocks_per_channel(int64_t M, int64_t C, bool cl, int pack) {
  const int64_t per = cl ? kClRows * 64 : kThreads * 8;  // elements each block should at least handle
  const int64_t want = std::max<int64_t>(1, (M + per - 1) / per);
  const int64_t groups = cl ? (C + kClChannels * pack - 1) / (kClChannels * pack) : C;
  const int64_t cap = std::max<int64_t>(1, 2048 / std::max<int64_t>(1, groups));
  return static_cast<int>(std::min<int64_t>({want, cap, 512}));
}

// Channels per thread of the channels-last reductions: one access of P elements (C a
// multiple of P), and no more than a warp's share of the channels.
template <class T>
int cl_pack(int64_t C) {
  int P = kVec<T>;
  while (P > 1 && (C % P != 0 || kClChannels * P > C)) P /= 2;
  return P;
}
template <class T>
int blocks_for(const Problem& p) {
  return blocks_per_channel(p.reduction_size(), p.c, p.layout == Layout::channels_last, cl_pack<T>(p.c));
}

int grid_for(int64_t E) { return static_cast<int>(std::min<int64_t>((E + kThreads - 1) / kThreads, 65535)); }

// Whether accesses of V elements fit: the count they divide (S for the channels-first
// reductions, the element count for the elementwise kernels) a multiple of V, every
// pointer aligned to the access.
template <class T, int V>
bool vector_access(int64_t count, std::initializer_list<const void*> ptrs) {
  if (count % V != 0) return false;
  for (const void* q : ptrs)
    if (reinterpret_cast<uintptr_t>(q) % (sizeof(T) * V) != 0) return false;
  return true;
}

// Calls f with the widest access (16 bytes, 8, ..., one element; at most max_width
// elements) that fits.
template <class T, int V = kVec<T>, class F>
void with_access(int64_t count, std::initializer_list<const void*> ptrs, F&& f, int max_width = kVec<T>) {
  if constexpr (V == 1)
    f(std::integral_constant<int, 1>{});
  else if (V <= max_width && vector_access<T, V>(count, ptrs))
    f(std::integral_constant<int, V>{});
  else
    with_access<T, V / 2>(count, ptrs, std::forward<F>(f), max_width);
}

template <class T>
void launch_stats_cf(const T* x, int64_t C, int64_t S, int64_t M, Welford* partial, int B) {
  with_access<T>(S, {x}, [&](auto v) {
    stats_cf<T, decltype(v)::value><<<dim3(static_cast<unsigned>(C), B), kThreads>>>(x, C, S, M, partial);
  });
}

// The length of the runs of one channel in memory (S, or C for channels-last): an
// access of V elements from a multiple of V lies within one run when V divides it.
int64_t channel_run(const Problem& p) { return p.layout == Layout::channels_last ? p.c : p.spatial_size(); }

template <class T>
void launch_normalize(const Problem& p, const T* x, T* y, Affine affine) {
  const int64_t E = p.elements();
  const ChannelOf channel(p.layout == Layout::channels_last, p.c, p.spatial_size(), E);
  with_access<T>(E, {x, y}, [&](auto v) {
    constexpr int V = decltype(v)::value;
    if (channel_run(p) % V == 0)
      normalize<T, V, true><<<grid_for(E / V), kThreads>>>(x, y, E / V, channel, affine);
    else
      normalize<T, V, false><<<grid_for(E / V), kThreads>>>(x, y, E / V, channel, affine);
  });
}

// The training forward's scratch buffer: the normalisation's scale and shift, the
// reductions' partials, the rescue flags.
struct TrainScratch {
  float *scale, *shift;
  Welford* partial;
  int* rescue;
  static size_t bytes(int64_t C, int B) {
    return static_cast<size_t>(C) * (2 * sizeof(float) + sizeof(int)) + static_cast<size_t>(C) * B * sizeof(Welford);
  }
  TrainScratch(void* p, int64_t C, int B)
      : scale(static_cast<float*>(p)),
        shift(scale + C),
        partial(reinterpret_cast<Welford*>(shift + C)),
        rescue(reinterpret_cast<int*>(partial + C * B)) {}
};

using DeviceBuf = DeviceBuffer;

// (At namespace scope: nvcc's host stubs name kernel template arguments from here.)
template <class T>
struct Tag {
  using type = T;
};

class CudaBN final : public Backend {
 public:
  std::string name() const override { return "cuda_welford"; }
  std::string description() const override {
    return "ours (CUDA): Welford over chunks of 4-32 values + Chan merges in f32, f32 elementwise, 16-byte accesses; "
           "deterministic; no fast-math, no FMA contraction";
  }
  Availability availability() const override { return cuda_availability(); }
  Support supports(const Problem& p) const override {
    if (p.dtype == Dtype::f64) return Support::no("our CUDA kernels take f32, f16 or bf16 data");
    if (p.pdtype != Dtype::f32) return Support::no("our CUDA kernels keep parameters and statistics in f32");
    return Support::yes();
  }
  Conventions conventions(const Problem&) const override { return Conventions{}; }
  Numerics numerics(const Problem&) const override {
    Numerics n;
    n.accumulation_bits = n.compute_bits = 24;
    n.stats = StatsAlgorithm::welford;
    return n;
  }

  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    return dispatch(p, [&](auto tag) { return train<typename decltype(tag)::type>(p, a, nullptr); });
  }
  Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) override {
    return dispatch(p, [&](auto tag) { return infer<typename decltype(tag)::type>(p, a); });
  }
  Status backward(const Problem& p, const BackwardArgs& a) override {
    return dispatch(p, [&](auto tag) { return bwd<typename decltype(tag)::type>(p, a, nullptr); });
  }
  std::optional<DeviceTiming> time_on_device(const Problem& p, int warmup, int reps) override;

 private:
  template <class F>
  Status dispatch(const Problem& p, F&& f) {
    switch (p.dtype) {
      case Dtype::f32: return f(Tag<float>{});
      case Dtype::f16: return f(Tag<__half>{});
      case Dtype::bf16: return f(Tag<__nv_bfloat16>{});
      default: return Status::error("unsupported dtype");
    }
  }

  // Launches on device pointers; timing, when non-null, receives the kernel-only time.
  template <class T>
  static Status launch_train(const Problem& p, const T* x, T* y, const float* g, const float* b, float* mean,
                             float* invstd, float* rm, float* rv, void* scratch, int B) {
    const int64_t C = p.c, S = p.spatial_size(), M = p.reduction_size();
    const bool cl = p.layout == Layout::channels_last;
    const TrainScratch t(scratch, C, B);
    Welford* partial = t.partial;
    if (cl)
      with_access<T>(
          C, {x},
          [&](auto v) {
            constexpr int P = decltype(v)::value;
            stats_cl<T, P><<<dim3(static_cast<unsigned>((C + kClChannels * P - 1) / (kClChannels * P)), B),
                             dim3(kClChannels, kClRows)>>>(x, C, M, partial);
          },
          cl_pack<T>(C));
    else
      launch_stats_cf<T>(x, C, S, M, partial, B);
    stats_finalize<<<static_cast<unsigned>((C + kFinalizeWarps - 1) / kFinalizeWarps), 32 * kFinalizeWarps>>>(
        partial, B, C, M, static_cast<float>(p.eps), static_cast<float>(p.momentum), mean, invstd, rm, rv, t.rescue);
    stats_rescue<T><<<static_cast<unsigned>(std::min<int64_t>(C, 64)), kThreads>>>(
        x, C, S, M, cl, static_cast<float>(p.eps), static_cast<float>(p.momentum), mean, invstd, rm, rv, t.rescue, g, b,
        Affine{mean, t.scale, t.shift});
    launch_normalize<T>(p, x, y, Affine{mean, t.scale, t.shift});
    BN_CUDA_TRY(cudaGetLastError());
    return Status::success();
  }

  template <class T>
  Status train(const Problem& p, const ForwardTrainingArgs& a, double*) {
    const int64_t C = p.c, E = p.elements();
    const int B = blocks_for<T>(p);
    const size_t db = static_cast<size_t>(E) * sizeof(T), pb = static_cast<size_t>(C) * sizeof(float);
    DeviceBuf x, y, g, b, mean, inv, rm, rv, part;
    BN_CUDA_TRY(x.alloc(db));
    BN_CUDA_TRY(y.alloc(db));
    BN_CUDA_TRY(mean.alloc(pb));
    BN_CUDA_TRY(inv.alloc(pb));
    BN_CUDA_TRY(rm.alloc(pb));
    BN_CUDA_TRY(rv.alloc(pb));
    BN_CUDA_TRY(part.alloc(TrainScratch::bytes(C, B)));
    BN_CUDA_TRY(cudaMemcpy(x.p, a.x, db, cudaMemcpyHostToDevice));
    BN_CUDA_TRY(cudaMemcpy(rm.p, a.running_mean, pb, cudaMemcpyHostToDevice));
    BN_CUDA_TRY(cudaMemcpy(rv.p, a.running_var, pb, cudaMemcpyHostToDevice));
    if (a.gamma) {
      BN_CUDA_TRY(g.alloc(pb));
      BN_CUDA_TRY(b.alloc(pb));
      BN_CUDA_TRY(cudaMemcpy(g.p, a.gamma, pb, cudaMemcpyHostToDevice));
      BN_CUDA_TRY(cudaMemcpy(b.p, a.beta, pb, cudaMemcpyHostToDevice));
    }
    Status s = launch_train<T>(p, static_cast<T*>(x.p), static_cast<T*>(y.p), static_cast<float*>(g.p),
                               static_cast<float*>(b.p), static_cast<float*>(mean.p), static_cast<float*>(inv.p),
                               static_cast<float*>(rm.p), static_cast<float*>(rv.p), part.p, B);
    if (!s.ok()) return s;
    BN_CUDA_TRY(cudaMemcpy(a.y, y.p, db, cudaMemcpyDeviceToHost));
    BN_CUDA_TRY(cudaMemcpy(a.save_mean, mean.p, pb, cudaMemcpyDeviceToHost));
    BN_CUDA_TRY(cudaMemcpy(a.save_stat, inv.p, pb, cudaMemcpyDeviceToHost));
    BN_CUDA_TRY(cudaMemcpy(a.running_mean, rm.p, pb, cudaMemcpyDeviceToHost));
    BN_CUDA_TRY(cudaMemcpy(a.running_var, rv.p, pb, cudaMemcpyDeviceToHost));
    return Status::success();
  }

  template <class T>
  Status infer(const Problem& p, const ForwardInferenceArgs& a) {
    const int64_t C = p.c, E = p.elements();
    const size_t db = static_cast<size_t>(E) * sizeof(T), pb = static_cast<size_t>(C) * sizeof(float);
    DeviceBuf x, y, g, b, rm, rv, affine;
    BN_CUDA_TRY(x.alloc(db));
    BN_CUDA_TRY(y.alloc(db));
    BN_CUDA_TRY(rm.alloc(pb));
    BN_CUDA_TRY(rv.alloc(pb));
    BN_CUDA_TRY(affine.alloc(2 * pb));
    BN_CUDA_TRY(cudaMemcpy(x.p, a.x, db, cudaMemcpyHostToDevice));
    BN_CUDA_TRY(cudaMemcpy(rm.p, a.running_mean, pb, cudaMemcpyHostToDevice));
    BN_CUDA_TRY(cudaMemcpy(rv.p, a.running_var, pb, cudaMemcpyHostToDevice));
    if (a.gamma) {
      BN_CUDA_TRY(g.alloc(pb));
      BN_CUDA_TRY(b.alloc(pb));
      BN_CUDA_TRY(cudaMemcpy(g.p, a.gamma, pb, cudaMemcpyHostToDevice));
      BN_CUDA_TRY(cudaMemcpy(b.p, a.beta, pb, cudaMemcpyHostToDevice));
    }
    const Affine k{static_cast<float*>(rm.p), static_cast<float*>(affine.p), static_cast<float*>(affine.p) + C};
    inference_affine<<<static_cast<unsigned>((C + kThreads - 1) / kThreads), kThreads>>>(
        C, static_cast<float*>(rv.p), static_cast<float>(p.eps), static_cast<float*>(g.p), static_cast<float*>(b.p), k);
    launch_normalize<T>(p, static_cast<T*>(x.p), static_cast<T*>(y.p), k);
    BN_CUDA_TRY(cudaGetLastError());
    BN_CUDA_TRY(cudaMemcpy(a.y, y.p, db, cudaMemcpyDeviceToHost));
    return Status::success();
  }

  template <class T>
  static Status launch_bwd(const Problem& p, const T* x, const T* dy, T* dx, const float* g, const float* mean,
                           const float* inv, float* dgamma, float* dbeta, float2* part, void* consts, int B) {
    const int64_t C = p.c, S = p.spatial_size(), M = p.reduction_size(), E = p.elements();
    const bool cl = p.layout == Layout::channels_last;
    if (cl)
      with_access<T>(
          C, {x, dy},
          [&](auto v) {
            constexpr int P = decltype(v)::value;
            backward_sums_cl<T, P><<<dim3(static_cast<unsigned>((C + kClChannels * P - 1) / (kClChannels * P)), B),
                                     dim3(kClChannels, kClRows)>>>(x, dy, C, M, mean, inv, part);
          },
          cl_pack<T>(C));
    else
      with_access<T>(S, {x, dy}, [&](auto v) {
        backward_sums<T, decltype(v)::value>
            <<<dim3(static_cast<unsigned>(C), B), kThreads>>>(x, dy, C, S, M, mean, inv, part);
      });
    backward_finalize<<<static_cast<unsigned>((C + kFinalizeWarps - 1) / kFinalizeWarps), 32 * kFinalizeWarps>>>(
        part, B, C, dbeta, dgamma, inv, g, BackwardConstants(consts, C));
    const ChannelOf channel(cl, C, S, E);
    const BackwardConstants k(consts, C);
    with_access<T>(E, {x, dy, dx}, [&](auto v) {
      constexpr int V = decltype(v)::value;
      if (channel_run(p) % V == 0)
        backward_dx_kernel<T, V, true>
            <<<grid_for(E / V), kThreads>>>(x, dy, dx, E / V, channel, static_cast<float>(M), mean, inv, k);
      else
        backward_dx_kernel<T, V, false>
            <<<grid_for(E / V), kThreads>>>(x, dy, dx, E / V, channel, static_cast<float>(M), mean, inv, k);
    });
    BN_CUDA_TRY(cudaGetLastError());
    return Status::success();
  }

  template <class T>
  Status bwd(const Problem& p, const BackwardArgs& a, double*) {
    const int64_t C = p.c, E = p.elements();
    const int B = blocks_for<T>(p);
    const size_t db = static_cast<size_t>(E) * sizeof(T), pb = static_cast<size_t>(C) * sizeof(float);
    DeviceBuf x, dy, dx, g, mean, inv, dg, dbt, part, sums;
    BN_CUDA_TRY(x.alloc(db));
    BN_CUDA_TRY(dy.alloc(db));
    BN_CUDA_TRY(dx.alloc(db));
    BN_CUDA_TRY(mean.alloc(pb));
    BN_CUDA_TRY(inv.alloc(pb));
    BN_CUDA_TRY(part.alloc(static_cast<size_t>(C) * B * sizeof(float2)));
    BN_CUDA_TRY(sums.alloc(BackwardConstants::bytes(C)));
    BN_CUDA_TRY(cudaMemcpy(x.p, a.x, db, cudaMemcpyHostToDevice));
    BN_CUDA_TRY(cudaMemcpy(dy.p, a.dy, db, cudaMemcpyHostToDevice));
    BN_CUDA_TRY(cudaMemcpy(mean.p, a.save_mean, pb, cudaMemcpyHostToDevice));
    BN_CUDA_TRY(cudaMemcpy(inv.p, a.save_stat, pb, cudaMemcpyHostToDevice));
    if (a.gamma) {
      BN_CUDA_TRY(g.alloc(pb));
      BN_CUDA_TRY(cudaMemcpy(g.p, a.gamma, pb, cudaMemcpyHostToDevice));
    }
    if (a.dgamma) {
      BN_CUDA_TRY(dg.alloc(pb));
      BN_CUDA_TRY(dbt.alloc(pb));
    }
    Status s =
        launch_bwd<T>(p, static_cast<T*>(x.p), static_cast<T*>(dy.p), static_cast<T*>(dx.p), static_cast<float*>(g.p),
                      static_cast<float*>(mean.p), static_cast<float*>(inv.p), static_cast<float*>(dg.p),
                      static_cast<float*>(dbt.p), static_cast<float2*>(part.p), sums.p, B);
    if (!s.ok()) return s;
    BN_CUDA_TRY(cudaMemcpy(a.dx, dx.p, db, cudaMemcpyDeviceToHost));
    if (a.dgamma) {
      BN_CUDA_TRY(cudaMemcpy(a.dgamma, dg.p, pb, cudaMemcpyDeviceToHost));
      BN_CUDA_TRY(cudaMemcpy(a.dbeta, dbt.p, pb, cudaMemcpyDeviceToHost));
    }
    return Status::success();
  }

  template <class T>
  std::optional<DeviceTiming> timed(const Problem& p, int warmup, int reps);
};

template <class T>
std::optional<CudaBN::DeviceTiming> CudaBN::timed(const Problem& p, int warmup, int reps) {
  const int64_t C = p.c, E = p.elements();
  const size_t db = static_cast<size_t>(E) * sizeof(T), pb = static_cast<size_t>(C) * sizeof(float);
  DeviceBuf x, y, dy, g, b, mean, inv, rm, rv, part, sums;
  const int B = blocks_for<T>(p);
  for (auto* d : {&x, &y, &dy})
    if (d->alloc(db) != cudaSuccess) return std::nullopt;
  for (auto* d : {&g, &b, &mean, &inv, &rm, &rv})
    if (d->alloc(pb) != cudaSuccess) return std::nullopt;
  if (part.alloc(std::max(TrainScratch::bytes(C, B), static_cast<size_t>(C) * B * sizeof(float2))) != cudaSuccess)
    return std::nullopt;
  if (sums.alloc(BackwardConstants::bytes(C)) != cudaSuccess) return std::nullopt;
  cudaMemset(x.p, 0, db);
  cudaMemset(dy.p, 0, db);
  cudaMemset(g.p, 0, pb);
  cudaMemset(inv.p, 0, pb);
  auto once = [&] {
    const Status s =
        p.dir == Direction::bwd
            ? launch_bwd<T>(p, static_cast<T*>(x.p), static_cast<T*>(dy.p), static_cast<T*>(y.p),
                            static_cast<float*>(g.p), static_cast<float*>(mean.p), static_cast<float*>(inv.p),
                            static_cast<float*>(rm.p), static_cast<float*>(rv.p), static_cast<float2*>(part.p), sums.p,
                            B)
            : launch_train<T>(p, static_cast<T*>(x.p), static_cast<T*>(y.p), static_cast<float*>(g.p),
                              static_cast<float*>(b.p), static_cast<float*>(mean.p), static_cast<float*>(inv.p),
                              static_cast<float*>(rm.p), static_cast<float*>(rv.p), part.p, B);
    return s.ok();
  };
  return time_against_copy(once, y.p, x.p, db, warmup, reps);
}

std::optional<CudaBN::DeviceTiming> CudaBN::time_on_device(const Problem& p, int warmup, int reps) {
  if (!availability().available || !supports(p).supported ||
      p.dir == Direction::fwd_infer)  // timed: the training forward and the backward
    return std::nullopt;
  switch (p.dtype) {
    case Dtype::f32: return timed<float>(p, warmup, reps);
    case Dtype::f16: return timed<__half>(p, warmup, reps);
    case Dtype::bf16: return timed<__nv_bfloat16>(p, warmup, reps);
    default: return std::nullopt;
  }
}

}  // namespace

std::unique_ptr<Backend> make_cuda_welford() { return std::make_unique<CudaBN>(); }

}  // namespace bncheck::gpu
