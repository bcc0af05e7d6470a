#include "fuzz/generator.hpp"
#include "harness/rng.hpp"
#include "harness/split.hpp"

#include <cmath>
#include <vector>

namespace bncheck::fuzz {

namespace {

struct Rng {
  uint64_t s;
  static uint64_t mix(uint64_t z) { return splitmix64(z); }
  uint64_t next() { return mix(s++); }
  uint64_t below(uint64_t n) { return next() % n; }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  template <class T>
  T pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }
  // Index drawn with the given weights.
  size_t weighted(const std::vector<double>& w) {
    double total = 0;
    for (double x : w) total += x;
    double r = unit() * total;
    for (size_t i = 0; i < w.size(); ++i) {
      if (r < w[i]) return i;
      r -= w[i];
    }
    return w.size() - 1;
  }
};

// Per-channel counts where reductions change strategy.
int64_t threshold_count(Rng& r) {
  switch (r.below(4)) {
    case 0: {
      const int k = 2 + static_cast<int>(r.below(16));
      return (int64_t{1} << k) + static_cast<int64_t>(r.below(3)) - 1;
    }
    case 1: {
      const int64_t b = r.pick<int64_t>({32, 64, 128, 256, 512, 1024});
      return b * (1 + static_cast<int64_t>(r.below(8))) + static_cast<int64_t>(r.below(3)) - 1;
    }
    case 2: return r.pick<int64_t>({65535, 65536, 65537, 131072, 131073});
    default: return (int64_t{1} << 24) + static_cast<int64_t>(r.below(3)) - 1;  // beyond f32's exact integers
  }
}

}  // namespace

Problem generate(uint64_t seed, uint64_t i, const Limits& lim, std::string* note) {
  Rng r{Rng::mix(seed) ^ Rng::mix(i + 0x5851F42D4C957F2Dull)};
  Problem p;
  p.seed = r.next() & 0xFFFFFFFFull;
  p.layout = r.below(2) ? Layout::channels_last : Layout::channels_first;
  p.rank = static_cast<int>(r.below(4));
  static const std::vector<std::pair<Dtype, Dtype>> pairs = {
      {Dtype::f32, Dtype::f32}, {Dtype::f64, Dtype::f64}, {Dtype::f16, Dtype::f32},   {Dtype::bf16, Dtype::f32},
      {Dtype::f32, Dtype::f64}, {Dtype::f16, Dtype::f16}, {Dtype::bf16, Dtype::bf16}, {Dtype::f64, Dtype::f32}};
  const auto [dt, pdt] = pairs[r.weighted({35, 10, 15, 15, 5, 10, 5, 5})];
  p.dtype = dt;
  p.pdtype = pdt;
  // Channels.
  switch (r.weighted({15, 25, 25, 35})) {
    case 0: p.c = 1; break;
    case 1: p.c = r.pick<int64_t>({2, 3, 5, 7, 11, 13, 17, 31, 37, 61, 67, 127, 131}); break;
    case 2: p.c = r.pick<int64_t>({31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257}); break;
    default: p.c = 1 + static_cast<int64_t>(r.below(16)); break;
  }
  // Per-channel count M, then its split into N and spatial sizes.
  int64_t M = 1;
  switch (r.weighted({15, 40, 35, 10})) {
    case 0: M = 1 + static_cast<int64_t>(r.below(3)); break;
    case 1: M = 4 + static_cast<int64_t>(r.below(300)); break;
    case 2: M = threshold_count(r); break;
    default:
      M = 300 + static_cast<int64_t>(r.below(static_cast<uint64_t>(std::max<int64_t>(1, lim.max_elements / p.c))));
      break;
  }
  static const std::vector<int64_t> sizes = {1, 1, 2, 3, 5, 7, 9, 14, 17, 28, 35, 56, 73, 147};
  int64_t S = 1;
  for (int d = 0; d < p.rank; ++d) {
    p.spatial[d] = r.pick(sizes);
    S *= p.spatial[d];
  }
  p.n = std::max<int64_t>(1, (M + S - 1) / S);
  if (M <= 3 && S > M) {  // keep the tiny per-channel counts tiny
    for (int d = 0; d < 3; ++d) p.spatial[d] = 1;
    p.spatial[0] = M;
    p.n = 1;
    S = M;
  }
  // Numerics of the call.
  p.eps = r.pick<double>({0.0, 1e-5, 1e-5, 1e-5, 1e-3, 0.1, 1.0, 100.0});
  p.momentum = r.pick<double>({0.0, 0.01, 0.1, 0.1, 0.5, 0.9, 1.0});
  p.affine = r.below(5) != 0;
  p.dir = static_cast<Direction>(r.weighted({45, 20, 35}));  // fwd_train, fwd_infer, bwd
  if (r.below(10) == 0) p.conv = {RunningVar::biased, MomentumDir::old_stat, SavedStat::variance, true, false};
  // Data families.
  const FormatInfo F = format_info(dt);
  const double big = std::ldexp(1.0, F.emax);
  switch (r.weighted({40, 12, 5, 5, 3, 3, 5, 5, 5, 4, 1})) {
    case 0: {  // mean/std ratio from 1 to 1e10, weighted low
      const int k = static_cast<int>(r.weighted({30, 25, 15, 12, 8, 3, 2, 1, 1, 1, 1}));
      p.fill = {FillKind::normal, (r.below(2) ? -1 : 1) * std::pow(10.0, k) * (k ? 1 : r.unit()), 1.0};
      break;
    }
    case 1:
      p.fill = {FillKind::uniform, std::pow(10.0, static_cast<double>(r.below(4))) * (r.unit() - 0.5), 1.0};
      break;
    case 2: p.fill = {FillKind::constant, r.pick<double>({0.0, 1.0, -3.5, 1e4}), 0.0}; break;
    case 3: p.fill = {FillKind::exact, 3.0, 0.25}; break;
    case 4: p.fill = {FillKind::normal, std::sqrt(big) * 0.5, std::sqrt(big) * 0.25}; break;  // near sqrt(max)
    case 5: p.fill = {FillKind::normal, big / 8, big / 64}; break;                            // near overflow
    case 6: p.fill = {FillKind::normal, 0.0, std::ldexp(1.0, F.emin + 4)}; break;             // subnormal spreads
    case 7: {  // one special value in one channel
      p.poison.kind = static_cast<PoisonKind>(1 + r.below(3));
      p.poison.channel = static_cast<int64_t>(r.below(static_cast<uint64_t>(p.c)));
      break;
    }
    case 8:  // f16 channels whose sum exceeds 65504
      if (dt == Dtype::f16) {
        p.fill = {FillKind::normal, 200.0, 8.0};
        p.n = std::max<int64_t>(p.n, (400 + S - 1) / S);
      }
      break;
    case 9: p.fill = {FillKind::constant, -0.0, 0.0}; break;  // -0
    default: p.fill = {FillKind::uniform, 0.0, 1e-3}; break;
  }
  // Fit the limits: N first, then the spatial sizes, then C.
  const int64_t drawn = p.elements();
  while (p.elements() > lim.max_elements) {
    if (p.n > 1)
      p.n = std::max<int64_t>(1, p.n / 2);
    else if (p.rank > 0 && p.spatial[p.rank - 1] > 1)
      p.spatial[p.rank - 1] = std::max<int64_t>(1, p.spatial[p.rank - 1] / 2);
    else if (p.c > 1)
      p.c = std::max<int64_t>(1, p.c / 2);
    else
      break;
  }
  if (p.poison.channel >= p.c) p.poison.channel = p.c - 1;
  if (lim.splits && p.dir == Direction::fwd_train && p.n >= 2 && r.below(3) == 0) p.split = draw_split(p.n, r.next());
  if (note && p.elements() != drawn)
    *note =
        "shrunk from " + std::to_string(drawn) + " to " + std::to_string(p.elements()) + " elements (--max-elements)";
  return p;
}

}  // namespace bncheck::fuzz
