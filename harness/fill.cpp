// Deterministic data fills. Every tensor and every channel has its own random
// stream, drawn in (n, spatial) order: a channel's data is the same in both layouts
// and does not depend on C. The generator is our own (splitmix64 + Box-Muller on
// libm), not std::*_distribution, whose output differs between standard libraries.
#include <algorithm>
#include <cmath>

#include "harness/case_data.hpp"
#include "harness/fill_rules.hpp"
#include "harness/rng.hpp"

namespace bncheck {

namespace {

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed, uint64_t tag, uint64_t channel) : s(seed) {
    s = mix(s ^ mix(tag * 0x9E3779B97F4A7C15ull) ^ mix(channel + 0x632BE59BD9B4E019ull));
  }
  static uint64_t mix(uint64_t z) { return splitmix64(z); }
  uint64_t next() { return mix(s++); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

enum Tag : uint64_t { kX = 1, kGamma, kBeta, kDy, kRunMean, kRunVar };

}  // namespace

ChannelFill channel_fill(const Problem& p, int64_t c) {
  const Fill& f = p.fill;
  ChannelFill cf;
  switch (f.kind) {
    case FillKind::normal:
    case FillKind::uniform:
      cf.mean = f.mean + f.spread * 0.5 * static_cast<double>(c % 7 - 3);
      cf.spread = f.spread * (1.0 + 0.25 * static_cast<double>(c % 5));
      break;
    case FillKind::constant:
      cf.mean = f.mean + 0.125 * static_cast<double>(c % 4) * (f.mean != 0 ? std::fabs(f.mean) : 1.0);
      cf.spread = 0;
      break;
    case FillKind::exact: {
      // x = (K +- 1) * step with an integer K: every partial sum of x and of
      // (x - mean)^2 is an integer multiple of step (resp. step^2) small enough to be
      // exact in the accumulation type, so the sums are exact in any order.
      const double step = f.spread;
      const double kmax = exact_fill_kmax(p);
      double k = std::nearbyint(f.mean / step) + static_cast<double>(c % 7 - 3);
      k = std::clamp(k, -kmax, kmax);
      cf.mean = k * step;
      cf.spread = step;
      break;
    }
  }
  return cf;
}

double exact_fill_kmax(const Problem& p) {
  // |x / step| <= K + 1 must be exact in the data type (p bits) and M (K + 1) must stay
  // below 2^24, the f32 accumulator of the least precise honest implementation.
  const double M = static_cast<double>(p.reduction_size());
  const double by_dtype = std::ldexp(1.0, format_info(p.dtype).p) - 2;
  const double by_sum = std::floor(std::ldexp(1.0, 24) / M) - 2;
  return std::max(0.0, std::min(by_dtype, by_sum));
}

bool exact_fill_holds(const Problem& p) {
  if (p.fill.kind != FillKind::exact) return false;
  const double M = static_cast<double>(p.reduction_size());
  return M * 2 < std::ldexp(1.0, 24);
}

CaseData make_case_data(const Problem& p) {
  CaseData d;
  const int64_t C = p.c, N = p.n, S = p.spatial_size(), M = N * S;
  const size_t E = static_cast<size_t>(p.elements());
  d.x = Tensor(p.dtype, E);
  for (int64_t c = 0; c < C; ++c) {
    Rng rng(p.seed, kX, static_cast<uint64_t>(c));
    const ChannelFill cf = channel_fill(p, c);
    if (p.fill.kind == FillKind::exact) {
      // Balanced signs in a random order; one element sits on the mean when M is odd.
      std::vector<signed char> sign(static_cast<size_t>(M));
      for (int64_t k = 0; k < M; ++k) sign[k] = k < M / 2 ? 1 : (k < 2 * (M / 2) ? -1 : 0);
      for (int64_t k = M - 1; k > 0; --k) std::swap(sign[k], sign[rng.next() % static_cast<uint64_t>(k + 1)]);
      for (int64_t n = 0, k = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s, ++k) d.x.set(p.index(n, c, s), cf.mean + sign[k] * cf.spread);
      continue;
    }
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        double v = cf.mean;
        if (p.fill.kind == FillKind::normal)
          v += cf.spread * rng.normal();
        else if (p.fill.kind == FillKind::uniform)
          v += cf.spread * (2 * rng.uniform() - 1);
        d.x.set(p.index(n, c, s), v);
      }
  }
  if (p.poison.kind != PoisonKind::none) {
    const double v = p.poison.kind == PoisonKind::nan    ? std::nan("")
                     : p.poison.kind == PoisonKind::pinf ? HUGE_VAL
                                                         : -HUGE_VAL;
    d.x.set(p.index(N / 2, p.poison.channel, S / 2), v);
  }
  if (p.affine) {
    d.gamma = Tensor(p.pdtype, C);
    d.beta = Tensor(p.pdtype, C);
    for (int64_t c = 0; c < C; ++c) {
      Rng rg(p.seed, kGamma, c), rb(p.seed, kBeta, c);
      d.gamma.set(c, 0.5 + rg.uniform());
      d.beta.set(c, 2 * rb.uniform() - 1);
    }
  }
  if (p.dir == Direction::bwd) {
    d.dy = Tensor(p.dtype, E);
    for (int64_t c = 0; c < C; ++c) {
      Rng rng(p.seed, kDy, c);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) d.dy.set(p.index(n, c, s), rng.normal());
    }
  }
  if (p.dir != Direction::bwd) {
    d.running_mean = Tensor(p.pdtype, C);
    d.running_var = Tensor(p.pdtype, C);
    for (int64_t c = 0; c < C; ++c) {
      Rng rm(p.seed, kRunMean, c), rv(p.seed, kRunVar, c);
      const ChannelFill cf = channel_fill(p, c);
      const double sd = cf.spread > 0 ? cf.spread : 1.0;
      d.running_mean.set(c, cf.mean + 0.5 * sd * rm.normal());
      d.running_var.set(c, sd * sd * (0.5 + 1.5 * rv.uniform()));
    }
  }
  return d;
}

double estimated_case_bytes(const Problem& p, int conventions) {
  const double E = static_cast<double>(p.elements());
  const double M = static_cast<double>(p.reduction_size());
  const double b = format_info(p.dtype).bytes;
  const double inputs = p.dir == Direction::bwd ? 2 : 1;  // x (and dy)
  // An upper bound of the peak resident memory beyond start-up, checked against
  // measured peaks by tests/hostile/d10_resources.sh. Per element:
  //  - once: the inputs, one output (b each), a backend's working copies (2 b; LibTorch
  //    and oneDNN allocate their own outputs), the budget and the comparison's
  //    per-element errors (8 + 8 bytes);
  //  - per convention the backends declare: the reference (rounded bits, hi and lo: 24
  //    bytes) and a copy of the inputs handed to backends of that convention.
  // Per element of the channel in flight: the reference's 256-bit working set (~160
  // bytes). The sum gets a 25% margin.
  const double once = E * ((inputs + 3) * b + 16);
  const double per_convention = E * (24 + inputs * b);
  return 1.25 * (once + std::max(conventions, 1) * per_convention + M * 160) + 16e6;
}

}  // namespace bncheck
