// The fast reference against the 256-bit one: the same rounded outputs, bit for bit,
// the same marks, and ChannelRef magnitudes within their stated accuracy.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iomanip>
#include <limits>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bncheck/runner.hpp"
#include "harness/case_data.hpp"
#include "reference/reference.hpp"

using namespace bncheck;

namespace {

// The number of elements and channel values where fast and slow differ (each printed).
// hi_rel: how far the fast path's hi may be from the slow path's (the nearest double to
// the exact value): 0 for the statistics, 2^-45 of the value for the elementwise
// outputs, whose fused multiply-add tier keeps a double within that bound
// (docs/error-model.md, "Elementwise outputs").
// wide: the same tensor at 512 bits, asked for where the fast path has an exact zero
// and the slow path a residue: an exact zero amid cancellation (dx for M = 2 and eps =
// 0, say) leaves the 256-bit evaluation a residue of 2^-256 of its terms, times a scale
// that can be large; the fast path decides exact zeros in integers. The residue shrinks
// by 2^256 at 512 bits where the value is zero.
using Wide = std::function<const Reference&()>;
size_t compare_tensor(const RefTensor& a, const RefTensor& b, const std::string& what, const std::string& desc,
                      double hi_rel = 0, const RefTensor Reference::*member = nullptr, const Wide& wide = nullptr) {
  size_t bad = 0;
  if (a.size() != b.size()) {
    ADD_FAILURE() << desc << " " << what << ": sizes " << a.size() << " " << b.size();
    return 1;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const uint8_t ma = a.any_nonfinite.empty() ? 0 : a.any_nonfinite[i],
                  mb = b.any_nonfinite.empty() ? 0 : b.any_nonfinite[i];
    const bool same_hi = a.hi[i] == b.hi[i] || (std::isnan(a.hi[i]) && std::isnan(b.hi[i])) ||
                         std::fabs(a.hi[i] - b.hi[i]) <= hi_rel * std::fabs(b.hi[i]);
    // An exact zero (dx for M = 2, say): both paths evaluate it at 2^-256 and may keep a
    // residue of that order, of either sign; the rounded zeros then agree as numbers.
    const double ra = a.rounded_value(i), rb = b.rounded_value(i);
    const bool zero = ra == 0 && rb == 0 && std::fabs(a.hi[i] - b.hi[i]) <= 0x1p-200 * (1 + std::fabs(b.hi[i]));
    if (zero) continue;
    if (ra == 0 && a.hi[i] == 0 && member && wide && b.hi[i] != 0 &&
        std::fabs((wide().*member).hi[i]) <= 0x1p-200 * std::fabs(b.hi[i]))
      continue;
    if (a.rounded[i] != b.rounded[i] || ma != mb || !same_hi) {
      if (bad++ < 5)
        ADD_FAILURE() << desc << " " << what << "[" << i << "]: fast " << a.rounded_value(i) << " (hi " << a.hi[i]
                      << ", mark " << int(ma) << ") slow " << b.rounded_value(i) << " (hi " << b.hi[i] << ", mark "
                      << int(mb) << ")";
    }
  }
  return bad;
}

bool close(double a, double b, double rel) {
  if (a == b || (std::isnan(a) && std::isnan(b))) return true;
  return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

// Fast against slow on one case: every output tensor and ChannelRef compared; the
// number of differences.
size_t fast_reference_differences(const Problem& p, const Conventions& conv, const CaseData& d, ReferencePath* path) {
  const Reference f = compute_reference_fast(p, conv, d), s = compute_reference(p, conv, d);
  std::optional<Reference> w512;
  const Wide wide = [&]() -> const Reference& {
    if (!w512) w512 = compute_reference_bin512(p, conv, d);
    return *w512;
  };
  if (path) *path = f.path;
  const std::string desc = to_string(p);
  size_t bad = 0;
  bad += compare_tensor(f.y, s.y, "y", desc, 0x1p-45);
  bad += compare_tensor(f.dx, s.dx, "dx", desc, 0x1p-45, &Reference::dx, wide);
  bad += compare_tensor(f.save_mean, s.save_mean, "save_mean", desc);
  bad += compare_tensor(f.save_stat, s.save_stat, "save_stat", desc);
  bad += compare_tensor(f.running_mean, s.running_mean, "running_mean", desc);
  bad += compare_tensor(f.running_var, s.running_var, "running_var", desc);
  bad += compare_tensor(f.dgamma, s.dgamma, "dgamma", desc);
  bad += compare_tensor(f.dbeta, s.dbeta, "dbeta", desc);
  for (size_t c = 0; c < s.channel.size(); ++c) {
    const ChannelRef &a = f.channel[c], &b = s.channel[c];
    // Exact quantities rounded once agree exactly; sum |dy xhat| is a double sum (~M 2^-53,
    // or a few subnormal spacings);
    // an exact zero dgamma may keep a 2^-256 residue (see compare_tensor).
    const bool ok = close(a.mean, b.mean, 0) && close(a.var, b.var, 0) && close(a.invstd, b.invstd, 0) &&
                    close(a.rms, b.rms, 0) && close(a.sum_abs_x, b.sum_abs_x, 0) && close(a.dbeta, b.dbeta, 0) &&
                    (close(a.dgamma, b.dgamma, 0) || std::fabs(a.dgamma - b.dgamma) <= 0x1p-200 * b.sum_abs_dy_xhat) &&
                    close(a.sum_abs_dy, b.sum_abs_dy, 0) &&
                    (close(a.sum_abs_dy_xhat, b.sum_abs_dy_xhat, 1e-9) ||
                     std::fabs(a.sum_abs_dy_xhat - b.sum_abs_dy_xhat) <= 0x1p-1060) &&
                    a.exp2 == b.exp2 && close(a.mean_s, b.mean_s, 0) && close(a.var_s, b.var_s, 0) &&
                    a.poisoned == b.poisoned;
    if (!ok) {
      ++bad;
      ADD_FAILURE() << std::setprecision(17) << desc << " channel " << c << ": mean " << a.mean << "/" << b.mean
                    << " var " << a.var << "/" << b.var << " invstd " << a.invstd << "/" << b.invstd << " rms " << a.rms
                    << "/" << b.rms << " sum|x| " << a.sum_abs_x << "/" << b.sum_abs_x << " dbeta " << a.dbeta << "/"
                    << b.dbeta << " dgamma " << a.dgamma << "/" << b.dgamma << " sum|dy| " << a.sum_abs_dy << "/"
                    << b.sum_abs_dy << " sum|dy xhat| " << a.sum_abs_dy_xhat << "/" << b.sum_abs_dy_xhat << " scaled "
                    << a.exp2 << " " << a.mean_s << " " << a.var_s << " / " << b.exp2 << " " << b.mean_s << " "
                    << b.var_s;
    }
  }
  return bad;
}

}  // namespace

TEST(FastReference, MatchesTheSlowOneOnTheBuiltInSuites) {
  uint64_t fast = 0, slow = 0;
  size_t cases = 0;
  for (const char* suite : {"default", "ill-conditioned", "regressions"})
    for (const Problem& p : load_suite(suite, 1)) {
      ReferencePath path;
      EXPECT_EQ(fast_reference_differences(p, p.conv, make_case_data(p), &path), 0u) << to_string(p);
      fast += path.elements_fast;
      slow += path.elements_slow;
      ++cases;
    }
  EXPECT_GT(cases, 100u);
  EXPECT_GT(fast, 10 * slow) << "the fast path decided too few elements";
}

namespace {

// Adversarial cases: small problems whose values land on or beside rounding boundaries
// of the output dtype (dyadic data, gamma and beta: with eps = 0 and a square variance,
// outputs are exact midpoints), huge kappa, eps = 0, constant channels, M = 1,
// subnormals, signed zeros, infinities and NaN, values spread over 60 binades.
struct Generator {
  std::mt19937_64 rng;
  explicit Generator(uint64_t seed) : rng(seed) {}
  int64_t pick(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }
  double unit() { return std::uniform_real_distribution<double>(0, 1)(rng); }

  double value(int mode, double centre, double spread, Dtype dt) {
    switch (mode) {
      case 0: return centre + spread * std::normal_distribution<double>(0, 1)(rng);
      case 1: return std::ldexp(static_cast<double>(pick(-64, 64)), static_cast<int>(pick(-4, 2)));  // dyadic
      case 2: return centre;                                                                         // constant
      case 3: {  // subnormal and tiny values of the dtype
        const FormatInfo F = format_info(dt);
        return std::ldexp(static_cast<double>(pick(-8, 8)), F.emin - F.p + 1 + static_cast<int>(pick(0, 30)));
      }
      case 5: {  // magnitudes over 60 binades: sums whose terms do not share a scale
        const double m = (1 + unit()) * (pick(0, 1) ? 1 : -1);
        return std::ldexp(m, static_cast<int>(pick(-50, 10)));
      }
      default: {  // specials now and then
        const double r = unit();
        if (r < 0.05) return std::numeric_limits<double>::infinity() * (pick(0, 1) ? 1 : -1);
        if (r < 0.08) return std::numeric_limits<double>::quiet_NaN();
        if (r < 0.3) return pick(0, 1) ? 0.0 : -0.0;
        return centre + spread * std::normal_distribution<double>(0, 1)(rng);
      }
    }
  }

  std::pair<Problem, CaseData> next(Dtype dt) {
    Problem p;
    p.n = pick(1, 4);
    p.c = pick(1, 3);
    p.rank = 1;
    p.spatial = {pick(1, 6), 1, 1};
    p.layout = pick(0, 1) ? Layout::channels_last : Layout::channels_first;
    p.dtype = dt;
    p.pdtype = pick(0, 3) == 0 ? dt : Dtype::f32;
    if (p.pdtype == Dtype::f64 && dt != Dtype::f64) p.pdtype = Dtype::f32;
    const int dir = static_cast<int>(pick(0, 2));
    p.dir = dir == 0 ? Direction::fwd_train : dir == 1 ? Direction::bwd : Direction::fwd_infer;
    const double epss[] = {0, 1e-5, 1e-3, std::ldexp(1.0, -40)};
    p.eps = epss[pick(0, 3)];
    p.affine = pick(0, 3) != 0;
    p.conv.running_var = pick(0, 1) ? RunningVar::unbiased : RunningVar::biased;
    p.conv.saved = pick(0, 1) ? SavedStat::invstd : SavedStat::variance;
    const int mode = static_cast<int>(pick(0, 5));
    const double centre = pick(0, 1) ? std::ldexp(1.0, static_cast<int>(pick(-10, 20))) * (pick(0, 1) ? 1 : -1) : 0.0;
    const double spread = std::ldexp(1.0, static_cast<int>(pick(-30, 5)));
    const size_t E = static_cast<size_t>(p.elements());
    CaseData d;
    d.x = Tensor(dt, E);
    for (size_t i = 0; i < E; ++i) d.x.set(i, value(mode, centre, spread, dt));
    if (p.dir == Direction::bwd) {
      d.dy = Tensor(dt, E);
      const int dmode = static_cast<int>(pick(0, 5));
      for (size_t i = 0; i < E; ++i) d.dy.set(i, value(dmode == 2 ? 1 : dmode, 0, 1, dt));
    }
    if (p.affine) {
      d.gamma = Tensor(p.pdtype, static_cast<size_t>(p.c));
      d.beta = Tensor(p.pdtype, static_cast<size_t>(p.c));
      for (int64_t c = 0; c < p.c; ++c) {
        d.gamma.set(c, std::ldexp(static_cast<double>(pick(-16, 16)), -3));
        d.beta.set(c, std::ldexp(static_cast<double>(pick(-64, 64)), static_cast<int>(pick(-12, 0))));
      }
    }
    d.running_mean = Tensor(p.pdtype, static_cast<size_t>(p.c));
    d.running_var = Tensor(p.pdtype, static_cast<size_t>(p.c));
    for (int64_t c = 0; c < p.c; ++c) {
      d.running_mean.set(c, value(mode == 4 ? 4 : 1, 0, 1, p.pdtype));
      d.running_var.set(c, pick(0, 5) == 0 ? 0.0 : std::ldexp(static_cast<double>(pick(1, 64)), -4));
    }
    return {p, d};
  }
};

// Cases per dtype: BNCHECK_FAST_REF_CASES, else 3000 (the test command); 100000 in the
// documented campaign (docs/error-model.md).
int64_t cases_per_dtype() {
  const char* e = std::getenv("BNCHECK_FAST_REF_CASES");
  return e ? std::max<int64_t>(1, std::atoll(e)) : 3000;
}

}  // namespace

namespace {
template <class A, class B>
bool same_bits(const A& a, const B& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}
}  // namespace

// Channels on several threads: the same Reference, bit for bit, as on one.
TEST(FastReference, AnyThreadCountGivesTheSameResult) {
  for (const char* desc : {"n=4,c=37,sp=24x24,dt=f16,dir=fwd_train,fill=normal:3:0.001",
                           "n=8,c=5,sp=64x33,layout=cl,dir=bwd,poison=nan@2", "n=2,c=300,sp=11x11,dir=fwd_infer"}) {
    const Problem p = parse_problem(desc);
    const CaseData d = make_case_data(p);
    set_reference_threads(1);
    const Reference one = compute_reference_fast(p, p.conv, d);
    set_reference_threads(3);
    const Reference three = compute_reference_fast(p, p.conv, d);
    set_reference_threads(0);
    ASSERT_GE(p.elements(), int64_t{1} << 16) << desc;  // large enough to be split
    for (const auto& [a, b] : {std::pair{&one.y, &three.y},
                               {&one.dx, &three.dx},
                               {&one.save_stat, &three.save_stat},
                               {&one.dgamma, &three.dgamma},
                               {&one.running_var, &three.running_var}}) {
      EXPECT_EQ(a->rounded, b->rounded) << desc;
      EXPECT_TRUE(same_bits(a->hi, b->hi)) << desc;  // NaN included
      EXPECT_TRUE(same_bits(a->lo, b->lo)) << desc;
      EXPECT_EQ(a->any_nonfinite, b->any_nonfinite) << desc;
    }
    EXPECT_EQ(one.path.elements_fast, three.path.elements_fast) << desc;
    EXPECT_EQ(one.path.elements_slow, three.path.elements_slow) << desc;
    for (size_t c = 0; c < one.channel.size(); ++c)
      EXPECT_TRUE(same_bits(std::vector<double>{one.channel[c].var, one.channel[c].dgamma},
                            std::vector<double>{three.channel[c].var, three.channel[c].dgamma}))
          << desc;
  }
}

TEST(FastReference, MatchesTheSlowOneBitwiseOnAdversarialCases) {
  for (const Dtype dt : {Dtype::f16, Dtype::bf16, Dtype::f32, Dtype::f64}) {
    Generator gen(0x5eed + static_cast<uint64_t>(dt));
    uint64_t fast = 0, slow = 0, slow_channels = 0;
    size_t bad = 0;
    const int64_t n = cases_per_dtype();
    for (int64_t k = 0; k < n && bad < 10; ++k) {
      auto [p, d] = gen.next(dt);
      ReferencePath path;
      bad += fast_reference_differences(p, p.conv, d, &path) != 0;
      fast += path.elements_fast;
      slow += path.elements_slow;
      slow_channels += path.channels_slow;
    }
    EXPECT_EQ(bad, 0u) << dtype_name(dt);
    // Both paths are exercised: most elements by the rounding test, some by the fallback
    // (f64: the draws in f64's subnormal range, a fifth, are beyond the range of the
    // elementwise tiers and go to 256 bits).
    EXPECT_GT(dt == Dtype::f64 ? 2 * fast : fast, slow) << dtype_name(dt);
    EXPECT_GT(slow, 0u) << dtype_name(dt);
    std::printf("%s: %lld cases, %llu elements fast, %llu slow (%llu whole channels)\n", dtype_name(dt),
                static_cast<long long>(n), static_cast<unsigned long long>(fast), static_cast<unsigned long long>(slow),
                static_cast<unsigned long long>(slow_channels));
  }
}

// Channels whose statistics lie beyond the double-double bounds' range (f64 data of
// 10^-307 or 10^154, f32 data near FLT_MIN whose running variance rounds to zero):
// statistics at 256 bits from the exact sums, elements through the tiers with their
// product terms scaled into range (f64) or dropped into the bound. The same outputs as
// the slow path, and few elements left to 256 bits.
TEST(FastReference, ExtremeRangesTakeTheTiers) {
  for (const char* desc : {"n=2,c=3,sp=70,dt=f64,pdt=f32,dir=fwd_train,eps=0.1,fill=normal:0:3.56e-307",
                           "n=2,c=3,sp=70,dt=f64,pdt=f64,dir=bwd,eps=0.1,fill=normal:0:3.56e-307",
                           "n=2,c=3,sp=70,layout=cl,dt=f64,pdt=f32,dir=fwd_train,eps=0,fill=normal:4.7e153:2.4e153",
                           "n=2,c=3,sp=70,dt=f64,pdt=f64,dir=bwd,eps=0,fill=normal:4.7e153:2.4e153",
                           "n=2,c=3,sp=70,dt=f64,pdt=f64,dir=fwd_train,eps=1e-5,fill=normal:1e300:1e299",
                           "n=3,c=2,sp=65,dt=f32,dir=fwd_train,eps=0.1,fill=normal:0:1.88e-37",
                           "n=3,c=2,sp=65,dt=bf16,dir=bwd,eps=0.1,fill=normal:0:1.88e-37"}) {
    const Problem p = parse_problem(desc);
    const CaseData d = make_case_data(p);
    ReferencePath path;
    EXPECT_EQ(fast_reference_differences(p, p.conv, d, &path), 0u) << desc;
    EXPECT_LE(path.elements_slow * 100, path.elements_fast) << desc;
  }
  // f64 values over 900 binades: no scaling brings them all into range, so the term A x
  // is dropped into the bound, which is then too wide to decide: 256 bits, the same values.
  Problem p = parse_problem("n=1,c=1,sp=6,dt=f64,pdt=f64,dir=fwd_train,eps=1e-5");
  CaseData d = make_case_data(p);
  const double xs[] = {1e120, -1e120, 3e-150, 2, -5, 7};
  for (size_t i = 0; i < 6; ++i) d.x.set(i, xs[i]);
  ReferencePath path;
  EXPECT_EQ(fast_reference_differences(p, p.conv, d, &path), 0u);
  EXPECT_GT(path.elements_slow, 0u);
}

namespace {
uint8_t mark_at(const RefTensor& t, size_t i) { return t.any_nonfinite.empty() ? 0 : t.any_nonfinite[i]; }
}  // namespace

// The streamed reference (RowReference: the channels' sums in one pass, y a block of rows
// at a time) gives each row's outputs bit for bit as the whole-tensor fast path: y
// (rounded, hi, lo, marks) and every per-channel output, for blocks of every size. Its
// first pass also adds up the sums of blocks of rows (rows_per_pass 1 and 3).
TEST(FastReference, RowsGiveTheWholeTensorBitwise) {
  for (const char* desc : {"n=7,c=3,sp=9x5,dt=f16,fill=normal:300:1", "n=5,c=4,sp=6x7,layout=cl,fill=normal:1e4:1",
                           "n=6,c=2,sp=5x3,dt=f64,pdt=f64,fill=normal:-3:1e-3", "n=9,c=3,sp=4x4,dt=bf16,dir=fwd_infer",
                           "n=4,c=2,sp=3x3,fill=const:0.75,eps=0", "n=5,c=3,sp=2x2,dt=f64,pdt=f64,fill=normal:0:1e300",
                           "n=5,c=3,sp=3x2,fill=exact:1:0.25,eps=0", "n=300,c=5,sp=1,dt=f16,fill=normal:1:1e-3"}) {
    const Problem p = parse_problem(desc);
    const CaseData d = make_case_data(p);
    const Reference whole = compute_reference_fast(p, p.conv, d);
    const size_t row = static_cast<size_t>(p.c * p.spatial_size());
    for (const int64_t pass : {int64_t{1}, int64_t{3}}) {
      const RowReference rr(p, p.conv, d, pass);
      for (const int64_t block : {int64_t{1}, int64_t{2}, p.n}) {
        for (int64_t n0 = 0; n0 < p.n; n0 += block) {
          const int64_t n1 = std::min(p.n, n0 + block);
          const Reference part = rr.rows(n0, n1);
          ASSERT_EQ(part.y.size(), static_cast<size_t>(n1 - n0) * row) << desc;
          const size_t off = static_cast<size_t>(n0) * row;
          size_t bad = 0;
          for (size_t i = 0; i < part.y.size(); ++i) {
            const size_t j = off + i;
            bad += part.y.rounded[i] != whole.y.rounded[j] ||
                   !same_bits(std::vector<double>{part.y.hi[i], part.y.lo_at(i)},
                              std::vector<double>{whole.y.hi[j], whole.y.lo_at(j)}) ||
                   mark_at(part.y, i) != mark_at(whole.y, j);
          }
          EXPECT_EQ(bad, 0u) << desc << " rows " << n0 << ".." << n1 << " passes of " << pass;
          for (const auto& [a, b] : {std::pair{&part.save_mean, &whole.save_mean},
                                     {&part.save_stat, &whole.save_stat},
                                     {&part.running_mean, &whole.running_mean},
                                     {&part.running_var, &whole.running_var}}) {
            EXPECT_EQ(a->rounded, b->rounded) << desc;
            EXPECT_TRUE(same_bits(a->hi, b->hi)) << desc;
          }
          for (size_t c = 0; c < whole.channel.size(); ++c)
            EXPECT_TRUE(same_bits(std::vector<double>{part.channel[c].var, part.channel[c].rms, part.channel[c].invstd,
                                                      part.channel[c].sum_abs_x},
                                  std::vector<double>{whole.channel[c].var, whole.channel[c].rms,
                                                      whole.channel[c].invstd, whole.channel[c].sum_abs_x}))
                << desc << " channel " << c;
        }
      }
    }
  }
}

// A channel that needs the 256-bit path over all of its elements (a NaN input) is not
// streamed: rows() says so rather than giving statistics of part of the channel.
TEST(FastReference, RowsRefuseChannelsThatNeedTheWholeChannel) {
  for (const char* desc : {"n=6,c=3,sp=4x4,poison=nan@1", "n=6,c=3,sp=4x4,dir=fwd_infer,poison=inf@2"}) {
    const Problem p = parse_problem(desc);
    const CaseData d = make_case_data(p);
    const RowReference rr(p, p.conv, d, 2);
    bool refused = false;
    for (int64_t n0 = 0; n0 < p.n; n0 += 2) {
      try {
        (void)rr.rows(n0, n0 + 2);
      } catch (const std::runtime_error& e) {
        refused = true;
        EXPECT_NE(std::string(e.what()).find("channel"), std::string::npos);
      }
    }
    if (p.dir == Direction::fwd_train) {
      EXPECT_TRUE(refused) << desc;
    } else {  // inference: a non-finite x is one element's special value, streamed as any other
      EXPECT_FALSE(refused) << desc;
    }
  }
  EXPECT_THROW(RowReference(parse_problem("n=2,c=1,sp=2,dir=bwd"), Conventions{}, CaseData{}, 1),
               std::invalid_argument);
}
