// Host-side helpers of the CUDA backends: a device allocation freed on scope exit,
// and the availability check.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "bncheck/backend.hpp"

namespace bncheck::gpu {

struct DeviceBuffer {
  void* p = nullptr;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (p) cudaFree(p);
  }
  cudaError_t alloc(size_t bytes) { return bytes ? cudaMalloc(&p, bytes) : cudaSuccess; }
};

// Whether a CUDA device can run here, and why not.
inline Availability cuda_availability() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return {false, std::string("no CUDA device: ") + cudaGetErrorString(e)};
  if (n == 0) return {false, "no CUDA device"};
  return {};
}

}  // namespace bncheck::gpu
