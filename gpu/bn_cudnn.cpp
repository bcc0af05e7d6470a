// cuDNN batch normalization (the cudnnBatchNormalization* API, deprecated in cuDNN 9
// but present), in spatial and spatial-persistent modes, NCHW/NHWC (any layout through
// strides; 0-1 spatial dimensions are padded to 4-D, 3 to 5-D). Host buffers are
// copied to the device around each call. Conventions: cuDNN's are PyTorch's (unbiased
// running variance, r <- (1-m) r + m s with m the exponential average factor, saves
// the inverse std); epsilon must be at least CUDNN_BN_MIN_EPSILON.
#include <cuda_runtime.h>
#include <cudnn.h>

#include "bncheck/backend.hpp"
#include "gpu/device_buffer.hpp"
#include "gpu/device_timing.hpp"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace bncheck::gpu {
namespace {

struct DevBuf : DeviceBuffer {
  bool alloc(size_t n) { return DeviceBuffer::alloc(n) == cudaSuccess; }
};

cudnnDataType_t cudnn_type(Dtype d) {
  switch (d) {
    case Dtype::f64: return CUDNN_DATA_DOUBLE;
    case Dtype::f32: return CUDNN_DATA_FLOAT;
    case Dtype::f16: return CUDNN_DATA_HALF;
    case Dtype::bf16: return CUDNN_DATA_BFLOAT16;
  }
  return CUDNN_DATA_FLOAT;
}

// cuDNN's blend factors (y = 1 * result + 0 * y), typed as the data's compute type.
struct Blend {
  float f1 = 1, f0 = 0;
  double d1 = 1, d0 = 0;
  bool wide;
  explicit Blend(const Problem& p) : wide(p.dtype == Dtype::f64) {}
  const void* one() const { return wide ? static_cast<const void*>(&d1) : &f1; }
  const void* zero() const { return wide ? static_cast<const void*>(&d0) : &f0; }
};

class CudnnBN final : public Backend {
 public:
  explicit CudnnBN(cudnnBatchNormMode_t mode) : mode_(mode) {}
  ~CudnnBN() override {
    if (handle_) cudnnDestroy(handle_);
  }
  std::string name() const override { return mode_ == CUDNN_BATCHNORM_SPATIAL ? "cudnn_spatial" : "cudnn_persistent"; }
  std::string description() const override {
    return "cuDNN " + std::to_string(cudnnGetVersion()) +
           (mode_ == CUDNN_BATCHNORM_SPATIAL ? " CUDNN_BATCHNORM_SPATIAL" : " CUDNN_BATCHNORM_SPATIAL_PERSISTENT") +
           " (declared: f32 arithmetic, f64 for f64 data)";
  }
  Availability availability() const override { return cuda_availability(); }
  Support supports(const Problem& p) const override {
    if (p.eps < CUDNN_BN_MIN_EPSILON) return Support::no("cuDNN needs eps >= CUDNN_BN_MIN_EPSILON");
    const Dtype want = p.dtype == Dtype::f64 ? Dtype::f64 : Dtype::f32;
    if (p.pdtype != want) return Support::no("cuDNN keeps parameters in f32 (f64 for f64 data)");
    if (p.reduction_size() < 2) return Support::no("cuDNN rejects a per-channel count of 1 in training");
    if (p.dir == Direction::fwd_infer && p.n > 65535)
      return Support::no("cuDNN's inference answers CUDNN_STATUS_NOT_SUPPORTED for a batch above 65535");
    return Support::yes();
  }
  // cuDNN's conventions are PyTorch's, whatever the problem asks for.
  Conventions conventions(const Problem&) const override { return Conventions{}; }
  Numerics numerics(const Problem& p) const override {
    Numerics n;
    n.accumulation_bits = n.compute_bits = p.dtype == Dtype::f64 ? 53 : 24;
    n.deterministic = mode_ == CUDNN_BATCHNORM_SPATIAL;  // persistent mode may use atomics
    // Observed on an H200 (docs/gpu-results.md): channels-last inference gives
    // y = -1.5e-8 at x = running mean, i.e. it computes x s + (beta - rm s).
    n.folds_inference = p.layout == Layout::channels_last;
    return n;
  }
  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    Desc d;
    if (Status s = describe(p, &d); !s.ok()) return s;
    const size_t db = data_bytes(p), pb = param_bytes(p);
    DevBuf x, y, g, b, rm, rv, sm, si;
    for (auto* t : {&x, &y})
      if (!t->alloc(db)) return Status::error("cudaMalloc failed");
    for (auto* t : {&g, &b, &rm, &rv, &sm, &si})
      if (!t->alloc(pb)) return Status::error("cudaMalloc failed");
    cudaMemcpy(x.p, a.x, db, cudaMemcpyHostToDevice);
    upload_params(p, a.gamma, a.beta, a.running_mean, a.running_var, g, b, rm, rv);
    const Blend bl(p);
    const cudnnStatus_t st =
        cudnnBatchNormalizationForwardTraining(handle_, mode_, bl.one(), bl.zero(), d.x, x.p, d.x, y.p, d.bn, g.p, b.p,
                                               p.momentum, rm.p, rv.p, p.eps, sm.p, si.p);
    if (st != CUDNN_STATUS_SUCCESS) return Status::error(std::string("cuDNN: ") + cudnnGetErrorString(st));
    cudaMemcpy(a.y, y.p, db, cudaMemcpyDeviceToHost);
    cudaMemcpy(a.save_mean, sm.p, pb, cudaMemcpyDeviceToHost);
    cudaMemcpy(a.save_stat, si.p, pb, cudaMemcpyDeviceToHost);
    cudaMemcpy(a.running_mean, rm.p, pb, cudaMemcpyDeviceToHost);
    cudaMemcpy(a.running_var, rv.p, pb, cudaMemcpyDeviceToHost);
    return cuda_status();
  }
  Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) override {
    Desc d;
    if (Status s = describe(p, &d); !s.ok()) return s;
    const size_t db = data_bytes(p), pb = param_bytes(p);
    DevBuf x, y, g, b, rm, rv;
    for (auto* t : {&x, &y})
      if (!t->alloc(db)) return Status::error("cudaMalloc failed");
    for (auto* t : {&g, &b, &rm, &rv})
      if (!t->alloc(pb)) return Status::error("cudaMalloc failed");
    cudaMemcpy(x.p, a.x, db, cudaMemcpyHostToDevice);
    upload_params(p, a.gamma, a.beta, a.running_mean, a.running_var, g, b, rm, rv);
    const Blend bl(p);
    // Inference has no persistent variant: spatial.
    const cudnnStatus_t st = cudnnBatchNormalizationForwardInference(
        handle_, CUDNN_BATCHNORM_SPATIAL, bl.one(), bl.zero(), d.x, x.p, d.x, y.p, d.bn, g.p, b.p, rm.p, rv.p, p.eps);
    if (st != CUDNN_STATUS_SUCCESS) return Status::error(std::string("cuDNN: ") + cudnnGetErrorString(st));
    cudaMemcpy(a.y, y.p, db, cudaMemcpyDeviceToHost);
    return cuda_status();
  }
  // The training forward or the backward on device-resident buffers (zeros: cuDNN's
  // time does not depend on the values), against a device copy of the data.
  std::optional<DeviceTiming> time_on_device(const Problem& p, int warmup, int reps) override {
    if (!availability().available || !supports(p).supported ||
        p.dir == Direction::fwd_infer)  // timed: the training forward and the backward
      return std::nullopt;
    Desc d;
    if (!describe(p, &d).ok()) return std::nullopt;
    const size_t db = data_bytes(p), pb = param_bytes(p);
    DevBuf x, y, dy, g, b, rm, rv, sm, si, dg, dbt;
    for (auto* t : {&x, &y, &dy})
      if (!t->alloc(db) || cudaMemset(t->p, 0, db) != cudaSuccess) return std::nullopt;
    for (auto* t : {&g, &b, &rm, &rv, &sm, &si, &dg, &dbt})
      if (!t->alloc(pb) || cudaMemset(t->p, 0, pb) != cudaSuccess) return std::nullopt;
    const Blend bl(p);
    auto once = [&] {
      const cudnnStatus_t st =
          p.dir == Direction::bwd
              ? cudnnBatchNormalizationBackward(handle_, mode_, bl.one(), bl.zero(), bl.one(), bl.zero(), d.x, x.p, d.x,
                                                dy.p, d.x, y.p, d.bn, g.p, dg.p, dbt.p, p.eps, sm.p, si.p)
              : cudnnBatchNormalizationForwardTraining(handle_, mode_, bl.one(), bl.zero(), d.x, x.p, d.x, y.p, d.bn,
                                                       g.p, b.p, p.momentum, rm.p, rv.p, p.eps, sm.p, si.p);
      return st == CUDNN_STATUS_SUCCESS;
    };
    return time_against_copy(once, y.p, x.p, db, warmup, reps);
  }
  Status backward(const Problem& p, const BackwardArgs& a) override {
    Desc d;
    if (Status s = describe(p, &d); !s.ok()) return s;
    const size_t db = data_bytes(p), pb = param_bytes(p);
    DevBuf x, dy, dx, g, dg, dbt, sm, si;
    for (auto* t : {&x, &dy, &dx})
      if (!t->alloc(db)) return Status::error("cudaMalloc failed");
    for (auto* t : {&g, &dg, &dbt, &sm, &si})
      if (!t->alloc(pb)) return Status::error("cudaMalloc failed");
    std::vector<unsigned char> ones = unit_params(p, 1.0);
    cudaMemcpy(x.p, a.x, db, cudaMemcpyHostToDevice);
    cudaMemcpy(dy.p, a.dy, db, cudaMemcpyHostToDevice);
    cudaMemcpy(g.p, a.gamma ? a.gamma : ones.data(), pb, cudaMemcpyHostToDevice);
    cudaMemcpy(sm.p, a.save_mean, pb, cudaMemcpyHostToDevice);
    cudaMemcpy(si.p, a.save_stat, pb, cudaMemcpyHostToDevice);
    const Blend bl(p);
    const cudnnStatus_t st =
        cudnnBatchNormalizationBackward(handle_, mode_, bl.one(), bl.zero(), bl.one(), bl.zero(), d.x, x.p, d.x, dy.p,
                                        d.x, dx.p, d.bn, g.p, dg.p, dbt.p, p.eps, sm.p, si.p);
    if (st != CUDNN_STATUS_SUCCESS) return Status::error(std::string("cuDNN: ") + cudnnGetErrorString(st));
    cudaMemcpy(a.dx, dx.p, db, cudaMemcpyDeviceToHost);
    if (a.dgamma) cudaMemcpy(a.dgamma, dg.p, pb, cudaMemcpyDeviceToHost);
    if (a.dbeta) cudaMemcpy(a.dbeta, dbt.p, pb, cudaMemcpyDeviceToHost);
    return cuda_status();
  }

 private:
  struct Desc {
    cudnnTensorDescriptor_t x = nullptr, bn = nullptr;
    ~Desc() {
      if (x) cudnnDestroyTensorDescriptor(x);
      if (bn) cudnnDestroyTensorDescriptor(bn);
    }
  };
  Status describe(const Problem& p, Desc* d) {
    if (!handle_ && cudnnCreate(&handle_) != CUDNN_STATUS_SUCCESS) return Status::error("cudnnCreate failed");
    // (N, C, spatial...) padded to 4-D (or 5-D), strides of the layout.
    std::vector<int> dims{static_cast<int>(p.n), static_cast<int>(p.c)};
    for (int i = 0; i < p.rank; ++i) dims.push_back(static_cast<int>(p.spatial[i]));
    while (dims.size() < 4) dims.push_back(1);
    const int nd = static_cast<int>(dims.size());
    std::vector<int> strides(nd);
    if (p.layout == Layout::channels_first) {
      int s = 1;
      for (int i = nd - 1; i >= 0; --i) {
        strides[i] = s;
        s *= dims[i];
      }
    } else {
      int s = dims[1];
      strides[1] = 1;
      for (int i = nd - 1; i >= 2; --i) {
        strides[i] = s;
        s *= dims[i];
      }
      strides[0] = s;
    }
    cudnnCreateTensorDescriptor(&d->x);
    cudnnCreateTensorDescriptor(&d->bn);
    cudnnStatus_t st = cudnnSetTensorNdDescriptor(d->x, cudnn_type(p.dtype), nd, dims.data(), strides.data());
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnDeriveBNTensorDescriptor(d->bn, d->x, mode_);
    if (st != CUDNN_STATUS_SUCCESS) return Status::error(std::string("cuDNN descriptor: ") + cudnnGetErrorString(st));
    return Status::success();
  }
  static size_t data_bytes(const Problem& p) { return static_cast<size_t>(p.elements()) * format_info(p.dtype).bytes; }
  static size_t param_bytes(const Problem& p) { return static_cast<size_t>(p.c) * format_info(p.pdtype).bytes; }
  static std::vector<unsigned char> unit_params(const Problem& p, double v) {
    std::vector<unsigned char> b(param_bytes(p));
    for (int64_t c = 0; c < p.c; ++c) store_rounded(b.data(), p.pdtype, static_cast<size_t>(c), v);
    return b;
  }
  // gamma and beta (1 and 0 when not affine) and the running statistics, to the device.
  static void upload_params(const Problem& p, const void* gamma, const void* beta, const void* rmean, const void* rvar,
                            DevBuf& g, DevBuf& b, DevBuf& rm, DevBuf& rv) {
    const size_t pb = param_bytes(p);
    const std::vector<unsigned char> ones = unit_params(p, 1.0), zeros = unit_params(p, 0.0);
    cudaMemcpy(g.p, gamma ? gamma : ones.data(), pb, cudaMemcpyHostToDevice);
    cudaMemcpy(b.p, beta ? beta : zeros.data(), pb, cudaMemcpyHostToDevice);
    cudaMemcpy(rm.p, rmean, pb, cudaMemcpyHostToDevice);
    cudaMemcpy(rv.p, rvar, pb, cudaMemcpyHostToDevice);
  }
  static Status cuda_status() {
    const cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? Status::success() : Status::error(std::string("CUDA: ") + cudaGetErrorString(e));
  }
  cudnnBatchNormMode_t mode_;
  cudnnHandle_t handle_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> make_cudnn_spatial() { return std::make_unique<CudnnBN>(CUDNN_BATCHNORM_SPATIAL); }
std::unique_ptr<Backend> make_cudnn_persistent() {
  return std::make_unique<CudnnBN>(CUDNN_BATCHNORM_SPATIAL_PERSISTENT);
}

}  // namespace bncheck::gpu
