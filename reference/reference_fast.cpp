// The fast reference (docs/error-model.md, "The fast reference"): the same correctly
// rounded outputs as the 256-bit path, with every step in double-double.
//
// Per channel, one streaming pass: the exact sums of x, x^2, |x| (and of dy, dy x,
// |dy|) in integer bins (exact_bins.hpp), and the statistics' numerators from them as
// exact integers. The statistics and the per-channel constants follow in double-double
// with error bounds (approx.hpp), running the slow path's own templates; each is kept
// when the rounding test proves its rounding. A second pass evaluates each elementwise
// output in double-double with its bound and keeps it when the test proves its
// rounding, else evaluates that element at 256 bits. A channel whose statistics the
// bounds cannot decide, holding a non-finite input, with var + eps = 0 or statistics
// beyond the parameter dtype, takes the 256-bit path whole, and so do f64 data.

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
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "reference/approx.hpp"
#include "reference/bnorm_ref.hpp"
#include "reference/double_double.hpp"
#include "reference/exact_bins.hpp"
#include "reference/ref_real.hpp"

namespace bncheck {
namespace {

using boost::multiprecision::cpp_int;
using ref::Approx;
using ref::Big;
using ref::dd::DD;
using ref::dd::Factor;

Real256 scaled(const cpp_int& i, int e) { return ldexp(Real256(i), e); }

// Dekker's product is exact for this factor against any f32 value (docs/error-model.md).
bool usable_factor(const Approx& a) {
  const double m = std::fabs(a.h);
  return std::isfinite(a.h) && std::isfinite(a.l) && (m == 0 || (m > 0x1p-700 && m < 0x1p700));
}
bool finite(const Approx& a) { return std::isfinite(a.h) && std::isfinite(a.l) && std::isfinite(a.e); }

// Error bounds of the elementwise evaluations, in units of the magnitudes of their
// terms (docs/error-model.md): 2^-100 covers the forward's 9u^2 and 2^-99 the
// backward's 12u^2 (u = 2^-53) with room; 2^-1040 covers the absolute errors of
// operations whose low parts underflow. The constants' own bounds (Approx::e) are
// added per element, times the factor they multiply.
constexpr double kForwardBound = 0x1p-100, kBackwardBound = 0x1p-99, kTiny = 0x1p-1040, kUp = 1 + 0x1p-40;

// An f16 value as a float (exact), infinities and NaN included.
inline float f16_float(uint32_t b) {
  const uint32_t sign = (b & 0x8000u) << 16, a = b & 0x7fffu;
  uint32_t f;
  if (a >= 0x7c00u) {
    f = sign | 0x7f800000u | ((a & 0x3ffu) << 13);
  } else if (a >= 0x400u) {
    f = sign | ((a + 0x1c000u) << 13);  // rebias 15 -> 127
  } else {
    float v = static_cast<float>(a) * 0x1p-24f;  // subnormal: exact
    std::memcpy(&f, &v, sizeof f);
    f |= sign;
  }
  float v;
  std::memcpy(&v, &f, sizeof v);
  return v;
}

// Functions compiled for processors with fused multiply-add, called only where
// have_fma() says the processor has it.
#define BNCHECK_FMA __attribute__((target("fma")))

// Where channel c's elements are: element (n, s) at base + n * stride_n + s * stride_s.
struct ChannelWalk {
  size_t base, stride_n, stride_s;
  int64_t N, S;
  ChannelWalk(const Problem& p, int64_t c) : N(p.n), S(p.spatial_size()) {
    const size_t C = static_cast<size_t>(p.c), Sz = static_cast<size_t>(S);
    if (p.layout == Layout::channels_first) {
      base = static_cast<size_t>(c) * Sz;
      stride_n = C * Sz;
      stride_s = 1;
    } else {
      base = static_cast<size_t>(c);
      stride_n = Sz * C;
      stride_s = C;
    }
  }
  template <class F>
  void each(F&& f) const {
    size_t k = 0;
    for (int64_t n = 0; n < N; ++n) {
      const size_t row = base + static_cast<size_t>(n) * stride_n;
      for (int64_t s = 0; s < S; ++s, ++k) f(k, row + static_cast<size_t>(s) * stride_s);
    }
  }
};

// An element the rounding test left undecided: its place in the channel and in the tensor.
struct Pending {
  size_t k, i;
};

// The elementwise outputs as sums of products, y = A x + K (forward) and
// dx = A dy - C x + K (backward), A, C and K double-doubles with bounds eA, eC, eK.
// dd_value() evaluates an element in double-double with its error bound; fma_value()
// evaluates it in double with fused multiply-adds (a first tier, on processors that
// have them) and its bound (docs/error-model.md, "Elementwise outputs").
struct Terms {
  Factor A{DD{0, 0}}, C{DD{0, 0}};
  DD K{0, 0};
  double eA = 0, eC = 0, eK = 0;
  const float *x = nullptr, *dy = nullptr;  // dy: backward only
  bool backward = false;
  // The fused multiply-add tier's bound, less its terms in |y| (and |t|): the terms in
  // |x| and |dy| taken at the channel's largest magnitudes xmax, gmax.
  double fma_rest = 0;
  void set_fma_rest(double xmax, double gmax) {
    const double ah = std::fabs(A.v.h), ch = std::fabs(C.v.h), kh = std::fabs(K.h);
    fma_rest = backward ? 0x1p-102 * (ah * gmax + ch * xmax + kh) + eA * gmax + eC * xmax + eK
                        : 0x1p-103 * (ah * xmax + kh) + eA * xmax + eK;
    fma_rest *= 1 + 0x1p-40;
  }
};

template <bool Bwd>
inline DD dd_value(const Terms& T, double xv, double g, double* err) {
  if constexpr (!Bwd) {
    const DD t = ref::dd::mul_short(T.A, xv);
    *err = kForwardBound * (std::fabs(t.h) + std::fabs(T.K.h)) + T.eA * std::fabs(xv) + T.eK;
    return ref::dd::add(t, T.K);
  } else {
    const DD t1 = ref::dd::mul_short(T.A, g), t2 = ref::dd::mul_short(T.C, xv);
    *err = kBackwardBound * (std::fabs(t1.h) + std::fabs(t2.h) + std::fabs(T.K.h)) + T.eA * std::fabs(g) +
           T.eC * std::fabs(xv) + T.eK;
    return ref::dd::add(ref::dd::add(t1, DD{-t2.h, -t2.l}), T.K);
  }
}

// Forward: y_a = fma(Ah, x, Kh) (one rounding, u|y_a|), c = fma(Al, x, Kl) (|c| <=
// 2u(|Ah x| + |Kh|), one rounding), y = y_a + c (u|y|): |y - (A x + K)| <= 2.01u|y| +
// 2.01u|c|. Backward: t = fma(Ah, dy, Kh), s = fma(-Ch, x, t), c = fma(Al, dy,
// fma(-Cl, x, Kl)), y = s + c: u|t| + 2.01u|y| + 3u^2(|Ah dy| + |Ch x| + |Kh|).
template <bool Bwd>
BNCHECK_FMA inline double fma_value(const Terms& T, double xv, double g, double* err) {
  if constexpr (!Bwd) {
    const double ya = __builtin_fma(T.A.v.h, xv, T.K.h), c = __builtin_fma(T.A.v.l, xv, T.K.l), y = ya + c;
    *err = 0x1p-51 * std::fabs(y) + T.fma_rest;
    return y;
  } else {
    const double t = __builtin_fma(T.A.v.h, g, T.K.h), s = __builtin_fma(-T.C.v.h, xv, t);
    const double c = __builtin_fma(T.A.v.l, g, __builtin_fma(-T.C.v.l, xv, T.K.l)), y = s + c;
    *err = 0x1p-52 * (1 + 0x1p-40) * std::fabs(t) + 0x1p-51 * std::fabs(y) + T.fma_rest;
    return y;
  }
}

// The forward's terms y = A x + K over the values x, |x| <= xmax.
Terms affine_terms(const Approx& A, const Approx& K, const float* x, double xmax) {
  Terms T;
  T.A = Factor(DD{A.h, A.l});
  T.K = DD{K.h, K.l};
  T.eA = A.e * kUp;
  T.eK = K.e * kUp + kTiny;
  T.x = x;
  T.set_fma_rest(xmax, 0);
  return T;
}

// Stores element k's roundings where the test decides them; false leaves it undecided.
template <Dtype DT, class B>
inline bool store(B* rounded, double* hi, double* lo, size_t i, const DD& v, double err) {
  uint64_t bits, hbits;
  if (!ref::dd::round_test<DT>(v.h, v.l, err, &bits) || !ref::dd::round_test<Dtype::f64>(v.h, v.l, err, &hbits))
    return false;
  rounded[i] = static_cast<B>(bits);
  hi[i] = v.h;
  if (lo) lo[i] = v.l;
  return true;
}

// The elementwise pass of one channel: the roundings the test decides are stored, the
// other elements listed in pending. Kept apart from the 256-bit evaluation, so the
// loop holds nothing but double arithmetic.
template <Dtype DT, class T>
T* rounded_data(RefTensor& t) {
  if constexpr (DT == Dtype::f64)
    return t.rounded.wide_data();
  else
    return t.rounded.narrow_data();
}
template <Dtype DT, bool Bwd>
void decided_pass(const ChannelWalk& w, RefTensor& t, const Terms& T, std::vector<Pending>& pending) {
  auto* rounded = rounded_data<DT, std::conditional_t<DT == Dtype::f64, uint64_t, uint32_t>>(t);
  double* hi = t.hi.data();
  double* lo = t.lo.empty() ? nullptr : t.lo.data();
  w.each([&](size_t k, size_t i) {
    double err;
    const DD v = dd_value<Bwd>(T, T.x[k], Bwd ? static_cast<double>(T.dy[k]) : 0.0, &err);
    if (!store<DT>(rounded, hi, lo, i, v, err)) pending.push_back({k, i});
  });
}
// The same with the fused multiply-add tier first: an element whose double value is
// within 2^-45 of its size and rounds decidedly keeps that double as hi (the exact
// value to within 2^-45, against the double-double's 2^-99: error-model.md); the
// others go on to the double-double tier.
template <Dtype DT, bool Bwd>
BNCHECK_FMA void decided_pass_fma(const ChannelWalk& w, RefTensor& t, const Terms& terms,
                                  std::vector<Pending>& pending) {
  using Bits = std::conditional_t<DT == Dtype::f64, uint64_t, uint32_t>;
  const Terms T = terms;
  Bits* rounded = rounded_data<DT, Bits>(t);
  double* hi = t.hi.data();
  double* lo = t.lo.empty() ? nullptr : t.lo.data();
  const size_t N = static_cast<size_t>(w.N), S = static_cast<size_t>(w.S), stride_s = w.stride_s;
  const float *xs = T.x, *dys = T.dy;
  for (size_t n = 0, k = 0; n < N; ++n) {
    const size_t row = w.base + n * w.stride_n;
    for (size_t s = 0; s < S; ++s, ++k) {
      const size_t i = row + s * stride_s;
      const double xv = xs[k], g = Bwd ? static_cast<double>(dys[k]) : 0.0;
      double err;
      const double y = fma_value<Bwd>(T, xv, g, &err);
      uint64_t bits;
      if (err <= 0x1p-45 * std::fabs(y) && ref::dd::round_test<DT>(y, 0, err, &bits)) {
        rounded[i] = static_cast<Bits>(bits);
        hi[i] = y;
        if (lo) lo[i] = 0;
        continue;
      }
      const DD v = dd_value<Bwd>(T, xv, g, &err);
      if (!store<DT>(rounded, hi, lo, i, v, err)) pending.push_back({k, i});
    }
  }
}

bool have_fma() {
  static const bool yes = __builtin_cpu_supports("fma");
  return yes;
}

template <Dtype DT>
void pass_for(const ChannelWalk& w, RefTensor& t, const Terms& T, std::vector<Pending>& pending) {
  if (have_fma())
    return T.backward ? decided_pass_fma<DT, true>(w, t, T, pending) : decided_pass_fma<DT, false>(w, t, T, pending);
  return T.backward ? decided_pass<DT, true>(w, t, T, pending) : decided_pass<DT, false>(w, t, T, pending);
}
void fast_pass(const ChannelWalk& w, RefTensor& t, bool usable, const Terms& T, std::vector<Pending>& pending) {
  pending.clear();
  if (!usable) {
    w.each([&](size_t k, size_t i) { pending.push_back({k, i}); });
    return;
  }
  switch (t.dtype) {
    case Dtype::f32: return pass_for<Dtype::f32>(w, t, T, pending);
    case Dtype::f16: return pass_for<Dtype::f16>(w, t, T, pending);
    case Dtype::bf16: return pass_for<Dtype::bf16>(w, t, T, pending);
    case Dtype::f64: return pass_for<Dtype::f64>(w, t, T, pending);
  }
}

// One channel's values as floats (f32, f16 and bf16 data are all f32 values); false
// when one is not finite.
bool gather_floats(const ChannelWalk& w, const Tensor& t, std::vector<float>& v) {
  v.resize(static_cast<size_t>(w.N * w.S));
  uint32_t bad = 0;  // the exponent bits of an infinity or NaN, or'ed
  if (t.dtype() == Dtype::f32) {
    const float* f = static_cast<const float*>(t.data());
    w.each([&](size_t k, size_t i) {
      uint32_t b;
      std::memcpy(&b, &f[i], sizeof b);
      bad |= static_cast<uint32_t>((b & 0x7f800000u) == 0x7f800000u);
      v[k] = f[i];
    });
  } else if (t.dtype() == Dtype::bf16) {  // the top half of an f32
    const uint16_t* h = static_cast<const uint16_t*>(t.data());
    w.each([&](size_t k, size_t i) {
      const uint32_t b = static_cast<uint32_t>(h[i]) << 16;
      bad |= static_cast<uint32_t>((b & 0x7f800000u) == 0x7f800000u);
      std::memcpy(&v[k], &b, sizeof b);
    });
  } else if (t.dtype() == Dtype::f16) {
    // Every f16 value as a float, once (256 KiB): a load instead of a decode per element.
    static const std::vector<float> table = [] {
      std::vector<float> f(65536);
      for (uint32_t b = 0; b < 65536; ++b) f[b] = f16_float(b);
      return f;
    }();
    const uint16_t* h = static_cast<const uint16_t*>(t.data());
    const float* f = table.data();
    w.each([&](size_t k, size_t i) {
      bad |= static_cast<uint32_t>((h[i] & 0x7c00u) == 0x7c00u);
      v[k] = f[h[i]];
    });
  } else {
    w.each([&](size_t k, size_t i) {
      v[k] = static_cast<float>(t.get(i));  // exact
      bad |= static_cast<uint32_t>(!std::isfinite(v[k]));
    });
  }
  return bad == 0;
}

// The 256-bit statistics from the exact sums (the per-element fallback's): mean = S1 /
// M, var = (M S2 - S1^2) / M^2, the numerator an exact integer (units 2^-300).
ref::Stats<Real256> stats_256(const cpp_int& i1, const cpp_int& i2, int64_t M, double eps, const Conventions& conv) {
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

// Terms per chunk of the 64-bit product bins (|m1 m2| < 2^48: 2^15 terms fit in 63 bits).
constexpr size_t kChunk = size_t{1} << 15;

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

  // The exact sums of one channel: x, |x| and x^2 by x's exponent; in backward dy,
  // |dy| by dy's and dy x by the sum of both.
  void accumulate(bool bwd) {
    X_.clear();
    AX_.clear();
    XX_.clear();
    DY_.clear();
    ADY_.clear();
    DYX_.clear();
    const size_t M = xs_.size();
    x_emax_ = g_emax_ = 1;
    for (size_t k0 = 0; k0 < M; k0 += kChunk) {
      const size_t k1 = std::min(M, k0 + kChunk);
      Range r;
      if (bwd)
        chunk<true>(k0, k1, r);
      else
        chunk<false>(k0, k1, r);
      x_emax_ = std::max(x_emax_, r.hi);
      g_emax_ = std::max(g_emax_, r.ghi);
      for (int j = 0; j < 2; ++j) {  // the two bin sets of chunk()
        X_.drain(bx_[j].data(), r.lo, r.hi);
        AX_.drain(bax_[j].data(), r.lo, r.hi);
        for (int e = r.lo; e <= r.hi; ++e) {  // x^2 = m^2 2^(2E - 300)
          if (bxx_[j][e] == 0) continue;
          XX_.add(static_cast<ref::Int128>(bxx_[j][e]), 2 * e);
          bxx_[j][e] = 0;
        }
        if (bwd) {
          DY_.drain(bdy_[j].data(), r.glo, r.ghi);
          ADY_.drain(bady_[j].data(), r.glo, r.ghi);
          DYX_.drain(bdyx_[j].data(), r.plo, r.phi);
        }
      }
    }
  }
  // The exponents a chunk touched.
  struct Range {
    int lo = 255, hi = 0, glo = 255, ghi = 0, plo = 511, phi = 0;
  };
  // Elements [k0, k1) into the 64-bit bins: even elements into set 0, odd ones into set
  // 1, so that neighbours of one exponent do not wait on each other's bin.
  template <bool Bwd>
  void chunk(size_t k0, size_t k1, Range& r) {
    const float *xs = xs_.data(), *dys = dys_.data();
    for (size_t k = k0; k < k1; ++k) {
      const size_t j = k & 1;
      const ref::F32Parts a = ref::f32_parts(xs[k]);
      bx_[j][a.e] += a.m;
      bax_[j][a.e] += a.m < 0 ? -a.m : a.m;
      bxx_[j][a.e] += static_cast<uint64_t>(a.m * a.m);
      r.lo = std::min(r.lo, a.e);
      r.hi = std::max(r.hi, a.e);
      if constexpr (Bwd) {
        const ref::F32Parts g = ref::f32_parts(dys[k]);
        bdy_[j][g.e] += g.m;
        bady_[j][g.e] += g.m < 0 ? -g.m : g.m;
        bdyx_[j][g.e + a.e] += g.m * a.m;
        r.glo = std::min(r.glo, g.e);
        r.ghi = std::max(r.ghi, g.e);
        r.plo = std::min(r.plo, g.e + a.e);
        r.phi = std::max(r.phi, g.e + a.e);
      }
    }
  }

  void training_or_backward(int64_t c) {
    const bool bwd = p_.dir == Direction::bwd;
    const ChannelWalk w(p_, c);
    if (!gather_floats(w, d_.x, xs_) || (bwd && !gather_floats(w, d_.dy, dys_)))
      return slow_channel(c);  // non-finite inputs: IEEE semantics (ref_special.hpp)
    accumulate(bwd);
    const int64_t M = p_.reduction_size();
    i1_ = X_.total();
    i2_ = XX_.total();
    st256_.reset();
    dx256_.reset();
    R_.channel[c].poisoned = false;

    // The statistics in double-double: mean = S1 / M, var = (M S2 - S1^2) / M^2 with
    // the numerator exact, each rounded by the test (approx.hpp).
    ref::undecided = false;
    Big mq, s2, num;
    if (!mul(Big(static_cast<uint64_t>(M)), i2_, &mq) || !mul(i1_, i1_, &s2)) return slow_channel(c);
    num = mq - s2;
    const Approx Ma(static_cast<double>(M));
    ref::Stats<Approx> st;
    st.m = static_cast<double>(M);
    st.sum = i1_.to_approx(-150);
    st.mean = st.sum / Ma;
    st.var = num.to_approx(-300) / (Ma * Ma);
    const Approx denom = st.var + Approx(p_.eps);
    if (ref::exact_zero(denom) || ref::undecided) return slow_channel(c);
    st.invstd = Approx(1.0) / sqrt(denom);
    const bool singular = ref::record_channel_statistics(p_, conv_, c, st, X_abs(), i2_.to_approx(-300) / Ma, R_);
    if (singular || ref::undecided) return slow_channel(c);
    if (bwd)
      backward(c, w, st);
    else
      forward(c, w, st);
  }
  Approx X_abs() const { return AX_.total().to_approx(-150); }

  // The 256-bit statistics, for the elements the rounding test leaves undecided.
  const ref::Stats<Real256>& stats256() {
    if (!st256_) st256_ = stats_256(i1_.to_cpp_int(), i2_.to_cpp_int(), p_.reduction_size(), p_.eps, conv_);
    return *st256_;
  }

  // y = A x + K, A = gamma r, K = beta - A mean.
  void forward(int64_t c, const ChannelWalk& w, const ref::Stats<Approx>& st) {
    ref::running_statistics(p_, conv_, d_, c, st, R_);
    if (ref::undecided) return slow_channel(c);
    const double g = ref::gamma_of(p_, d_, c), b = ref::beta_of(p_, d_, c);
    const Approx A = Approx(g) * st.invstd, K = Approx(b) - A * st.mean;
    const bool fast = !ref::undecided && usable_factor(A) && finite(K);
    fast_pass(w, R_.y, fast, affine_terms(A, K, xs_.data(), xmax()), pending_);
    for (const Pending& e : pending_)
      ref::put(R_.y, e.i, Real256(g) * ref::xhat(Real256(xs_[e.k]), stats256()) + Real256(b));
    count(p_.reduction_size());
  }
  void count(int64_t M) {
    path_.elements_slow += pending_.size();
    path_.elements_fast += static_cast<uint64_t>(M) - pending_.size();
  }

  // dbeta = S_dy, dgamma = r (S_dyx - mean S_dy) with the numerator M S_dyx - S_dy S_x
  // an exact integer (units 2^-300); dx = A dy - Cc x + K, A = gamma r,
  // Cc = A r dgamma / M, K = Cc mean - A dbeta / M.
  void backward(int64_t c, const ChannelWalk& w, const ref::Stats<Approx>& st) {
    const int64_t M = p_.reduction_size();
    const Approx Ma(static_cast<double>(M));
    const Big idy = DY_.total();
    Big a, b;
    if (!mul(Big(static_cast<uint64_t>(M)), DYX_.total(), &a) || !mul(idy, i1_, &b)) return slow_channel(c);
    const Approx dbeta = idy.to_approx(-150);
    const Approx centred = (a - b).to_approx(-300) / Ma;  // sum dy (x - mean)
    const Approx dgamma = st.invstd * centred;
    ChannelRef& cr = R_.channel[c];
    cr.dbeta = ref::to_double(dbeta);
    cr.dgamma = ref::to_double(dgamma);
    cr.sum_abs_dy = ref::to_double(ADY_.total().to_approx(-150));
    if (p_.affine) {
      ref::put(R_.dbeta, c, dbeta);
      ref::put(R_.dgamma, c, dgamma);
    }
    const double g = ref::gamma_of(p_, d_, c);
    const Approx A = Approx(g) * st.invstd, Cc = A * st.invstd * dgamma / Ma;
    const Approx K = Cc * st.mean - A * dbeta / Ma;
    if (ref::undecided) return slow_channel(c);
    const bool fast = usable_factor(A) && usable_factor(Cc) && finite(K);
    Terms T;
    T.A = Factor(DD{A.h, A.l});
    T.C = Factor(DD{Cc.h, Cc.l});
    T.K = DD{K.h, K.l};
    T.eA = A.e * kUp;
    T.eC = Cc.e * kUp;
    T.eK = K.e * kUp + kTiny;
    T.x = xs_.data();
    T.dy = dys_.data();
    T.backward = true;
    const double mean_h = st.mean.h, mean_l = st.mean.l, r_h = st.invstd.h;
    // sum |dy xhat|, a magnitude for the budget: to ~M 2^-53 (four partial sums, in a
    // fixed order).
    double part[4] = {0, 0, 0, 0};
    for (size_t k = 0; k < xs_.size(); ++k) part[k & 3] += std::fabs(dys_[k] * (((xs_[k] - mean_h) - mean_l) * r_h));
    const double sadx = (part[0] + part[1]) + (part[2] + part[3]);
    T.set_fma_rest(xmax(), gmax());
    fast_pass(w, R_.dx, fast, T, pending_);
    for (const Pending& e : pending_) slow_dx(c, e.i, xs_[e.k], dys_[e.k], idy);
    count(M);
    cr.sum_abs_dy_xhat = sadx;
  }
  void slow_dx(int64_t c, size_t i, double x, double dy, const Big& idy) {
    const ref::Stats<Real256>& s = stats256();
    const Real256 Mr(static_cast<double>(p_.reduction_size()));
    if (!dx256_) {
      const cpp_int idy_i = idy.to_cpp_int();
      const Real256 centred =
          scaled(cpp_int(p_.reduction_size()) * DYX_.total().to_cpp_int() - idy_i * i1_.to_cpp_int(), -300) / Mr;
      dx256_ = Dx256{Real256(ref::gamma_of(p_, d_, c)) * s.invstd / Mr, scaled(idy_i, -150), s.invstd * centred};
    }
    ref::put(R_.dx, i, dx256_->scale * (Mr * Real256(dy) - dx256_->dbeta - ref::xhat(Real256(x), s) * dx256_->dgamma));
  }

  // y = A x + K, A = gamma r, K = beta - A rm, r = 1 / sqrt(rv + eps).
  void inference(int64_t c) {
    const double g = ref::gamma_of(p_, d_, c), b = ref::beta_of(p_, d_, c), rm = d_.running_mean.get(c),
                 rv = d_.running_var.get(c);
    if (!std::isfinite(rm) || !std::isfinite(rv) || !(rv + p_.eps > 0)) {
      ref::inference_channel<Real256>(p_, d_, c, R_);  // special values, r infinite
      path_.channels_slow++;
      path_.elements_slow += static_cast<uint64_t>(p_.reduction_size());
      return;
    }
    ref::undecided = false;
    const Approx r = Approx(1.0) / sqrt(Approx(rv) + Approx(p_.eps));
    ref::inference_channel_ref(d_, c, r, false, R_);
    const Approx A = Approx(g) * r, K = Approx(b) - A * Approx(rm);
    if (ref::undecided || !usable_factor(A) || !finite(K)) {
      ref::inference_channel<Real256>(p_, d_, c, R_);
      path_.channels_slow++;
      path_.elements_slow += static_cast<uint64_t>(p_.reduction_size());
      return;
    }
    const ChannelWalk w(p_, c);
    const bool finite_x = gather_floats(w, d_.x, xs_);
    float xm = 0;
    for (const float v : xs_) xm = std::max(xm, std::fabs(v));
    fast_pass(w, R_.y, finite_x, affine_terms(A, K, xs_.data(), xm), pending_);
    if (!pending_.empty()) {
      bool r_inf = false;
      const Real256 r256 = ref::inference_invstd<Real256>(p_, d_, c, &r_inf);
      for (const Pending& e : pending_) ref::inference_element(p_, d_, e.i, g, b, rm, rv, r256, false, R_);
    }
    count(p_.reduction_size());
  }

  struct Dx256 {
    Real256 scale, dbeta, dgamma;
  };

  const Problem& p_;
  const Conventions& conv_;
  const CaseData& d_;
  Reference& R_;
  ReferencePath path_;
  std::vector<float> xs_, dys_;
  std::vector<Pending> pending_;
  // The current chunk's 64-bit bins (zero between chunks) and the channel's exact bins.
  std::array<std::array<int64_t, 256>, 2> bx_{}, bax_{}, bdy_{}, bady_{};
  std::array<std::array<uint64_t, 256>, 2> bxx_{};
  std::array<std::array<int64_t, 512>, 2> bdyx_{};
  ref::ExactBins<256> X_, AX_, DY_, ADY_;
  ref::ExactBins<512> XX_, DYX_;
  Big i1_, i2_;
  int x_emax_ = 1, g_emax_ = 1;  // the largest f32 exponent fields of x and dy: |x| < 2^(E - 126)
  double xmax() const { return ref::dd::pow2(x_emax_ - 126); }
  double gmax() const { return ref::dd::pow2(g_emax_ - 126); }
  std::optional<ref::Stats<Real256>> st256_;
  std::optional<Dx256> dx256_;
};

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

Reference compute_reference_fast(const Problem& given, const Conventions& conv, const CaseData& d) {
  if (given.dtype == Dtype::f64) return compute_reference(given, conv, d);
  Problem p = given;
  p.eps = effective_eps(given.eps, conv);  // a backend's float epsilon, when declared
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
  std::vector<std::unique_ptr<ChannelWorker>> workers;
  workers.reserve(static_cast<size_t>(threads));
  for (int k = 0; k < threads; ++k) workers.push_back(std::make_unique<ChannelWorker>(p, conv, d, R));
  auto work = [&](ChannelWorker& w) {
    for (int64_t c = next++; c < p.c; c = next++) w.channel(c);
  };
  std::vector<std::thread> pool;
  for (int k = 1; k < threads; ++k) pool.emplace_back(work, std::ref(*workers[static_cast<size_t>(k)]));
  work(*workers[0]);
  for (std::thread& t : pool) t.join();
  for (const auto& w : workers) {
    R.path.elements_fast += w->path().elements_fast;
    R.path.elements_slow += w->path().elements_slow;
    R.path.channels_slow += w->path().channels_slow;
  }
  for (RefTensor* t : outputs(R))
    if (std::all_of(t->any_nonfinite.begin(), t->any_nonfinite.end(), [](uint8_t m) { return m == 0; }))
      std::vector<uint8_t>().swap(t->any_nonfinite);
  return R;
}

}  // namespace bncheck
