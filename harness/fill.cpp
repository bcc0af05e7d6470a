// Deterministic data fills. Every tensor and every channel has its own random
// stream, drawn in (n, spatial) order: a channel's data is the same in both layouts
// and does not depend on C. The generator is our own (splitmix64 + Box-Muller on
// libm), not std::*_distribution, whose output differs between standard libraries.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <new>
#include <system_error>
#include <thread>

#include "harness/case_data.hpp"
#include "harness/fill_rules.hpp"
#include "harness/rng.hpp"
#include "harness/runner.hpp"

namespace bncheck {

namespace {

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed, uint64_t tag, uint64_t channel) : s(seed) {
    s = mix(s ^ mix(tag * 0x9E3779B97F4A7C15ull) ^ mix(channel + 0x632BE59BD9B4E019ull));
  }
  static uint64_t mix(uint64_t z) { return splitmix64(z); }
  uint64_t next() { return mix(s++); }
  void skip(uint64_t draws) { s += draws; }  // as if next() had been called `draws` times
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // The next n values of normal(), the same bits: each step of the formula over the
  // whole batch, so that the libm calls of different elements overlap in the processor
  // instead of waiting on each other.
  void normals(size_t n, double* z) {
    double u2[kBatch];
    for (size_t k = 0; k < n; ++k) {
      z[k] = 1.0 - uniform();
      u2[k] = uniform();
    }
    for (size_t k = 0; k < n; ++k) z[k] = std::log(z[k]);
    for (size_t k = 0; k < n; ++k) u2[k] = std::cos(6.283185307179586 * u2[k]);
    for (size_t k = 0; k < n; ++k) z[k] = std::sqrt(-2.0 * z[k]) * u2[k];
  }
  static constexpr size_t kBatch = 256;
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

// The large tensors come in pieces of at most kPiece elements of one channel, in (n,
// spatial) order. An element's draws sit at a fixed place in its channel's stream (the
// k-th element of a normal fill takes draws 2k and 2k + 1, of a uniform fill draw k), so
// a piece starts its stream there: the data is the same bit for bit for any number of
// threads and any order of the pieces. An exact fill shuffles a whole channel, one piece.
struct CaseDataBuilder::Impl {
  static constexpr int64_t kPiece = int64_t{1} << 15;
  enum Target : uint8_t { kXPiece, kXChannel, kDyPiece };
  struct Piece {
    Target target;
    int64_t c, k0, k1;
  };

  Problem p;
  CaseData d;
  std::vector<Piece> pieces;
  std::atomic<size_t> next{0}, finished{0};
  std::atomic<bool> failed{false};

  explicit Impl(const Problem& prob) : p(prob) {
    const int64_t C = p.c, M = p.reduction_size();
    const size_t E = static_cast<size_t>(p.elements());
    d.x = Tensor(p.dtype, E);
    if (p.dir == Direction::bwd) d.dy = Tensor(p.dtype, E);
    for (int64_t c = 0; c < C; ++c) {
      if (p.fill.kind == FillKind::exact)
        pieces.push_back({kXChannel, c, 0, M});
      else
        for (int64_t k = 0; k < M; k += kPiece) pieces.push_back({kXPiece, c, k, std::min(M, k + kPiece)});
    }
    if (p.dir == Direction::bwd)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t k = 0; k < M; k += kPiece) pieces.push_back({kDyPiece, c, k, std::min(M, k + kPiece)});
    parameters();
  }

  void parameters() {
    const int64_t C = p.c;
    if (p.affine) {
      d.gamma = Tensor(p.pdtype, C);
      d.beta = Tensor(p.pdtype, C);
      for (int64_t c = 0; c < C; ++c) {
        Rng rg(p.seed, kGamma, c), rb(p.seed, kBeta, c);
        d.gamma.set(c, 0.5 + rg.uniform());
        d.beta.set(c, 2 * rb.uniform() - 1);
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
  }

  // Calls put(i, k) for the elements k0 <= k < k1 of channel c, i their linear index.
  template <class Put>
  void for_range(int64_t c, int64_t k0, int64_t k1, Put put) const {
    const int64_t S = p.spatial_size();
    int64_t n = k0 / S, s = k0 % S;
    for (int64_t k = k0; k < k1; ++k) {
      put(static_cast<size_t>(p.index(n, c, s)));
      if (++s == S) {
        s = 0;
        ++n;
      }
    }
  }

  // t[i] = mean + spread * normal() over the piece's elements, in their order.
  void normal_range(Rng& rng, const Piece& pc, Tensor& t, double mean, double spread) const {
    double z[Rng::kBatch];
    size_t have = 0, used = 0;
    int64_t left = pc.k1 - pc.k0;
    for_range(pc.c, pc.k0, pc.k1, [&](size_t i) {
      if (used == have) {
        have = static_cast<size_t>(std::min<int64_t>(left, Rng::kBatch));
        rng.normals(have, z);
        left -= static_cast<int64_t>(have);
        used = 0;
      }
      t.set(i, mean + spread * z[used++]);
    });
  }

  void run(const Piece& pc) {
    if (pc.target == kDyPiece) {
      Rng rng(p.seed, kDy, static_cast<uint64_t>(pc.c));
      rng.skip(2 * static_cast<uint64_t>(pc.k0));
      normal_range(rng, pc, d.dy, 0, 1);
      return;
    }
    Rng rng(p.seed, kX, static_cast<uint64_t>(pc.c));
    const ChannelFill cf = channel_fill(p, pc.c);
    if (pc.target == kXChannel) {
      // Balanced signs in a random order; one element sits on the mean when M is odd.
      const int64_t M = pc.k1;
      std::vector<signed char> sign(static_cast<size_t>(M));
      for (int64_t k = 0; k < M; ++k) sign[k] = k < M / 2 ? 1 : (k < 2 * (M / 2) ? -1 : 0);
      for (int64_t k = M - 1; k > 0; --k) std::swap(sign[k], sign[rng.next() % static_cast<uint64_t>(k + 1)]);
      int64_t k = 0;
      for_range(pc.c, 0, M, [&](size_t i) { d.x.set(i, cf.mean + sign[k++] * cf.spread); });
      return;
    }
    switch (p.fill.kind) {
      case FillKind::normal:
        rng.skip(2 * static_cast<uint64_t>(pc.k0));
        normal_range(rng, pc, d.x, cf.mean, cf.spread);
        break;
      case FillKind::uniform:
        rng.skip(static_cast<uint64_t>(pc.k0));
        for_range(pc.c, pc.k0, pc.k1, [&](size_t i) { d.x.set(i, cf.mean + cf.spread * (2 * rng.uniform() - 1)); });
        break;
      case FillKind::constant:
      case FillKind::exact: for_range(pc.c, pc.k0, pc.k1, [&](size_t i) { d.x.set(i, cf.mean); }); break;
    }
  }
};

CaseDataBuilder::CaseDataBuilder(const Problem& p) : impl_(std::make_unique<Impl>(p)) {}
CaseDataBuilder::~CaseDataBuilder() = default;

void CaseDataBuilder::work() {
  Impl& m = *impl_;
  for (size_t k = m.next++; k < m.pieces.size(); k = m.next++) {
    try {
      m.run(m.pieces[k]);
    } catch (...) {
      m.failed = true;
    }
    m.finished.fetch_add(1);
    m.finished.notify_all();
  }
}

CaseData CaseDataBuilder::take() {
  work();  // whatever no thread has taken yet
  Impl& m = *impl_;
  for (size_t f = m.finished.load(); f < m.pieces.size(); f = m.finished.load()) m.finished.wait(f);
  if (m.failed) throw std::bad_alloc();
  const Problem& p = m.p;
  if (p.poison.kind != PoisonKind::none) {
    const double v = p.poison.kind == PoisonKind::nan    ? std::nan("")
                     : p.poison.kind == PoisonKind::pinf ? HUGE_VAL
                                                         : -HUGE_VAL;
    m.d.x.set(p.index(p.n / 2, p.poison.channel, p.spatial_size() / 2), v);
  }
  return std::move(m.d);
}

CaseData make_case_data(const Problem& p, int threads) {
  CaseDataBuilder b(p);
  // Threads pay off on large tensors only (a thread's start costs tens of microseconds).
  const int64_t useful = std::max<int64_t>(1, p.elements() / (int64_t{1} << 18));
  const int helpers = static_cast<int>(std::min<int64_t>(threads, useful)) - 1;
  std::vector<std::thread> pool;
  try {
    for (int k = 0; k < helpers; ++k) pool.emplace_back([&b] { b.work(); });
  } catch (const std::system_error&) {  // no thread to spare: fewer helpers
  }
  b.work();
  for (std::thread& t : pool) t.join();
  return b.take();
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
  if (checked_streamed(p)) {
    // A streamed check (harness/runner.hpp): the inputs, one output and a backend's
    // working copies as above; per element of a part, the reference of its rows (24
    // bytes at most), its budget (8), its errors (4) and the workers' copies of the
    // values (16); the error histogram (4 MiB).
    const double part = static_cast<double>(streamed_rows(p)) * static_cast<double>(p.c * p.spatial_size());
    return 1.25 * (E * (inputs + 3) * b + std::min(E, part) * 52 + 4e6) + 16e6;
  }
  const double once = E * ((inputs + 3) * b + 16);
  const double per_convention = E * (24 + inputs * b);
  return 1.25 * (once + std::max(conventions, 1) * per_convention + M * 160) + 16e6;
}

}  // namespace bncheck
