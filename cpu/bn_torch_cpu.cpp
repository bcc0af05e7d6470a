// LibTorch CPU: at::native_batch_norm and at::native_batch_norm_backward, the
// kernels behind torch.nn.BatchNorm*d on CPU. Our buffers are wrapped in place
// (from_blob with the layout's strides); results are copied into them.
// Conventions: PyTorch's (unbiased running variance, r <- (1-m) r + m s, saves the
// inverse std). Which dtype pairings the found version implements is probed once.
#include <ATen/ATen.h>
#include <torch/version.h>

#include <map>
#include <mutex>

#include "cpu/cpu_common.hpp"

namespace bncheck::cpu {
namespace {

at::ScalarType scalar_type(Dtype dt) {
  switch (dt) {
    case Dtype::f64: return at::kDouble;
    case Dtype::f32: return at::kFloat;
    case Dtype::f16: return at::kHalf;
    case Dtype::bf16: return at::kBFloat16;
  }
  return at::kFloat;
}

std::vector<int64_t> sizes_of(const Problem& p) {
  std::vector<int64_t> s{p.n, p.c};
  for (int i = 0; i < p.rank; ++i) s.push_back(p.spatial[i]);
  return s;
}

// Strides of (N, C, spatial...) in the problem's layout.
std::vector<int64_t> strides_of(const Problem& p) {
  const int64_t S = p.spatial_size();
  std::vector<int64_t> st(2 + p.rank);
  if (p.layout == Layout::channels_first) {
    int64_t s = 1;
    for (int i = p.rank - 1; i >= 0; --i) {
      st[2 + i] = s;
      s *= p.spatial[i];
    }
    st[1] = S;
    st[0] = S * p.c;
  } else {
    int64_t s = p.c;
    for (int i = p.rank - 1; i >= 0; --i) {
      st[2 + i] = s;
      s *= p.spatial[i];
    }
    st[1] = 1;
    st[0] = S * p.c;
  }
  return st;
}

at::Tensor wrap(const Problem& p, const void* ptr, Dtype dt) {
  return at::from_blob(const_cast<void*>(ptr), sizes_of(p), strides_of(p), at::TensorOptions().dtype(scalar_type(dt)));
}

at::Tensor wrap_c(const Problem& p, const void* ptr) {
  return at::from_blob(const_cast<void*>(ptr), {p.c}, at::TensorOptions().dtype(scalar_type(p.pdtype)));
}

c10::optional<at::Tensor> wrap_opt(const Problem& p, const void* ptr) {
  if (!ptr) return c10::nullopt;
  return wrap_c(p, ptr);
}

class TorchCpu final : public Backend {
 public:
  std::string name() const override { return "torch_cpu"; }
  std::string description() const override {
    return std::string("LibTorch ") + TORCH_VERSION +
           " CPU at::native_batch_norm (declared: f32 arithmetic for "
           "f32/f16/bf16 data, f64 for f64; fast-math unknown)";
  }
  Support supports(const Problem& p) const override {
    std::lock_guard<std::mutex> lock(mu_);
    const auto key = std::make_tuple(p.dtype, p.pdtype, p.dir, p.affine);
    auto it = probed_.find(key);
    if (it == probed_.end()) it = probed_.emplace(key, probe(p)).first;
    return it->second;
  }
  Conventions conventions(const Problem&) const override {
    Conventions c;                     // PyTorch's, and:
    c.zero_var_invstd_is_zero = true;  // batch_norm_cpu: invstd = 0 when var == 0 and eps == 0
    return c;
  }
  Numerics numerics(const Problem& p) const override {
    Numerics n;
    n.accumulation_bits = n.compute_bits = p.dtype == Dtype::f64 ? 53 : 24;
    n.stats = StatsAlgorithm::unknown;
    n.folds_inference = true;  // observed: x = running mean does not give beta exactly (docs/findings.md, F2)
    return n;
  }

  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    return guarded([&] {
      at::Tensor rm = wrap_c(p, a.running_mean), rv = wrap_c(p, a.running_var);
      auto [y, mean, invstd] = at::native_batch_norm(wrap(p, a.x, p.dtype), wrap_opt(p, a.gamma), wrap_opt(p, a.beta),
                                                     rm, rv, true, p.momentum, p.eps);
      wrap(p, a.y, p.dtype).copy_(y);
      wrap_c(p, a.save_mean).copy_(mean);
      wrap_c(p, a.save_stat).copy_(invstd);
    });
  }

  Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) override {
    return guarded([&] {
      auto out = at::native_batch_norm(wrap(p, a.x, p.dtype), wrap_opt(p, a.gamma), wrap_opt(p, a.beta),
                                       wrap_c(p, a.running_mean), wrap_c(p, a.running_var), false, p.momentum, p.eps);
      wrap(p, a.y, p.dtype).copy_(std::get<0>(out));
    });
  }

  Status backward(const Problem& p, const BackwardArgs& a) override {
    return guarded([&] {
      auto [dx, dg, db] = at::native_batch_norm_backward(
          wrap(p, a.dy, p.dtype), wrap(p, a.x, p.dtype), wrap_opt(p, a.gamma), c10::nullopt, c10::nullopt,
          wrap_c(p, a.save_mean), wrap_c(p, a.save_stat), true, p.eps, {true, p.affine, p.affine});
      wrap(p, a.dx, p.dtype).copy_(dx);
      if (a.dgamma) wrap_c(p, a.dgamma).copy_(dg);
      if (a.dbeta) wrap_c(p, a.dbeta).copy_(db);
    });
  }

 private:
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
    auto* self = const_cast<TorchCpu*>(this);
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
  mutable std::map<std::tuple<Dtype, Dtype, Direction, bool>, Support> probed_;
};

}  // namespace

std::unique_ptr<Backend> make_torch_cpu() { return std::make_unique<TorchCpu>(); }

}  // namespace bncheck::cpu
