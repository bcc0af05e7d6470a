// LibTorch CUDA: the shared adapter (common/torch_bn.hpp) on CUDA tensors: our host
// buffers are copied to the device with their layout's strides (channels-first or
// channels-last), results copied back. Built wherever LibTorch and CUDA are; reports
// itself unavailable when the LibTorch found has no CUDA (Debian's) or no device.
#include "common/backend_module.hpp"
#include "common/torch_bn.hpp"
#include "gpu/device_buffer.hpp"
#include "gpu/device_timing.hpp"

namespace bncheck::gpu {
namespace {

class TorchCuda final : public torch_adapter::TorchBN {
 public:
  TorchCuda() : TorchBN(at::kCUDA) {}
  std::string name() const override { return "torch_cuda"; }
  std::string description() const override {
    return std::string("LibTorch ") + TORCH_VERSION +
           " CUDA at::native_batch_norm (declared: Welford statistics in f32 for f32/f16/bf16 data, f64 for f64)";
  }
  Availability availability() const override {
    if (!at::hasCUDA()) return {false, std::string("LibTorch ") + TORCH_VERSION + " has no CUDA, or sees no device"};
    return cuda_availability();
  }
  // PyTorch's conventions, but the CUDA training forward does not zero the inverse std
  // of a zero-variance channel at eps = 0 (invstd = +inf, y = NaN), unlike the CPU one.
  Conventions conventions(const Problem& p) const override {
    Conventions c = TorchBN::conventions(p);
    c.zero_var_invstd_is_zero = false;
    return c;
  }
  // The CUDA kernels take parameters in the data's dtype, or f32 with f16/bf16 data;
  // other pairings are rejected for some shapes and read as the wrong type for others.
  Support supports(const Problem& p) const override {
    const bool mixed_ok = (p.dtype == Dtype::f16 || p.dtype == Dtype::bf16) && p.pdtype == Dtype::f32;
    if (p.pdtype != p.dtype && !mixed_ok)
      return Support::no("LibTorch CUDA takes parameters in the data's dtype, or f32 with f16/bf16 data");
    return TorchBN::supports(p);
  }
  Numerics numerics(const Problem& p) const override {
    Numerics n;
    n.accumulation_bits = n.compute_bits = p.dtype == Dtype::f64 ? 53 : 24;
    n.stats = StatsAlgorithm::welford;  // batch_norm_collect_statistics: Welford per thread, merged
    n.folds_inference = true;           // inference: y = x (w invstd) + (b - mean w invstd)
    return n;
  }

  // The training forward or the backward on device tensors (zeros), against a device
  // copy of the data; the same events and stream as the other device backends.
  std::optional<DeviceTiming> time_on_device(const Problem& p, int warmup, int reps) override {
    if (!availability().available || !supports(p).supported ||
        p.dir == Direction::fwd_infer)  // timed: the training forward and the backward
      return std::nullopt;
    try {
      const auto sizes = torch_adapter::sizes_of(p), strides = torch_adapter::strides_of(p);
      const auto dopt = at::TensorOptions().dtype(torch_adapter::scalar_type(p.dtype)).device(at::kCUDA);
      const auto popt = at::TensorOptions().dtype(torch_adapter::scalar_type(p.pdtype)).device(at::kCUDA);
      at::Tensor x = at::empty_strided(sizes, strides, dopt).zero_(), y = at::empty_strided(sizes, strides, dopt);
      at::Tensor dy = at::zeros_like(x), g = at::ones({p.c}, popt), b = at::zeros({p.c}, popt);
      at::Tensor rm = at::zeros({p.c}, popt), rv = at::ones({p.c}, popt);
      at::Tensor sm = at::zeros({p.c}, popt), si = at::ones({p.c}, popt);
      auto once = [&] {
        if (p.dir == Direction::bwd)
          (void)at::native_batch_norm_backward(dy, x, g, c10::nullopt, c10::nullopt, sm, si, true, p.eps,
                                               {true, true, true});
        else
          (void)at::native_batch_norm(x, g, b, rm, rv, true, p.momentum, p.eps);
        return true;
      };
      const size_t bytes = static_cast<size_t>(x.numel()) * x.element_size();
      return time_against_copy(once, y.data_ptr(), x.data_ptr(), bytes, warmup, reps);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
};

}  // namespace

std::unique_ptr<Backend> make_torch_cuda() { return std::make_unique<TorchCuda>(); }

}  // namespace bncheck::gpu

BNCHECK_BACKEND_MODULE(bncheck_module_torch_cuda, bncheck::gpu::make_torch_cuda)
