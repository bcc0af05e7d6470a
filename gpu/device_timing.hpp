// Kernel timing shared by the device backends' `time_on_device`: CUDA events on the
// legacy default stream around each call (the stream LibTorch and cuDNN use unless
// told otherwise), the median of `reps` calls after `warmup`, and the device-to-device
// copy bandwidth of the same buffers measured the same way, in the same run.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <vector>

#include "bncheck/backend.hpp"

namespace bncheck::gpu {

class EventTimer {
 public:
  EventTimer() {
    cudaEventCreate(&e0_);
    cudaEventCreate(&e1_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  ~EventTimer() {
    cudaEventDestroy(e0_);
    cudaEventDestroy(e1_);
  }
  // Median milliseconds of fn() over reps calls after warmup calls; nullopt when a
  // call fails (fn returns false) or CUDA reports an error.
  template <class F>
  std::optional<double> median_ms(F&& fn, int warmup, int reps) {
    for (int i = 0; i < warmup; ++i)
      if (!fn()) return std::nullopt;
    std::vector<float> ms;
    for (int i = 0; i < std::max(reps, 1); ++i) {
      cudaEventRecord(e0_, nullptr);
      if (!fn()) return std::nullopt;
      cudaEventRecord(e1_, nullptr);
      if (cudaEventSynchronize(e1_) != cudaSuccess) return std::nullopt;
      float t = 0;
      cudaEventElapsedTime(&t, e0_, e1_);
      ms.push_back(t);
    }
    if (cudaGetLastError() != cudaSuccess) return std::nullopt;
    std::nth_element(ms.begin(), ms.begin() + static_cast<long>(ms.size() / 2), ms.end());
    return static_cast<double>(ms[ms.size() / 2]);
  }

 private:
  cudaEvent_t e0_ = nullptr, e1_ = nullptr;
};

// The backend's median time per call and the copy bandwidth (bytes read + written per
// second) of a device-to-device copy of `bytes`, between two device buffers of at
// least that size.
template <class F>
std::optional<Backend::DeviceTiming> time_against_copy(F&& call, void* dst, const void* src, size_t bytes, int warmup,
                                                       int reps) {
  EventTimer timer;
  const auto call_ms = timer.median_ms(call, warmup, reps);
  const auto copy_ms = timer.median_ms(
      [&] { return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, nullptr) == cudaSuccess; }, warmup, reps);
  if (!call_ms || !copy_ms || *call_ms <= 0 || *copy_ms <= 0) return std::nullopt;
  Backend::DeviceTiming t;
  t.seconds_per_call = *call_ms * 1e-3;
  t.copy_gbps = 2.0 * static_cast<double>(bytes) / (*copy_ms * 1e-3) / 1e9;
  return t;
}

}  // namespace bncheck::gpu
