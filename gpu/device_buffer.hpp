// A device allocation freed on scope exit, for the host side of the CUDA backends.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace bncheck::gpu {

struct DeviceBuffer {
  void* p = nullptr;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { if (p) cudaFree(p); }
  cudaError_t alloc(size_t bytes) { return bytes ? cudaMalloc(&p, bytes) : cudaSuccess; }
};

}  // namespace bncheck::gpu
