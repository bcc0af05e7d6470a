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
  static const std::vector<std::pair<Dtype, Dtype>> pairs = {
      {Dtype::f32, Dtype::f32}, {Dtype::f64, Dtype::f64}, {Dtype::f16, Dtype::f32},   {Dtype::bf16, Dtype::f32},
      {Dtype::f32, Dtype::f64}, {Dtype::f16, Dtype::f16}, {Dtype::bf16, Dtype::bf16}, {Dtype::f64, Dtype::f32}};
  const auto [dt, pdt] = pairs[r.weighted({35, 10, 15, 15, 5, 10, 5, 5})];
  p.dtype = dt;
  p.pdtype = pdt;
  // Channels: C = 1, C that is not a multiple of a vector width (primes, 2^k +- 1),
  // multiples of one, and small C.
  switch (r.weighted({15, 40, 15, 30})) {
    case 0: p.c = 1; break;
    case 1:
      p.c = r.pick<int64_t>({3, 5, 7, 9, 11, 13, 15, 17, 31, 33, 37, 61, 63, 65, 67, 127, 129, 131, 255, 257});
      break;
    case 2: p.c = r.pick<int64_t>({8, 16, 32, 64, 128, 256}); break;
    default: p.c = 1 + static_cast<int64_t>(r.below(16)); break;
  }
  // The shape: one of the families where implementations change algorithm or overflow
  // (docs/fuzzing.md).
  static const std::vector<int64_t> sizes = {1, 1, 2, 3, 5, 7, 9, 14, 17, 28, 35, 56, 73, 147};
  auto spatial_from_list = [&](int rank) {  // sizes from the list, at most 2^14 in all
    p.rank = rank;
    int64_t S = 1;
    for (int d = 0; d < rank; ++d) {
      p.spatial[d] = r.pick(sizes);
      while (S * p.spatial[d] > (int64_t{1} << 14)) p.spatial[d] = (p.spatial[d] + 1) / 2;
      S *= p.spatial[d];
    }
  };
  auto boundary = [&] {  // a size at or next to a boundary of a blocking or an index
    const int64_t b = r.pick<int64_t>({256, 512, 768, 1024, 65536});
    return b + static_cast<int64_t>(r.below(3)) - 1;
  };
  const size_t family = r.weighted({10, 14, 16, 14, 8, 20, 18});
  switch (family) {
    case 0: {  // per-channel counts of 1-3
      const int64_t M = 1 + static_cast<int64_t>(r.below(3));
      p.n = 1 + static_cast<int64_t>(r.below(static_cast<uint64_t>(M)));
      p.rank = 1;
      p.spatial[0] = M / p.n;
      p.n = M / p.spatial[0];
      break;
    }
    case 1:  // reduction over the batch only: spatial 1x1 (or none), N in the hundreds to thousands
      spatial_from_list(0);
      if (r.below(2)) {
        p.rank = static_cast<int>(1 + r.below(2));
        for (int d = 0; d < p.rank; ++d) p.spatial[d] = 1;
      }
      p.n = r.below(3) ? 100 + static_cast<int64_t>(r.below(4000)) : boundary();
      if (p.n > 4096) p.c = std::min<int64_t>(p.c, 3);
      break;
    case 2: {  // one dimension (N, a spatial size or C) at or next to a boundary, the others small
      spatial_from_list(static_cast<int>(r.below(3)));
      p.n = 1 + static_cast<int64_t>(r.below(9));
      const int64_t b = boundary();
      const int64_t small_c = 1 + static_cast<int64_t>(r.below(3));
      switch (r.below(3)) {
        case 0: p.n = b; break;
        case 1:
          if (p.rank == 0) p.rank = 1;
          p.spatial[r.below(static_cast<uint64_t>(p.rank))] = b;
          break;
        default:
          p.c = b;
          p.n = 1 + static_cast<int64_t>(r.below(4));
          for (int d = 0; d < p.rank; ++d) p.spatial[d] = b > 4096 ? 1 : std::min<int64_t>(p.spatial[d], 7);
          break;
      }
      if (b > 4096 && p.c != b) {  // 2^16: the others minimal
        p.c = small_c;
        p.n = std::min<int64_t>(p.n, 4);
        for (int d = 0; d < p.rank; ++d)
          if (p.spatial[d] != b) p.spatial[d] = 1;
      }
      break;
    }
    case 3:  // tiny odd batches
      spatial_from_list(static_cast<int>(1 + r.below(3)));
      p.n = 2 + static_cast<int64_t>(r.below(8));
      break;
    case 4: {  // long 1-D signals
      p.rank = 1;
      p.spatial[0] = r.below(4)
                         ? static_cast<int64_t>(std::ldexp(1.0, 10 + static_cast<int>(r.below(7))) * (1 + r.unit()))
                         : boundary();
      p.n = 1 + static_cast<int64_t>(r.below(4));
      p.c = std::min<int64_t>(p.c, 4);
      break;
    }
    case 5:     // small per-channel counts
    default: {  // per-channel counts at reduction thresholds (two in three), and large ones
      int64_t M = 4 + static_cast<int64_t>(r.below(300));
      if (family == 6 && r.below(3) == 0) {  // log-uniform from 2^12 to the limit
        const double top =
            std::log2(std::max(8192.0, static_cast<double>(lim.max_elements) / static_cast<double>(p.c)));
        M = static_cast<int64_t>(std::exp2(12 + r.unit() * (top - 12)));
      } else if (family == 6) {
        M = threshold_count(r);
        p.c = std::max<int64_t>(1, std::min<int64_t>(p.c, (int64_t{1} << 18) / M));  // a threshold, not a size
      }
      spatial_from_list(static_cast<int>(r.below(4)));
      int64_t S = 1;
      for (int d = 0; d < p.rank; ++d) S *= p.spatial[d];
      p.n = std::max<int64_t>(1, (M + S - 1) / S);
      break;
    }
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
        p.n = std::max<int64_t>(p.n, (400 + p.spatial_size() - 1) / p.spatial_size());
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
