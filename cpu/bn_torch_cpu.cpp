// LibTorch CPU: the shared adapter (common/torch_bn.hpp) on CPU tensors, which wrap
// our buffers in place.
#include "common/backend_module.hpp"
#include "common/torch_bn.hpp"

namespace bncheck::cpu {
namespace {

class TorchCpu final : public torch_adapter::TorchBN {
 public:
  TorchCpu() : TorchBN(at::kCPU) {}
  std::string name() const override { return "torch_cpu"; }
  std::string description() const override {
    return std::string("LibTorch ") + TORCH_VERSION +
           " CPU at::native_batch_norm (declared: f32 arithmetic for "
           "f32/f16/bf16 data, f64 for f64; fast-math unknown)";
  }
  Numerics numerics(const Problem& p) const override {
    Numerics n;
    n.accumulation_bits = n.compute_bits = p.dtype == Dtype::f64 ? 53 : 24;
    n.stats = StatsAlgorithm::unknown;
    n.folds_inference = true;  // observed: x = running mean does not give beta exactly (docs/findings.md, F2)
    return n;
  }
};

}  // namespace

std::unique_ptr<Backend> make_torch_cpu() { return std::make_unique<TorchCpu>(); }

}  // namespace bncheck::cpu

BNCHECK_BACKEND_MODULE(bncheck_module_torch_cpu, bncheck::cpu::make_torch_cpu)
