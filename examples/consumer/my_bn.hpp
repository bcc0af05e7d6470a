// MyBN: the example project's own Batch Normalization (plain f32 with two-pass
// statistics accumulated in double), and MyBN(one_pass), a planted weakness: the
// variance as E[x^2] - E[x]^2 in float, which loses every digit when |mean| >> std.
#pragma once

#include <bncheck/bncheck.hpp>

#include <cmath>
#include <string>

namespace my_bn {

using bncheck::Problem;
using bncheck::Status;

class MyBN final : public bncheck::Backend {
 public:
  explicit MyBN(bool one_pass) : one_pass_(one_pass) {}
  std::string name() const override { return one_pass_ ? "my_bn_one_pass" : "my_bn"; }
  std::string description() const override { return "example: f32 batch norm"; }
  bncheck::Support supports(const Problem& p) const override {
    if (p.dtype != bncheck::Dtype::f32 || p.pdtype != bncheck::Dtype::f32) return bncheck::Support::no("f32 only");
    if (p.reduction_size() < 2) return bncheck::Support::no("needs M >= 2 for the unbiased running variance");
    return bncheck::Support::yes();
  }
  bncheck::Numerics numerics(const Problem&) const override {
    bncheck::Numerics n;  // declared honestly: the budget follows from it (docs/error-model.md)
    n.accumulation_bits = one_pass_ ? 24 : 53;
    n.compute_bits = 53;
    n.stats = one_pass_ ? bncheck::StatsAlgorithm::one_pass : bncheck::StatsAlgorithm::two_pass;
    n.sum_based_stats = !one_pass_;
    return n;
  }

  Status forward_training(const Problem& p, const bncheck::ForwardTrainingArgs& a) override {
    const int64_t M = p.reduction_size();
    for (int64_t c = 0; c < p.c; ++c) {
      double mean = 0, var = 0;
      if (one_pass_) {
        float s = 0, s2 = 0;
        for_channel(p, c, [&](int64_t i) {
          s += x(a.x, i);
          s2 += x(a.x, i) * x(a.x, i);
        });
        const float m = s / static_cast<float>(M);
        mean = m;
        var = s2 / static_cast<float>(M) - m * m;
      } else {
        for_channel(p, c, [&](int64_t i) { mean += x(a.x, i); });
        mean /= static_cast<double>(M);
        for_channel(p, c, [&](int64_t i) { var += (x(a.x, i) - mean) * (x(a.x, i) - mean); });
        var /= static_cast<double>(M);
      }
      const double invstd = 1.0 / std::sqrt(var + p.eps);
      const double g = p.affine ? x(a.gamma, c) : 1.0, b = p.affine ? x(a.beta, c) : 0.0;
      for_channel(p, c, [&](int64_t i) { put(a.y, i, (x(a.x, i) - mean) * invstd * g + b); });
      put(a.save_mean, c, mean);
      put(a.save_stat, c, p.conv.saved == bncheck::SavedStat::invstd ? invstd : var);
      const double run_var = p.conv.running_var == bncheck::RunningVar::unbiased
                                 ? var * static_cast<double>(M) / static_cast<double>(M - 1)
                                 : var;
      const double keep = p.conv.momentum_dir == bncheck::MomentumDir::new_stat ? 1 - p.momentum : p.momentum;
      put(a.running_mean, c, keep * x(a.running_mean, c) + (1 - keep) * mean);
      put(a.running_var, c, keep * x(a.running_var, c) + (1 - keep) * run_var);
    }
    return Status::success();
  }

  Status forward_inference(const Problem& p, const bncheck::ForwardInferenceArgs& a) override {
    for (int64_t c = 0; c < p.c; ++c) {
      const double invstd = 1.0 / std::sqrt(x(a.running_var, c) + p.eps);
      const double g = p.affine ? x(a.gamma, c) : 1.0, b = p.affine ? x(a.beta, c) : 0.0;
      const double rm = x(a.running_mean, c);
      for_channel(p, c, [&](int64_t i) { put(a.y, i, (x(a.x, i) - rm) * invstd * g + b); });
    }
    return Status::success();
  }

  Status backward(const Problem& p, const bncheck::BackwardArgs& a) override {
    const double M = static_cast<double>(p.reduction_size());
    for (int64_t c = 0; c < p.c; ++c) {
      const double mean = x(a.save_mean, c), s = x(a.save_stat, c);
      const double invstd = p.conv.saved == bncheck::SavedStat::invstd ? s : 1.0 / std::sqrt(s + p.eps);
      double dbeta = 0, dgamma = 0;
      for_channel(p, c, [&](int64_t i) {
        dbeta += x(a.dy, i);
        dgamma += x(a.dy, i) * (x(a.x, i) - mean) * invstd;
      });
      const double g = p.affine ? x(a.gamma, c) : 1.0;
      for_channel(p, c, [&](int64_t i) {
        const double xhat = (x(a.x, i) - mean) * invstd;
        put(a.dx, i, g * invstd / M * (M * x(a.dy, i) - dbeta - xhat * dgamma));
      });
      if (p.affine) {
        put(a.dgamma, c, dgamma);
        put(a.dbeta, c, dbeta);
      }
    }
    return Status::success();
  }

 private:
  static float x(const void* buf, int64_t i) { return static_cast<const float*>(buf)[i]; }
  static void put(void* buf, int64_t i, double v) { static_cast<float*>(buf)[i] = static_cast<float>(v); }
  template <class F>
  static void for_channel(const Problem& p, int64_t c, F f) {
    for (int64_t n = 0; n < p.n; ++n)
      for (int64_t s = 0; s < p.spatial_size(); ++s) f(p.index(n, c, s));
  }
  bool one_pass_;
};

}  // namespace my_bn
