// The LibTorch adapter shared by the CPU and CUDA backends: at::native_batch_norm and
// at::native_batch_norm_backward, the kernels behind torch.nn.BatchNorm*d. Our host
// buffers are wrapped in place (from_blob with the layout's strides), moved to the
// backend's device (same strides) and the results copied back into them.
// Conventions: PyTorch's (unbiased running variance, r <- (1-m) r + m s, saves the
// inverse std; the CPU kernel's invstd = 0 where var = 0 and eps = 0, which the CUDA
// backend overrides). Which dtype pairings the found version implements is probed once.
#pragma once

#include <ATen/ATen.h>
#include <torch/version.h>

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "bncheck/backend.hpp"

namespace bncheck::torch_adapter {

inline at::ScalarType scalar_type(Dtype dt) {
  switch (dt) {
    case Dtype::f64: return at::kDouble;
    case Dtype::f32: return at::kFloat;
    case Dtype::f16: return at::kHalf;
    case Dtype::bf16: return at::kBFloat16;
  }
  return at::kFloat;
}

inline std::vector<int64_t> sizes_of(const Problem& p) {
  std::vector<int64_t> s{p.n, p.c};
  for (int i = 0; i < p.rank; ++i) s.push_back(p.spatial[i]);
  return s;
}

// Strides of (N, C, spatial...) in the problem's layout.
inline std::vector<int64_t> strides_of(const Problem& p) {
  const int64_t S = p.spatial_size();
  std::vector<int64_t> st(2 + p.rank);
  int64_t s = p.layout == Layout::channels_first ? 1 : p.c;
  for (int i = p.rank - 1; i >= 0; --i) {
    st[2 + i] = s;
    s *= p.spatial[i];
  }
  st[1] = p.layout == Layout::channels_first ? S : 1;
  st[0] = S * p.c;
  return st;
}

class TorchBN : public Backend {
 public:
  explicit TorchBN(at::DeviceType device) : device_(device) {}

  Support supports(const Problem& p) const override {
    std::lock_guard<std::mutex> lock(mu_);
    const auto key = std::make_tuple(p.dtype, p.pdtype, p.dir, p.affine, p.layout);
    auto it = probed_.find(key);
    if (it == probed_.end()) it = probed_.emplace(key, probe(p)).first;
    return it->second;
  }
  Conventions conventions(const Problem&) const override {
    Conventions c;                     // PyTorch's, and:
    c.zero_var_invstd_is_zero = true;  // InvStd: invstd = 0 when var == 0 and eps == 0
    return c;
  }

  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    return guarded([&] {
      at::Tensor rm = param(p, a.running_mean), rv = param(p, a.running_var);
      auto [y, mean, invstd] =
          at::native_batch_norm(data(p, a.x), opt(p, a.gamma), opt(p, a.beta), rm, rv, true, p.momentum, p.eps);
      host(p, a.y).copy_(y);
      host_c(p, a.save_mean).copy_(mean);
      host_c(p, a.save_stat).copy_(invstd);
      host_c(p, a.running_mean).copy_(rm);
      host_c(p, a.running_var).copy_(rv);
    });
  }

  Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) override {
    return guarded([&] {
      auto out = at::native_batch_norm(data(p, a.x), opt(p, a.gamma), opt(p, a.beta), param(p, a.running_mean),
                                       param(p, a.running_var), false, p.momentum, p.eps);
      host(p, a.y).copy_(std::get<0>(out));
    });
  }

  Status backward(const Problem& p, const BackwardArgs& a) override {
    return guarded([&] {
      auto [dx, dg, db] = at::native_batch_norm_backward(data(p, a.dy), data(p, a.x), opt(p, a.gamma), c10::nullopt,
                                                         c10::nullopt, param(p, a.save_mean), param(p, a.save_stat),
                                                         true, p.eps, {true, p.affine, p.affine});
      host(p, a.dx).copy_(dx);
      if (a.dgamma) host_c(p, a.dgamma).copy_(dg);
      if (a.dbeta) host_c(p, a.dbeta).copy_(db);
    });
  }

 protected:
  // Our buffers as host tensors, in place.
  static at::Tensor host(const Problem& p, const void* ptr) {
    return at::from_blob(const_cast<void*>(ptr), sizes_of(p), strides_of(p),
                         at::TensorOptions().dtype(scalar_type(p.dtype)));
  }
  static at::Tensor host_c(const Problem& p, const void* ptr) {
    return at::from_blob(const_cast<void*>(ptr), {p.c}, at::TensorOptions().dtype(scalar_type(p.pdtype)));
  }
  // The same on the backend's device (a copy with the same strides off the CPU).
  at::Tensor on_device(const at::Tensor& t) const {
    return device_ == at::kCPU ? t : t.to(at::Device(device_), /*non_blocking=*/false, /*copy=*/true);
  }
  at::Tensor data(const Problem& p, const void* ptr) const { return on_device(host(p, ptr)); }
  at::Tensor param(const Problem& p, const void* ptr) const { return on_device(host_c(p, ptr)); }
  c10::optional<at::Tensor> opt(const Problem& p, const void* ptr) const {
    if (!ptr) return c10::nullopt;
    return param(p, ptr);
  }

  template <class F>
  static Status guarded(F&& f) {
    try {
      f();
      return Status::success();
    } catch (const std::exception& e) {
      std::string m = e.what();
      return Status::error("LibTorch: " + m.substr(0, m.find('\n')));
    }
  }

  at::DeviceType device_;

 private:
  // A tiny call of the same dtypes and direction: does this LibTorch implement it?
  Support probe(const Problem& p) const {
    Problem q = p;
    q.n = 2;
    q.c = 2;
    q.rank = 1;
    q.spatial = {2, 1, 1};
    const size_t E = 8, C = 2;
    std::vector<unsigned char> x(E * 8), dy(E * 8), y(E * 8), pm(C * 8 * 8);
    for (size_t i = 0; i < E; ++i) {
      store_rounded(x.data(), q.dtype, i, double(i % 3));
      store_rounded(dy.data(), q.dtype, i, 1.0);
    }
    for (size_t k = 0; k < 8 * C; ++k) store_rounded(pm.data(), q.pdtype, k, 1.0);
    auto P = [&](int k) { return static_cast<void*>(pm.data() + k * C * 8); };
    auto A = [&](int k) { return q.affine ? P(k) : nullptr; };  // gamma, beta and their gradients
    auto* self = const_cast<TorchBN*>(this);
    Status s;
    if (q.dir == Direction::fwd_train)
      s = self->forward_training(q, {x.data(), A(0), A(1), y.data(), P(2), P(3), P(4), P(5)});
    else if (q.dir == Direction::fwd_infer)
      s = self->forward_inference(q, {x.data(), A(0), A(1), P(4), P(5), y.data()});
    else
      s = self->backward(q, {x.data(), dy.data(), A(0), P(2), P(3), y.data(), A(6), A(7)});
    if (s.ok()) return Support::yes();
    return Support::no("not implemented by this LibTorch (" + s.message + ")");
  }

  mutable std::mutex mu_;
  mutable std::map<std::tuple<Dtype, Dtype, Direction, bool, Layout>, Support> probed_;
};

}  // namespace bncheck::torch_adapter
