// The registry: one line per backend. Optional backends compile out with their file.
#include "bncheck/backend.hpp"
#include "harness/module_backend.hpp"

namespace bncheck {
namespace cpu {
std::unique_ptr<Backend> make_cpu_two_pass();
std::unique_ptr<Backend> make_cpu_welford();
std::unique_ptr<Backend> make_cpu_one_pass_naive();
std::unique_ptr<Backend> make_cpu_two_pass_f32();
}  // namespace cpu
namespace gpu {
std::unique_ptr<Backend> make_cuda_welford();
std::unique_ptr<Backend> make_cudnn_spatial();
std::unique_ptr<Backend> make_cudnn_persistent();
}  // namespace gpu

const char* to_string(StatsAlgorithm a) {
  switch (a) {
    case StatsAlgorithm::two_pass: return "two-pass";
    case StatsAlgorithm::welford: return "welford";
    case StatsAlgorithm::one_pass: return "one-pass";
    case StatsAlgorithm::unknown: return "unknown";
  }
  return "?";
}

const char* to_string(SplitKind k) {
  switch (k) {
    case SplitKind::none: return "none";
    case SplitKind::mean_m2: return "mean+M2";
    case SplitKind::mean_std: return "mean+std";
    case SplitKind::sums: return "sums";
  }
  return "?";
}

std::vector<std::unique_ptr<Backend>> make_builtin_backends() {
  std::vector<std::unique_ptr<Backend>> b;
  b.push_back(cpu::make_cpu_two_pass());
  b.push_back(cpu::make_cpu_welford());
  b.push_back(cpu::make_cpu_one_pass_naive());
  b.push_back(cpu::make_cpu_two_pass_f32());
  // LibTorch, oneDNN and the LibTorch-CUDA adapter are modules: their libraries load
  // when the backend is first used, not when bncheck starts (common/backend_module.hpp).
#ifdef BNCHECK_HAVE_TORCH
  b.push_back(make_module_backend("torch_cpu", "bncheck_torch_cpu.so", "bncheck_module_torch_cpu"));
#endif
#ifdef BNCHECK_HAVE_DNNL
  b.push_back(make_module_backend("onednn_cpu", "bncheck_onednn_cpu.so", "bncheck_module_onednn_cpu"));
#endif
#ifdef BNCHECK_HAVE_CUDA
  b.push_back(gpu::make_cuda_welford());
#endif
#ifdef BNCHECK_HAVE_CUDNN
  b.push_back(gpu::make_cudnn_spatial());
  b.push_back(gpu::make_cudnn_persistent());
#endif
#if defined(BNCHECK_HAVE_CUDA) && defined(BNCHECK_HAVE_TORCH)
  b.push_back(make_module_backend("torch_cuda", "bncheck_torch_cuda.so", "bncheck_module_torch_cuda"));
#endif
  return b;
}

}  // namespace bncheck
