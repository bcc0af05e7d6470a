// Our CUDA batch norm: Welford statistics per block, merged with Chan's formula (two
// launches, fixed order: deterministic), normalisation and backward as elementwise
// grid-stride kernels with 64-bit indices. Channels-first reduces along contiguous
// runs; channels-last puts 32 channels on the threads of a warp (coalesced). Data
// f32, f16 or bf16; statistics, gamma and beta f32. PyTorch's conventions.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
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

constexpr int kThreads = 256;
constexpr int kClChannels = 32, kClRows = 8;
// Loads each thread issues before it consumes them: enough bytes in flight to cover
// the memory latency (one load at a time leaves the kernels latency-bound).
constexpr int kUnroll = 4;

// Channels-first statistics: block (c, b) reduces a strided share of channel c.
template <class T>
__global__ void stats_cf(const T* x, int64_t C, int64_t S, int64_t M, Welford* partial) {
  __shared__ Welford sh[kThreads];
  const int64_t c = blockIdx.x;
  Welford w;
  const int64_t k0 = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x,
                step = static_cast<int64_t>(gridDim.y) * blockDim.x;
  ChannelWalk at(k0, step, S);
  int64_t k = k0;
  for (; k + (kUnroll - 1) * step < M; k += kUnroll * step) {
    float v[kUnroll];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j, at.next()) v[j] = ld(x, element_index(false, C, S, at.n, c, at.s));
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) w = welford_add(w, v[j]);
  }
  for (; k < M; k += step, at.next()) w = welford_add(w, ld(x, element_index(false, C, S, at.n, c, at.s)));
  sh[threadIdx.x] = w;
  __syncthreads();
  for (int h = blockDim.x / 2; h > 0; h /= 2) {
    if (threadIdx.x < h) sh[threadIdx.x] = welford_merge(sh[threadIdx.x], sh[threadIdx.x + h]);
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[c * gridDim.y + blockIdx.y] = sh[0];
}

// Channels-last statistics: threadIdx.x over 32 channels, threadIdx.y over rows.
template <class T>
__global__ void stats_cl(const T* x, int64_t C, int64_t M, Welford* partial) {
  __shared__ Welford sh[kClRows][kClChannels];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kClChannels + threadIdx.x;
  Welford w;
  if (c < C) {
    const int64_t step = static_cast<int64_t>(gridDim.y) * kClRows;
    int64_t row = static_cast<int64_t>(blockIdx.y) * kClRows + threadIdx.y;
    for (; row + (kUnroll - 1) * step < M; row += kUnroll * step) {
      float v[kUnroll];
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) v[j] = ld(x, (row + j * step) * C + c);
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) w = welford_add(w, v[j]);
    }
    for (; row < M; row += step) w = welford_add(w, ld(x, row * C + c));
  }
  sh[threadIdx.y][threadIdx.x] = w;
  __syncthreads();
  for (int h = kClRows / 2; h > 0; h /= 2) {
    if (threadIdx.y < h)
      sh[threadIdx.y][threadIdx.x] = welford_merge(sh[threadIdx.y][threadIdx.x], sh[threadIdx.y + h][threadIdx.x]);
    __syncthreads();
  }
  if (threadIdx.y == 0 && c < C) partial[c * gridDim.y + blockIdx.y] = sh[0][threadIdx.x];
}

// One thread per channel: merge the partials pairwise (a fixed tree), save the
// statistics, update the running ones. A channel whose sum of squares overflowed f32
// while its mean did not (data beyond ~1.8e19) is left to stats_rescue.
__global__ void stats_finalize(Welford* partial, int B, int64_t C, int64_t M, float eps, float momentum,
                               float* save_mean, float* save_invstd, float* rm, float* rv, int* rescue) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  Welford* p = partial + c * B;
  for (int step = 1; step < B; step *= 2)
    for (int i = 0; i + step < B; i += 2 * step) p[i] = welford_merge(p[i], p[i + step]);
  const float mean = p[0].mean, var = p[0].m2 / p[0].n;
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

// Blocks over the channels; only those stats_finalize flagged do any work.
template <class T>
__global__ void stats_rescue(const T* x, int64_t C, int64_t S, int64_t M, bool cl, float eps, float momentum,
                             float* save_mean, float* save_invstd, float* rm, float* rv, const int* rescue) {
  __shared__ float amax[kThreads];
  __shared__ Welford sh[kThreads];
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x)
    if (rescue[c]) rescue_channel(x, C, S, M, cl, eps, momentum, save_mean, save_invstd, rm, rv, c, amax, sh);
}

// y = (x - mean) * (gamma invstd) + beta, for training (batch statistics) and
// inference (running statistics, invstd computed here). Each thread loads kUnroll
// elements, a grid stride apart (coalesced), before computing.
template <class T>
__global__ void normalize(const T* x, T* y, int64_t E, ChannelOf channel, const float* mean, const float* invstd_or_var,
                          bool is_var, float eps, const float* gamma, const float* beta) {
  const int64_t G = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; base < E; base += kUnroll * G) {
    float v[kUnroll];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j)
      if (base + j * G < E) v[j] = ld(x, base + j * G);
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      const int64_t i = base + j * G;
      if (i >= E) break;
      const int64_t c = channel(i);
      const float r = is_var ? 1.0f / sqrtf(invstd_or_var[c] + eps) : invstd_or_var[c];
      const float g = gamma ? gamma[c] : 1.0f, b = beta ? beta[c] : 0.0f;
      st(y, i, (v[j] - mean[c]) * (g * r) + b);
    }
  }
}

// Backward sums per block: dbeta = sum dy, dgamma = sum dy xhat (f32, tree within the
// block). Channels-first: block (c, b) reduces a strided share of channel c.
template <class T>
__global__ void backward_sums(const T* x, const T* dy, int64_t C, int64_t S, int64_t M, const float* mean,
                              const float* invstd, float2* partial) {
  __shared__ float2 sh[kThreads];
  const int64_t c = blockIdx.x;
  const float m = mean[c], r = invstd[c];
  float2 acc = make_float2(0, 0);
  const int64_t k0 = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x,
                step = static_cast<int64_t>(gridDim.y) * blockDim.x;
  ChannelWalk at(k0, step, S);
  int64_t k = k0;
  for (; k + (kUnroll - 1) * step < M; k += kUnroll * step) {
    float xv[kUnroll], dv[kUnroll];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j, at.next()) {
      const int64_t i = element_index(false, C, S, at.n, c, at.s);
      xv[j] = ld(x, i);
      dv[j] = ld(dy, i);
    }
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      acc.x += dv[j];
      acc.y += dv[j] * ((xv[j] - m) * r);
    }
  }
  for (; k < M; k += step, at.next()) {
    const int64_t i = element_index(false, C, S, at.n, c, at.s);
    const float d = ld(dy, i);
    acc.x += d;
    acc.y += d * ((ld(x, i) - m) * r);
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

// The same for channels-last: threadIdx.x over 32 channels (coalesced), threadIdx.y
// over rows, as stats_cl.
template <class T>
__global__ void backward_sums_cl(const T* x, const T* dy, int64_t C, int64_t M, const float* mean, const float* invstd,
                                 float2* partial) {
  __shared__ float2 sh[kClRows][kClChannels];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kClChannels + threadIdx.x;
  float2 acc = make_float2(0, 0);
  if (c < C) {
    const float m = mean[c], r = invstd[c];
    const int64_t step = static_cast<int64_t>(gridDim.y) * kClRows;
    int64_t row = static_cast<int64_t>(blockIdx.y) * kClRows + threadIdx.y;
    for (; row + (kUnroll - 1) * step < M; row += kUnroll * step) {
      float xv[kUnroll], dv[kUnroll];
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) {
        xv[j] = ld(x, (row + j * step) * C + c);
        dv[j] = ld(dy, (row + j * step) * C + c);
      }
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) {
        acc.x += dv[j];
        acc.y += dv[j] * ((xv[j] - m) * r);
      }
    }
    for (; row < M; row += step) {
      const float d = ld(dy, row * C + c);
      acc.x += d;
      acc.y += d * ((ld(x, row * C + c) - m) * r);
    }
  }
  sh[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  for (int h = kClRows / 2; h > 0; h /= 2) {
    if (threadIdx.y < h) {
      sh[threadIdx.y][threadIdx.x].x += sh[threadIdx.y + h][threadIdx.x].x;
      sh[threadIdx.y][threadIdx.x].y += sh[threadIdx.y + h][threadIdx.x].y;
    }
    __syncthreads();
  }
  if (threadIdx.y == 0 && c < C) partial[c * gridDim.y + blockIdx.y] = sh[0][threadIdx.x];
}

__global__ void backward_finalize(float2* partial, int B, int64_t C, float* dbeta, float* dgamma, float* sums) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float2* p = partial + c * B;
  for (int step = 1; step < B; step *= 2)
    for (int i = 0; i + step < B; i += 2 * step) {
      p[i].x += p[i + step].x;
      p[i].y += p[i + step].y;
    }
  sums[2 * c] = p[0].x;
  sums[2 * c + 1] = p[0].y;
  if (dbeta) dbeta[c] = p[0].x;
  if (dgamma) dgamma[c] = p[0].y;
}

template <class T>
__global__ void backward_dx_kernel(const T* x, const T* dy, T* dx, int64_t E, ChannelOf channel, float M,
                                   const float* mean, const float* invstd, const float* gamma, const float* sums) {
  const int64_t G = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; base < E; base += kUnroll * G) {
    float xv[kUnroll], dv[kUnroll];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j)
      if (base + j * G < E) {
        xv[j] = ld(x, base + j * G);
        dv[j] = ld(dy, base + j * G);
      }
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      const int64_t i = base + j * G;
      if (i >= E) break;
      const int64_t c = channel(i);
      st(dx, i,
         backward_dx(xv[j], dv[j], mean[c], invstd[c], gamma ? gamma[c] : 1.0f, sums[2 * c], sums[2 * c + 1], M));
    }
  }
}

int blocks_per_channel(int64_t M, int64_t C, bool cl) {
  const int64_t per = cl ? kClRows * 64 : kThreads * 8;  // elements each block should at least handle
  const int64_t want = std::max<int64_t>(1, (M + per - 1) / per);
  const int64_t cap = std::max<int64_t>(1, 2048 / std::max<int64_t>(1, cl ? (C + kClChannels - 1) / kClChannels : C));
  return static_cast<int>(std::min<int64_t>({want, cap, 128}));
}

int grid_for(int64_t E) { return static_cast<int>(std::min<int64_t>((E + kThreads - 1) / kThreads, 65535)); }

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
    return "ours (CUDA): block Welford + Chan pairwise merges in f32, f32 elementwise; deterministic; no fast-math";
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
                             float* invstd, float* rm, float* rv, Welford* partial, int B) {
    const int64_t C = p.c, S = p.spatial_size(), M = p.reduction_size(), E = p.elements();
    const bool cl = p.layout == Layout::channels_last;
    if (cl)
      stats_cl<T><<<dim3(static_cast<unsigned>((C + kClChannels - 1) / kClChannels), B), dim3(kClChannels, kClRows)>>>(
          x, C, M, partial);
    else
      stats_cf<T><<<dim3(static_cast<unsigned>(C), B), kThreads>>>(x, C, S, M, partial);
    int* rescue = reinterpret_cast<int*>(partial + C * B);  // after the partials (rescue_bytes)
    stats_finalize<<<static_cast<unsigned>((C + 127) / 128), 128>>>(
        partial, B, C, M, static_cast<float>(p.eps), static_cast<float>(p.momentum), mean, invstd, rm, rv, rescue);
    stats_rescue<T><<<static_cast<unsigned>(std::min<int64_t>(C, 64)), kThreads>>>(
        x, C, S, M, cl, static_cast<float>(p.eps), static_cast<float>(p.momentum), mean, invstd, rm, rv, rescue);
    normalize<T><<<grid_for(E), kThreads>>>(x, y, E, ChannelOf(cl, C, S, E), mean, invstd, false, 0.0f, g, b);
    BN_CUDA_TRY(cudaGetLastError());
    return Status::success();
  }

  template <class T>
  Status train(const Problem& p, const ForwardTrainingArgs& a, double*) {
    const int64_t C = p.c, E = p.elements();
    const bool cl = p.layout == Layout::channels_last;
    const int B = blocks_per_channel(p.reduction_size(), C, cl);
    const size_t db = static_cast<size_t>(E) * sizeof(T), pb = static_cast<size_t>(C) * sizeof(float);
    DeviceBuf x, y, g, b, mean, inv, rm, rv, part;
    BN_CUDA_TRY(x.alloc(db));
    BN_CUDA_TRY(y.alloc(db));
    BN_CUDA_TRY(mean.alloc(pb));
    BN_CUDA_TRY(inv.alloc(pb));
    BN_CUDA_TRY(rm.alloc(pb));
    BN_CUDA_TRY(rv.alloc(pb));
    BN_CUDA_TRY(part.alloc(static_cast<size_t>(C) * B * sizeof(Welford) + static_cast<size_t>(C) * sizeof(int)));
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
                               static_cast<float*>(rm.p), static_cast<float*>(rv.p), static_cast<Welford*>(part.p), B);
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
    DeviceBuf x, y, g, b, rm, rv;
    BN_CUDA_TRY(x.alloc(db));
    BN_CUDA_TRY(y.alloc(db));
    BN_CUDA_TRY(rm.alloc(pb));
    BN_CUDA_TRY(rv.alloc(pb));
    BN_CUDA_TRY(cudaMemcpy(x.p, a.x, db, cudaMemcpyHostToDevice));
    BN_CUDA_TRY(cudaMemcpy(rm.p, a.running_mean, pb, cudaMemcpyHostToDevice));
    BN_CUDA_TRY(cudaMemcpy(rv.p, a.running_var, pb, cudaMemcpyHostToDevice));
    if (a.gamma) {
      BN_CUDA_TRY(g.alloc(pb));
      BN_CUDA_TRY(b.alloc(pb));
      BN_CUDA_TRY(cudaMemcpy(g.p, a.gamma, pb, cudaMemcpyHostToDevice));
      BN_CUDA_TRY(cudaMemcpy(b.p, a.beta, pb, cudaMemcpyHostToDevice));
    }
    normalize<T><<<grid_for(E), kThreads>>>(
        static_cast<T*>(x.p), static_cast<T*>(y.p), E,
        ChannelOf(p.layout == Layout::channels_last, C, p.spatial_size(), E), static_cast<float*>(rm.p),
        static_cast<float*>(rv.p), true, static_cast<float>(p.eps), static_cast<float*>(g.p), static_cast<float*>(b.p));
    BN_CUDA_TRY(cudaGetLastError());
    BN_CUDA_TRY(cudaMemcpy(a.y, y.p, db, cudaMemcpyDeviceToHost));
    return Status::success();
  }

  template <class T>
  static Status launch_bwd(const Problem& p, const T* x, const T* dy, T* dx, const float* g, const float* mean,
                           const float* inv, float* dgamma, float* dbeta, float2* part, float* sums, int B) {
    const int64_t C = p.c, S = p.spatial_size(), M = p.reduction_size(), E = p.elements();
    const bool cl = p.layout == Layout::channels_last;
    if (cl)
      backward_sums_cl<T>
          <<<dim3(static_cast<unsigned>((C + kClChannels - 1) / kClChannels), B), dim3(kClChannels, kClRows)>>>(
              x, dy, C, M, mean, inv, part);
    else
      backward_sums<T><<<dim3(static_cast<unsigned>(C), B), kThreads>>>(x, dy, C, S, M, mean, inv, part);
    backward_finalize<<<static_cast<unsigned>((C + 127) / 128), 128>>>(part, B, C, dbeta, dgamma, sums);
    backward_dx_kernel<T>
        <<<grid_for(E), kThreads>>>(x, dy, dx, E, ChannelOf(cl, C, S, E), static_cast<float>(M), mean, inv, g, sums);
    BN_CUDA_TRY(cudaGetLastError());
    return Status::success();
  }

  template <class T>
  Status bwd(const Problem& p, const BackwardArgs& a, double*) {
    const int64_t C = p.c, E = p.elements();
    const int B = blocks_per_channel(p.reduction_size(), C, p.layout == Layout::channels_last);
    const size_t db = static_cast<size_t>(E) * sizeof(T), pb = static_cast<size_t>(C) * sizeof(float);
    DeviceBuf x, dy, dx, g, mean, inv, dg, dbt, part, sums;
    BN_CUDA_TRY(x.alloc(db));
    BN_CUDA_TRY(dy.alloc(db));
    BN_CUDA_TRY(dx.alloc(db));
    BN_CUDA_TRY(mean.alloc(pb));
    BN_CUDA_TRY(inv.alloc(pb));
    BN_CUDA_TRY(part.alloc(static_cast<size_t>(C) * B * sizeof(float2)));
    BN_CUDA_TRY(sums.alloc(2 * pb));
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
                      static_cast<float*>(dbt.p), static_cast<float2*>(part.p), static_cast<float*>(sums.p), B);
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
  const bool cl = p.layout == Layout::channels_last;
  const size_t db = static_cast<size_t>(E) * sizeof(T), pb = static_cast<size_t>(C) * sizeof(float);
  DeviceBuf x, y, dy, g, b, mean, inv, rm, rv, part, sums;
  const int B = blocks_per_channel(p.reduction_size(), C, cl);
  for (auto* d : {&x, &y, &dy})
    if (d->alloc(db) != cudaSuccess) return std::nullopt;
  for (auto* d : {&g, &b, &mean, &inv, &rm, &rv})
    if (d->alloc(pb) != cudaSuccess) return std::nullopt;
  if (part.alloc(static_cast<size_t>(C) * B * std::max(sizeof(Welford), sizeof(float2)) +
                 static_cast<size_t>(C) * sizeof(int)) != cudaSuccess)
    return std::nullopt;
  if (sums.alloc(2 * pb) != cudaSuccess) return std::nullopt;
  cudaMemset(x.p, 0, db);
  cudaMemset(dy.p, 0, db);
  cudaMemset(g.p, 0, pb);
  cudaMemset(inv.p, 0, pb);
  auto once = [&] {
    const Status s =
        p.dir == Direction::bwd
            ? launch_bwd<T>(p, static_cast<T*>(x.p), static_cast<T*>(dy.p), static_cast<T*>(y.p),
                            static_cast<float*>(g.p), static_cast<float*>(mean.p), static_cast<float*>(inv.p),
                            static_cast<float*>(rm.p), static_cast<float*>(rv.p), static_cast<float2*>(part.p),
                            static_cast<float*>(sums.p), B)
            : launch_train<T>(p, static_cast<T*>(x.p), static_cast<T*>(y.p), static_cast<float*>(g.p),
                              static_cast<float*>(b.p), static_cast<float*>(mean.p), static_cast<float*>(inv.p),
                              static_cast<float*>(rm.p), static_cast<float*>(rv.p), static_cast<Welford*>(part.p), B);
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
