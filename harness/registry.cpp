// The registry: one line per backend. Optional backends compile out with their file.
#include "bncheck/backend.hpp"

namespace bncheck {
namespace cpu {
std::unique_ptr<Backend> make_cpu_two_pass();
std::unique_ptr<Backend> make_cpu_welford();
std::unique_ptr<Backend> make_cpu_one_pass_naive();
std::unique_ptr<Backend> make_cpu_two_pass_f32();
std::unique_ptr<Backend> make_torch_cpu();
std::unique_ptr<Backend> make_onednn_cpu();
}  // namespace cpu
namespace gpu {
std::unique_ptr<Backend> make_cuda_welford();
std::unique_ptr<Backend> make_cudnn_spatial();
std::unique_ptr<Backend> make_cudnn_persistent();
std::unique_ptr<Backend> make_torch_cuda();
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
#ifdef BNCHECK_HAVE_TORCH
  b.push_back(cpu::make_torch_cpu());
#endif
#ifdef BNCHECK_HAVE_DNNL
  b.push_back(cpu::make_onednn_cpu());
#endif
#ifdef BNCHECK_HAVE_CUDA
  b.push_back(gpu::make_cuda_welford());
#endif
#ifdef BNCHECK_HAVE_CUDNN
  b.push_back(gpu::make_cudnn_spatial());
  b.push_back(gpu::make_cudnn_persistent());
#endif
#if defined(BNCHECK_HAVE_CUDA) && defined(BNCHECK_HAVE_TORCH)
  b.push_back(gpu::make_torch_cuda());
#endif
  return b;
}

}  // namespace bncheck
