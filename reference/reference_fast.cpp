// The fast reference (docs/error-model.md, "The fast reference"): the same correctly
// rounded outputs as the 256-bit path, with the per-element work in double-double.
//
// Per channel: the exact sums of x, x^2, |x| (and of dy, dy x, |dy|) in integer bins
// (exact_bins.hpp); the statistics from them at 256 bits, with one rounding each; the
// per-channel constants of the elementwise outputs rounded to double-double; each
// output evaluated in double-double with an error bound and kept when the rounding
// test (double_double.hpp) proves its rounding, else evaluated at 256 bits. Channels
// the fast path does not handle (non-finite inputs, var + eps = 0, statistics beyond
// the parameter dtype) and f64 data take the 256-bit path whole.

// GCC 12 reports Boost.Multiprecision's cpp_int -> cpp_bin_float conversion
// (generic_interconvert) as reading an uninitialised limb pointer: a false positive of
// -Wmaybe-uninitialized on Boost's union of inline and allocated limbs.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "reference/bnorm_ref.hpp"
#include "reference/double_double.hpp"
#include "reference/exact_bins.hpp"
#include "reference/ref_real.hpp"

namespace bncheck {
namespace {

using boost::multiprecision::cpp_int;
using ref::dd::DD;
using ref::dd::Factor;

DD to_dd(const Real256& v) {
  const double h = ref::to_double(v);
  if (!std::isfinite(h)) return {h, 0};
  return {h, ref::to_double(Real256(v - Real256(h)))};
}

Real256 scaled(const cpp_int& i, int e) { return ldexp(Real256(i), e); }

// Dekker's product is exact for this factor against any f32 value (docs/error-model.md).
bool usable_factor(const DD& a) {
  const double m = std::fabs(a.h);
  return std::isfinite(a.h) && std::isfinite(a.l) && (m == 0 || (m > 0x1p-700 && m < 0x1p700));
}

// Error bounds of the elementwise evaluations, in units of the magnitudes of their
// terms (docs/error-model.md): 2^-100 covers the forward's 9u^2 and 2^-99 the
// backward's 12u^2 (u = 2^-53) with room; 2^-1040 covers the absolute errors of
// operations whose low parts underflow. The constant term K is a difference computed
// at 256 bits: its error, 2^-250 of its terms' magnitudes, is added (K = 0 exactly
// with a residue of that size is how an exact zero output looks).
constexpr double kForwardBound = 0x1p-100, kBackwardBound = 0x1p-99, kTiny = 0x1p-1040, kRealBound = 0x1p-250;

// |a| + |b| as a double, rounded up enough for a bound.
double magnitude(const Real256& a, const Real256& b) {
  return (std::fabs(ref::to_double(a)) + std::fabs(ref::to_double(b))) * (1 + 0x1p-50);
}

// Stores v's roundings when the test decides them; false sends the element to the slow path.
inline bool put_fast(RefTensor& t, size_t i, const DD& v, double err) {
  uint64_t bits = 0, hb = 0;
  if (!ref::dd::rounds_uniquely(v.h, v.l, err, t.dtype, &bits) ||
      !ref::dd::rounds_uniquely(v.h, v.l, err, Dtype::f64, &hb))
    return false;
  t.rounded[i] = bits;
  t.hi[i] = v.h;
  t.lo[i] = v.l;
  return true;
}

// An f16 infinity or NaN from its bits.
double f16_nonfinite(uint32_t b) {
  if (b & 0x3ffu) return std::numeric_limits<double>::quiet_NaN();
  return (b & 0x8000u) ? -HUGE_VAL : HUGE_VAL;
}

// One channel's values as floats (f32, f16 and bf16 data are all f32 values) and their
// indices; false when one is not finite.
template <class Decode>
bool gather_with(const Problem& p, int64_t c, std::vector<float>& v, std::vector<size_t>* idx, Decode decode) {
  const int64_t N = p.n, S = p.spatial_size();
  v.resize(static_cast<size_t>(N * S));
  if (idx) idx->resize(v.size());
  bool finite = true;
  size_t k = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t s = 0; s < S; ++s, ++k) {
      const size_t i = static_cast<size_t>(p.index(n, c, s));
      if (idx) (*idx)[k] = i;
      const float x = decode(i);
      finite &= std::isfinite(x);
      v[k] = x;
    }
  return finite;
}
bool gather_floats(const Problem& p, const Tensor& t, int64_t c, std::vector<float>& v, std::vector<size_t>* idx) {
  if (t.dtype() == Dtype::f32) {
    const float* f = static_cast<const float*>(t.data());
    return gather_with(p, c, v, idx, [f](size_t i) { return f[i]; });
  }
  if (t.dtype() == Dtype::bf16) {  // the top half of an f32
    const uint16_t* h = static_cast<const uint16_t*>(t.data());
    return gather_with(p, c, v, idx, [h](size_t i) {
      const uint32_t b = static_cast<uint32_t>(h[i]) << 16;
      float f;
      std::memcpy(&f, &b, sizeof f);
      return f;
    });
  }
  if (t.dtype() == Dtype::f16) {
    const uint16_t* h = static_cast<const uint16_t*>(t.data());
    return gather_with(p, c, v, idx, [h](size_t i) {
      const uint32_t b = h[i];
      if ((b & 0x7c00u) == 0x7c00u) return static_cast<float>(f16_nonfinite(b));
      return static_cast<float>(ref::dd::f16_value(b));
    });
  }
  return gather_with(p, c, v, idx, [&t](size_t i) { return static_cast<float>(t.get(i)); });  // exact
}

struct Sums {
  ref::ExactBins x, xx, ax, dy, dyx, ady;
};

// The exact statistics from the sums: mean = S1 / M, var = (M S2 - S1^2) / M^2, the
// numerator an exact integer (units 2^-300), each rounded once to 256 bits.
ref::Stats<Real256> stats_from(const cpp_int& i1, const cpp_int& i2, int64_t M, double eps, const Conventions& conv) {
  using std::sqrt;
  ref::Stats<Real256> s;
  const Real256 Mr(static_cast<double>(M));
  s.sum = scaled(i1, -150);
  s.m = static_cast<double>(M);
  s.mean = s.sum / Mr;
  const cpp_int num = cpp_int(M) * i2 - i1 * i1;
  s.var = scaled(cpp_int(M) * num, -300) / (Mr * Mr * Mr);  // as channel_stats: sum (M x - S)^2 / M^3
  const Real256 denom = s.var + Real256(eps);
  if (denom == 0) {
    s.invstd_inf = !conv.zero_var_invstd_is_zero;
    s.invstd = 0;
  } else {
    s.invstd = Real256(1) / sqrt(denom);
  }
  return s;
}

// One worker: channels one at a time, its own scratch and counts. Workers write
// disjoint parts of R (a channel's elements and statistics), so any number of them
// give the same Reference.
class ChannelWorker {
 public:
  ChannelWorker(const Problem& p, const Conventions& conv, const CaseData& d, Reference& R)
      : p_(p), conv_(conv), d_(d), R_(R) {}

  void channel(int64_t c) {
    if (p_.dir == Direction::fwd_infer)
      inference(c);
    else
      training_or_backward(c);
  }
  const ReferencePath& path() const { return path_; }

 private:
  void slow_channel(int64_t c) {
    ref::compute_channel<Real256>(p_, conv_, d_, c, R_);
    path_.channels_slow++;
    path_.elements_slow += static_cast<uint64_t>(p_.reduction_size());
  }

  void training_or_backward(int64_t c) {
    const bool bwd = p_.dir == Direction::bwd;
    if (!gather_floats(p_, d_.x, c, xs_, &idx_) || (bwd && !gather_floats(p_, d_.dy, c, dys_, nullptr)))
      return slow_channel(c);  // non-finite inputs: IEEE semantics (ref_special.hpp)
    const int64_t M = p_.reduction_size();
    Sums& S = sums_;
    for (ref::ExactBins* b : {&S.x, &S.xx, &S.ax, &S.dy, &S.dyx, &S.ady}) b->clear();
    for (size_t k = 0; k < xs_.size(); ++k) {
      const ref::F32Parts a = ref::f32_parts(xs_[k]);
      S.x.add(a.m, a.e);
      S.xx.add(a.m * a.m, 2 * a.e);
      S.ax.add(a.m < 0 ? -a.m : a.m, a.e);
      if (bwd) {
        const ref::F32Parts g = ref::f32_parts(dys_[k]);
        S.dy.add(g.m, g.e);
        S.dyx.add(g.m * a.m, g.e + a.e);
        S.ady.add(g.m < 0 ? -g.m : g.m, g.e);
      }
    }
    const cpp_int i1 = S.x.total(), i2 = S.xx.total();
    const ref::Stats<Real256> st = stats_from(i1, i2, M, p_.eps, conv_);
    R_.channel[c].poisoned = false;
    const bool singular = ref::record_channel_statistics(
        p_, conv_, c, st, scaled(S.ax.total(), -150), Real256(scaled(i2, -300) / Real256(static_cast<double>(M))), R_);
    if (singular) return slow_channel(c);
    if (bwd)
      backward(c, st, i1);
    else
      forward(c, st);
  }

  // y = A x + K, A = gamma r, K = beta - A mean.
  void forward(int64_t c, const ref::Stats<Real256>& st) {
    const double g = ref::gamma_of(p_, d_, c), b = ref::beta_of(p_, d_, c);
    const Real256 A = Real256(g) * st.invstd, Am = A * st.mean;
    const DD Ad = to_dd(A), Kd = to_dd(Real256(b) - Am);
    const double k_err = kRealBound * magnitude(Real256(b), Am) + kTiny;
    const bool fast = usable_factor(Ad) && std::isfinite(Kd.h) && std::isfinite(Kd.l) && std::isfinite(k_err);
    const Factor Af(Ad);
    for (size_t k = 0; k < xs_.size(); ++k) {
      const size_t i = idx_[k];
      if (fast) {
        const DD t = ref::dd::mul(Af, static_cast<double>(xs_[k]));
        const DD y = ref::dd::add(t, Kd);
        if (put_fast(R_.y, i, y, kForwardBound * (std::fabs(t.h) + std::fabs(Kd.h)) + k_err)) {
          path_.elements_fast++;
          continue;
        }
      }
      ref::put(R_.y, i, Real256(g) * ref::xhat(Real256(xs_[k]), st) + Real256(b));
      path_.elements_slow++;
    }
    ref::running_statistics(p_, conv_, d_, c, st, R_);
  }

  // dbeta = S_dy, dgamma = r (S_dyx - mean S_dy) with the numerator M S_dyx - S_dy S_x
  // an exact integer (units 2^-300); dx = A dy - Cc x + K, A = gamma r,
  // Cc = A r dgamma / M, K = Cc mean - A dbeta / M.
  void backward(int64_t c, const ref::Stats<Real256>& st, const cpp_int& i1) {
    const int64_t M = p_.reduction_size();
    const Real256 Mr(static_cast<double>(M));
    const cpp_int idy = sums_.dy.total();
    const Real256 dbeta = scaled(idy, -150);
    const Real256 centred = scaled(cpp_int(M) * sums_.dyx.total() - idy * i1, -300) / Mr;  // sum dy (x - mean)
    const Real256 dgamma = st.invstd * centred;
    ChannelRef& cr = R_.channel[c];
    cr.dbeta = ref::to_double(dbeta);
    cr.dgamma = ref::to_double(dgamma);
    cr.sum_abs_dy = ref::to_double(scaled(sums_.ady.total(), -150));
    if (p_.affine) {
      ref::put(R_.dbeta, c, dbeta);
      ref::put(R_.dgamma, c, dgamma);
    }
    const double g = ref::gamma_of(p_, d_, c);
    const Real256 A = Real256(g) * st.invstd, Cc = A * st.invstd * dgamma / Mr;
    const Real256 Cm = Cc * st.mean, Ab = A * dbeta / Mr;
    const DD Ad = to_dd(A), Cd = to_dd(Cc), Kd = to_dd(Cm - Ab);
    const double k_err = kRealBound * magnitude(Cm, Ab) + kTiny;
    const bool fast =
        usable_factor(Ad) && usable_factor(Cd) && std::isfinite(Kd.h) && std::isfinite(Kd.l) && std::isfinite(k_err);
    const Factor Af(Ad), Cf(Cd);
    const Real256 scale = Real256(g) * st.invstd / Mr;
    const DD mean = to_dd(st.mean);
    const double r_h = ref::to_double(st.invstd);
    double sadx = 0;  // sum |dy xhat|, a magnitude for the budget: to ~M 2^-53
    for (size_t k = 0; k < xs_.size(); ++k) {
      const size_t i = idx_[k];
      const double x = xs_[k], dy = dys_[k];
      sadx += std::fabs(dy * (((x - mean.h) - mean.l) * r_h));
      if (fast) {
        const DD t1 = ref::dd::mul(Af, dy), t2 = ref::dd::mul(Cf, x);
        const DD v = ref::dd::add(ref::dd::add(t1, DD{-t2.h, -t2.l}), Kd);
        if (put_fast(R_.dx, i, v, kBackwardBound * (std::fabs(t1.h) + std::fabs(t2.h) + std::fabs(Kd.h)) + k_err)) {
          path_.elements_fast++;
          continue;
        }
      }
      ref::put(R_.dx, i, scale * (Mr * Real256(dy) - dbeta - ref::xhat(Real256(x), st) * dgamma));
      path_.elements_slow++;
    }
    cr.sum_abs_dy_xhat = sadx;
  }

  // y = A x + K, A = gamma r, K = beta - A rm, r = 1 / sqrt(rv + eps).
  void inference(int64_t c) {
    bool r_inf = false;
    const Real256 r = ref::inference_invstd<Real256>(p_, d_, c, &r_inf);
    ref::inference_channel_ref(d_, c, r, r_inf, R_);
    const double g = ref::gamma_of(p_, d_, c), b = ref::beta_of(p_, d_, c), rm = d_.running_mean.get(c),
                 rv = d_.running_var.get(c);
    const bool special = r_inf || !std::isfinite(rm) || !std::isfinite(rv);
    const Real256 A = Real256(g) * r, Am = A * Real256(rm);
    const DD Ad = to_dd(A), Kd = to_dd(Real256(b) - Am);
    const double k_err = special ? 0 : kRealBound * magnitude(Real256(b), Am) + kTiny;
    const bool fast =
        !special && usable_factor(Ad) && std::isfinite(Kd.h) && std::isfinite(Kd.l) && std::isfinite(k_err);
    if (special) path_.channels_slow++;
    const Factor Af(Ad);
    const int64_t N = p_.n, S = p_.spatial_size();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const size_t i = static_cast<size_t>(p_.index(n, c, s));
        const double x = d_.x.get(i);
        if (fast && std::isfinite(x)) {
          const DD t = ref::dd::mul(Af, x);
          if (put_fast(R_.y, i, ref::dd::add(t, Kd), kForwardBound * (std::fabs(t.h) + std::fabs(Kd.h)) + k_err)) {
            path_.elements_fast++;
            continue;
          }
        }
        ref::inference_element(p_, d_, i, g, b, rm, rv, r, r_inf, R_);
        path_.elements_slow++;
      }
  }

  const Problem& p_;
  const Conventions& conv_;
  const CaseData& d_;
  Reference& R_;
  ReferencePath path_;
  std::vector<float> xs_, dys_;
  std::vector<size_t> idx_;
  Sums sums_;
};

}  // namespace

namespace {

// The special-value marks of every output, allocated before the workers start (mark()
// would allocate them lazily, a race between workers), dropped again where all zero.
std::vector<RefTensor*> outputs(Reference& R) {
  return {&R.y, &R.save_mean, &R.save_stat, &R.running_mean, &R.running_var, &R.dx, &R.dgamma, &R.dbeta};
}

std::atomic<int> g_threads{0};

}  // namespace

void set_reference_threads(int n) { g_threads = std::max(0, n); }
int reference_threads() {
  const int n = g_threads;
  return n > 0 ? n : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

Reference compute_reference_fast(const Problem& p, const Conventions& conv, const CaseData& d) {
  if (p.dtype == Dtype::f64) return compute_reference(p, conv, d);
  Reference R;
  ref::init_outputs(p, R);
  // Threads only where they pay for their start: many elements and several channels.
  const int threads =
      p.elements() >= (int64_t{1} << 16) ? static_cast<int>(std::min<int64_t>(reference_threads(), p.c)) : 1;
  if (threads <= 1) {
    ChannelWorker w(p, conv, d, R);
    for (int64_t c = 0; c < p.c; ++c) w.channel(c);
    R.path = w.path();
    return R;
  }
  for (RefTensor* t : outputs(R))
    if (!t->empty()) t->any_nonfinite.assign(t->size(), 0);
  std::atomic<int64_t> next{0};
  std::vector<ChannelWorker> workers;
  workers.reserve(static_cast<size_t>(threads));
  for (int k = 0; k < threads; ++k) workers.emplace_back(p, conv, d, R);
  auto work = [&](ChannelWorker& w) {
    for (int64_t c = next++; c < p.c; c = next++) w.channel(c);
  };
  std::vector<std::thread> pool;
  for (int k = 1; k < threads; ++k) pool.emplace_back(work, std::ref(workers[static_cast<size_t>(k)]));
  work(workers[0]);
  for (std::thread& t : pool) t.join();
  for (const ChannelWorker& w : workers) {
    R.path.elements_fast += w.path().elements_fast;
    R.path.elements_slow += w.path().elements_slow;
    R.path.channels_slow += w.path().channels_slow;
  }
  for (RefTensor* t : outputs(R))
    if (std::all_of(t->any_nonfinite.begin(), t->any_nonfinite.end(), [](uint8_t m) { return m == 0; }))
      std::vector<uint8_t>().swap(t->any_nonfinite);
  return R;
}

}  // namespace bncheck
