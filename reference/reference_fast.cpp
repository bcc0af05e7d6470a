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
// beyond the parameter dtype, takes the 256-bit path whole. f64 data take the same
// path with wider bins and Dekker's product on split values; a channel of them with a
// nonzero value outside [2^-400, 2^400) has its elements evaluated at 256 bits.

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
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "reference/approx.hpp"
#include "reference/bnorm_ref.hpp"
#include "reference/double_double.hpp"
#include "reference/exact_bins.hpp"
#include "reference/ref_real.hpp"
#include "reference/round_test_avx2.hpp"

namespace bncheck {

namespace ref {

// A channel's exact sums (x, x^2, |x|, dy, |dy|, dy x, in the data format's unit) and
// the range of its values' exponent fields: over a block of rows, or added up over all
// of them (RowReference). The sums are integers in one unit: adding them is exact.
template <class Sum>
struct ChannelSums {
  Sum i1, i2, iax, idy, iady, idyx;
  int x_emax = 1, g_emax = 1, x_lo = 0, x_hi = -1, g_lo = 0, g_hi = -1;
  bool nonfinite = false, any = false;
  void add(const ChannelSums& o) {
    if (!any) {
      const bool bad = nonfinite;
      *this = o;
      nonfinite = nonfinite || bad;
      return;
    }
    i1 = i1 + o.i1;
    i2 = i2 + o.i2;
    iax = iax + o.iax;
    idy = idy + o.idy;
    iady = iady + o.iady;
    idyx = idyx + o.idyx;
    x_emax = std::max(x_emax, o.x_emax);
    g_emax = std::max(g_emax, o.g_emax);
    x_lo = std::min(x_lo, o.x_lo);
    x_hi = std::max(x_hi, o.x_hi);
    g_lo = std::min(g_lo, o.g_lo);
    g_hi = std::max(g_hi, o.g_hi);
    nonfinite = nonfinite || o.nonfinite;
  }
};

}  // namespace ref

namespace {

using boost::multiprecision::cpp_int;
using ref::Approx;
using ref::Big;
using ref::WideBig;
using ref::dd::DD;
using ref::dd::Factor;

Real256 scaled(const cpp_int& i, int e) { return ldexp(Real256(i), e); }

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

// Where channel c's elements are: element (n, s) at base + n * stride_n + s * stride_s
// of the outputs, and in_shift further on in the inputs. The walk of rows [n0, n0 +
// rows) (a streamed check: RowReference) sees them as a problem of `rows` rows: its
// outputs hold those rows only, its inputs are the whole tensors.
struct ChannelWalk {
  size_t base, stride_n, stride_s, in_shift = 0;
  int64_t N, S;
  ChannelWalk(const Problem& p, int64_t c, int64_t n0 = 0, int64_t rows = -1)
      : N(rows < 0 ? p.n : rows), S(p.spatial_size()) {
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
    in_shift = static_cast<size_t>(n0) * stride_n;
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
// In: the data's values, float (f32, f16, bf16 data) or double (f64 data).
template <class In>
struct Terms {
  Factor A{DD{0, 0}}, C{DD{0, 0}};
  DD K{0, 0};
  double eA = 0, eC = 0, eK = 0;
  const In *x = nullptr, *dy = nullptr;  // dy: backward only
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

// A constant times a value of the data: Dekker's product, which needs no split of an
// f32 value (double_double.hpp).
template <class In>
inline DD mul_value(const Factor& f, double v) {
  if constexpr (std::is_same_v<In, float>)
    return ref::dd::mul_short(f, v);
  else
    return ref::dd::mul_full(f, v);
}

template <bool Bwd, class In>
inline DD dd_value(const Terms<In>& T, double xv, double g, double* err) {
  if constexpr (!Bwd) {
    const DD t = mul_value<In>(T.A, xv);
    *err = kForwardBound * (std::fabs(t.h) + std::fabs(T.K.h)) + T.eA * std::fabs(xv) + T.eK;
    return ref::dd::add(t, T.K);
  } else {
    const DD t1 = mul_value<In>(T.A, g), t2 = mul_value<In>(T.C, xv);
    *err = kBackwardBound * (std::fabs(t1.h) + std::fabs(t2.h) + std::fabs(T.K.h)) + T.eA * std::fabs(g) +
           T.eC * std::fabs(xv) + T.eK;
    return ref::dd::add(ref::dd::add(t1, DD{-t2.h, -t2.l}), T.K);
  }
}

// Forward: y_a = fma(Ah, x, Kh) (one rounding, u|y_a|), c = fma(Al, x, Kl) (|c| <=
// 2u(|Ah x| + |Kh|), one rounding), y = y_a + c (u|y|): |y - (A x + K)| <= 2.01u|y| +
// 2.01u|c|. Backward: t = fma(Ah, dy, Kh), s = fma(-Ch, x, t), c = fma(Al, dy,
// fma(-Cl, x, Kl)), y = s + c: u|t| + 2.01u|y| + 3u^2(|Ah dy| + |Ch x| + |Kh|).
template <bool Bwd, class In>
BNCHECK_FMA inline double fma_value(const Terms<In>& T, double xv, double g, double* err) {
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
template <class In>
Terms<In> affine_terms(const Approx& A, const Approx& K, const In* x, double xmax) {
  Terms<In> T;
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
template <Dtype DT, bool Bwd, class In>
void decided_pass(const ChannelWalk& w, RefTensor& t, const Terms<In>& T, std::vector<Pending>& pending) {
  auto* rounded = rounded_data<DT, std::conditional_t<DT == Dtype::f64, uint64_t, uint32_t>>(t);
  double* hi = t.hi.data();
  double* lo = t.lo.empty() ? nullptr : t.lo.data();
  w.each([&](size_t k, size_t i) {
    double err;
    const DD v = dd_value<Bwd>(T, static_cast<double>(T.x[k]), Bwd ? static_cast<double>(T.dy[k]) : 0.0, &err);
    if (!store<DT>(rounded, hi, lo, i, v, err)) pending.push_back({k, i});
  });
}
// One element with the fused multiply-add tier first: an element whose double value
// is within 2^-45 of its size and rounds decidedly keeps that double as hi (the exact
// value to within 2^-45, against the double-double's 2^-99: error-model.md); the
// others go on to the double-double tier, and those it leaves undecided to pending.
template <Dtype DT, bool Bwd, class In, class Bits>
BNCHECK_FMA inline void fma_element(const Terms<In>& T, double xv, double g, size_t k, size_t i, Bits* rounded,
                                    double* hi, double* lo, std::vector<Pending>& pending) {
  double err;
  const double y = fma_value<Bwd>(T, xv, g, &err);
  uint64_t bits;
  if (err <= 0x1p-45 * std::fabs(y) && ref::dd::round_test<DT>(y, 0, err, &bits)) {
    rounded[i] = static_cast<Bits>(bits);
    hi[i] = y;
    if (lo) lo[i] = 0;
    return;
  }
  const DD v = dd_value<Bwd>(T, xv, g, &err);
  if (!store<DT>(rounded, hi, lo, i, v, err)) pending.push_back({k, i});
}
template <Dtype DT, bool Bwd, class In>
BNCHECK_FMA void decided_pass_fma(const ChannelWalk& w, RefTensor& t, const Terms<In>& terms,
                                  std::vector<Pending>& pending) {
  using Bits = std::conditional_t<DT == Dtype::f64, uint64_t, uint32_t>;
  const Terms<In> T = terms;
  Bits* rounded = rounded_data<DT, Bits>(t);
  double* hi = t.hi.data();
  double* lo = t.lo.empty() ? nullptr : t.lo.data();
  const size_t N = static_cast<size_t>(w.N), S = static_cast<size_t>(w.S), stride_s = w.stride_s;
  const In *xs = T.x, *dys = T.dy;
  for (size_t n = 0, k = 0; n < N; ++n) {
    const size_t row = w.base + n * w.stride_n;
    for (size_t s = 0; s < S; ++s, ++k)
      fma_element<DT, Bwd>(T, xs[k], Bwd ? static_cast<double>(dys[k]) : 0.0, k, row + s * stride_s, rounded, hi, lo,
                           pending);
  }
}

// The same four elements at a time (round_test_avx2.hpp) for the f32, f16 and bf16
// outputs of float values, which keep no low part; the lanes the vector test leaves
// undecided, and the tail of each row, go through fma_element.
template <Dtype DT, bool Bwd>
BNCHECK_AVX2 void decided_pass_avx2(const ChannelWalk& w, RefTensor& t, const Terms<float>& T,
                                    std::vector<Pending>& pending) {
  uint32_t* rounded = t.rounded.narrow_data();
  double* hi = t.hi.data();
  const size_t N = static_cast<size_t>(w.N), S = static_cast<size_t>(w.S), stride_s = w.stride_s;
  const float *xs = T.x, *dys = T.dy;
  const __m256d Ah = _mm256_set1_pd(T.A.v.h), Al = _mm256_set1_pd(T.A.v.l), Ch = _mm256_set1_pd(T.C.v.h),
                Cl = _mm256_set1_pd(T.C.v.l), Kh = _mm256_set1_pd(T.K.h), Kl = _mm256_set1_pd(T.K.l),
                rest = _mm256_set1_pd(T.fma_rest), abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(INT64_MAX));
  // Rows of consecutive elements are written with non-temporal stores from an aligned
  // start (the outputs are read back only by the comparison, after the whole pass): no
  // read of the lines they fill.
  const bool stream =
      stride_s == 1 && reinterpret_cast<uintptr_t>(hi) % 32 == 0 && reinterpret_cast<uintptr_t>(rounded) % 16 == 0;
  for (size_t n = 0, k = 0; n < N; ++n) {
    const size_t row = w.base + n * w.stride_n;
    size_t s = 0;
    if (stream)
      for (; s < S && (row + s) % 4 != 0; ++s, ++k)
        fma_element<DT, Bwd>(T, xs[k], Bwd ? static_cast<double>(dys[k]) : 0.0, k, row + s, rounded, hi, nullptr,
                             pending);
    for (; s + 4 <= S; s += 4, k += 4) {
      const __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(xs + k));
      __m256d y, err;
      if constexpr (!Bwd) {  // as fma_value: the same operations, the same bound
        y = _mm256_add_pd(_mm256_fmadd_pd(Ah, x, Kh), _mm256_fmadd_pd(Al, x, Kl));
        err = _mm256_fmadd_pd(_mm256_set1_pd(0x1p-51), _mm256_and_pd(y, abs_mask), rest);
      } else {
        const __m256d g = _mm256_cvtps_pd(_mm_loadu_ps(dys + k));
        const __m256d tt = _mm256_fmadd_pd(Ah, g, Kh), sv = _mm256_fnmadd_pd(Ch, x, tt);
        const __m256d c = _mm256_fmadd_pd(Al, g, _mm256_fnmadd_pd(Cl, x, Kl));
        y = _mm256_add_pd(sv, c);
        err = _mm256_add_pd(
            _mm256_add_pd(_mm256_mul_pd(_mm256_set1_pd(0x1p-52 * (1 + 0x1p-40)), _mm256_and_pd(tt, abs_mask)),
                          _mm256_mul_pd(_mm256_set1_pd(0x1p-51), _mm256_and_pd(y, abs_mask))),
            rest);
      }
      __m128i bits;
      const int ok = ref::dd::round_test4<DT>(y, err, &bits);
      const size_t i = row + s * stride_s;
      if (stream) {
        _mm_stream_si128(reinterpret_cast<__m128i*>(rounded + i), bits);
        _mm256_stream_pd(hi + i, y);
        if (ok == 15) continue;
      } else if (stride_s == 1) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(rounded + i), bits);
        _mm256_storeu_pd(hi + i, y);
        if (ok == 15) continue;
      }
      alignas(32) double yv[4];
      alignas(16) uint32_t bv[4];
      _mm256_store_pd(yv, y);
      _mm_store_si128(reinterpret_cast<__m128i*>(bv), bits);
      for (size_t j = 0; j < 4; ++j) {
        const size_t ij = i + j * stride_s;
        if (ok >> j & 1) {
          rounded[ij] = bv[j];
          hi[ij] = yv[j];
        } else {
          fma_element<DT, Bwd>(T, xs[k + j], Bwd ? static_cast<double>(dys[k + j]) : 0.0, k + j, ij, rounded, hi,
                               nullptr, pending);
        }
      }
    }
    for (; s < S; ++s, ++k)
      fma_element<DT, Bwd>(T, xs[k], Bwd ? static_cast<double>(dys[k]) : 0.0, k, row + s * stride_s, rounded, hi,
                           nullptr, pending);
  }
  if (stream) _mm_sfence();  // the non-temporal stores ordered before whatever follows
}

bool have_fma() {
  static const bool yes = __builtin_cpu_supports("fma");
  return yes;
}

// f64 outputs skip the fused multiply-add tier: its bound (2^-51 |y|) never decides a
// rounding to f64.
template <Dtype DT, class In>
void pass_for(const ChannelWalk& w, RefTensor& t, const Terms<In>& T, std::vector<Pending>& pending) {
  if constexpr (DT != Dtype::f64 && std::is_same_v<In, float>)
    if (t.lo.empty() && ref::dd::have_avx2_tier())
      return T.backward ? decided_pass_avx2<DT, true>(w, t, T, pending)
                        : decided_pass_avx2<DT, false>(w, t, T, pending);
  if (DT != Dtype::f64 && have_fma())
    return T.backward ? decided_pass_fma<DT, true>(w, t, T, pending) : decided_pass_fma<DT, false>(w, t, T, pending);
  return T.backward ? decided_pass<DT, true>(w, t, T, pending) : decided_pass<DT, false>(w, t, T, pending);
}
template <class In>
void fast_pass(const ChannelWalk& w, RefTensor& t, bool usable, const Terms<In>& T, std::vector<Pending>& pending) {
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
    const float* f = static_cast<const float*>(t.data()) + w.in_shift;
    w.each([&](size_t k, size_t i) {
      uint32_t b;
      std::memcpy(&b, &f[i], sizeof b);
      bad |= static_cast<uint32_t>((b & 0x7f800000u) == 0x7f800000u);
      v[k] = f[i];
    });
  } else if (t.dtype() == Dtype::bf16) {  // the top half of an f32
    const uint16_t* h = static_cast<const uint16_t*>(t.data()) + w.in_shift;
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
    const uint16_t* h = static_cast<const uint16_t*>(t.data()) + w.in_shift;
    const float* f = table.data();
    w.each([&](size_t k, size_t i) {
      bad |= static_cast<uint32_t>((h[i] & 0x7c00u) == 0x7c00u);
      v[k] = f[h[i]];
    });
  } else {
    w.each([&](size_t k, size_t i) {
      v[k] = static_cast<float>(t.get(i + w.in_shift));  // exact
      bad |= static_cast<uint32_t>(!std::isfinite(v[k]));
    });
  }
  return bad == 0;
}
// The same for f64 data.
bool gather_floats(const ChannelWalk& w, const Tensor& t, std::vector<double>& v) {
  v.resize(static_cast<size_t>(w.N * w.S));
  const double* f = static_cast<const double*>(t.data()) + w.in_shift;
  uint64_t bad = 0;
  w.each([&](size_t k, size_t i) {
    v[k] = f[i];
    bad |= static_cast<uint64_t>((ref::dd::bits_of(f[i]) & 0x7ff0000000000000ull) == 0x7ff0000000000000ull);
  });
  return bad == 0;
}

// The 256-bit statistics from the exact sums (the per-element fallback's): mean = S1 /
// M, var = (M S2 - S1^2) / M^2, the numerator an exact integer (S1 in units 2^u1, S2
// in units 2^(2 u1)).
ref::Stats<Real256> stats_256(const cpp_int& i1, const cpp_int& i2, int u1, int64_t M, double eps,
                              const Conventions& conv) {
  using std::sqrt;
  ref::Stats<Real256> s;
  const Real256 Mr(static_cast<double>(M));
  s.sum = scaled(i1, u1);
  s.m = static_cast<double>(M);
  s.mean = s.sum / Mr;
  const cpp_int num = cpp_int(M) * i2 - i1 * i1;
  s.var = scaled(cpp_int(M) * num, 2 * u1) / (Mr * Mr * Mr);  // as channel_stats: sum (M x - S)^2 / M^3
  const Real256 denom = s.var + Real256(eps);
  if (denom == 0) {
    s.invstd_inf = !conv.zero_var_invstd_is_zero;
    s.invstd = 0;
  } else {
    s.invstd = Real256(1) / sqrt(denom);
  }
  return s;
}

// The two formats of the data: f32 values (f16 and bf16 data too) and f64 values. A
// value is m 2^(E + kUnit); Sum holds a channel's exact sums; bound(E) > |x| for a
// largest exponent field E.
template <class In>
struct Format;
template <>
struct Format<float> {
  static constexpr int kUnit = -150;
  using Sum = Big;
  static double bound(int E) { return ref::dd::pow2(E - 126); }
  // Dekker's product is exact for this factor against any f32 value (docs/error-model.md).
  static bool usable(const Approx& a) {
    const double m = std::fabs(a.h);
    return std::isfinite(a.h) && std::isfinite(a.l) && (m == 0 || (m > 0x1p-700 && m < 0x1p700));
  }
};
template <>
struct Format<double> {
  static constexpr int kUnit = -1075;
  using Sum = WideBig;
  static double bound(int E) { return ref::dd::pow2(std::min(E - 1022, 1023)); }
  // Factors and values within [2^-400, 2^400] (or zero): their products, split by
  // Veltkamp, neither overflow nor underflow, so Dekker's product is exact.
  static bool usable(const Approx& a) {
    const double m = std::fabs(a.h);
    return std::isfinite(a.h) && std::isfinite(a.l) && (m == 0 || (m >= 0x1p-400 && m <= 0x1p400));
  }
};

// Terms per chunk of the 64-bit product bins (|m1 m2| < 2^48: 2^15 terms fit in 63 bits).
constexpr size_t kChunk = size_t{1} << 15;
// Terms per chunk of the 128-bit product bins of f64 values (|m1 m2| < 2^106: 2^20
// terms fit in 127 bits).
constexpr size_t kWideChunk = size_t{1} << 20;

// The bins of f32 values: the current chunk's 64-bit bins (zero between chunks, two
// interleaved sets) and the channel's exact 128-bit ones.
// The exact bins have room for the lane sums of the vector path too (a sum of 1024
// values below 2^128 has an exponent below 2^138, 288 - 150; of products below 2^256,
// 2^266, 576 - 300).
struct FloatBins {
  std::array<std::array<int64_t, 256>, 2> x{}, ax{}, dy{}, ady{};
  std::array<std::array<uint64_t, 256>, 2> xx{};
  std::array<std::array<int64_t, 512>, 2> dyx{};
  ref::ExactBins<288> X, AX, DY, ADY;
  ref::ExactBins<576> XX, DYX;
  void clear_exact() {
    X.clear();
    AX.clear();
    XX.clear();
    DY.clear();
    ADY.clear();
    DYX.clear();
  }
};
// The bins of f64 values: 128-bit ones, by exponent field (sums) and by the sum of two
// (products).
struct DoubleBins {
  ref::ExactBins<2048, WideBig> X, AX, DY, ADY;
  ref::ExactBins<4096, WideBig> XX, DYX;
};

// One worker: channels one at a time, its own scratch and counts. Workers write
// disjoint parts of R (a channel's elements and statistics), so any number of them
// give the same Reference.
template <class In>
class ChannelWorker {
  using F = Format<In>;
  using Sum = typename F::Sum;
  static constexpr bool kFloat = std::is_same_v<In, float>;
  static constexpr int kUnit = F::kUnit;

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

  // A streamed reference (RowReference): rows [n0, n0 + rows) of every channel into R,
  // the statistics from sums over the whole channels (training).
  void set_rows(int64_t n0, int64_t rows, const std::vector<ref::ChannelSums<Sum>>* sums) {
    n0_ = n0;
    rows_ = rows;
    sums_ = sums;
  }
  // The streamed reference's first pass: channel c's exact sums over rows [n0, n0 +
  // rows), added into s (exact: the sums are integers in one unit).
  void add_sums(int64_t c, int64_t n0, int64_t rows, ref::ChannelSums<Sum>& s) {
    const bool bwd = p_.dir == Direction::bwd;
    const ChannelWalk w(p_, c, n0, rows);
    if (!gather_floats(w, d_.x, xs_) || (bwd && !gather_floats(w, d_.dy, dys_))) {
      s.nonfinite = true;
      return;
    }
    accumulate(bwd);
    s.add({i1_, i2_, iax_, idy_, iady_, idyx_, x_emax_, g_emax_, x_lo_, x_hi_, g_lo_, g_hi_, false, true});
  }
  // Where a streamed reference met a channel that needs the whole-channel 256-bit
  // path (its lowest such channel): empty when none.
  int64_t refused_channel() const { return refused_; }

 private:
  bool streamed() const { return rows_ >= 0; }
  void restore(const ref::ChannelSums<Sum>& s) {
    i1_ = s.i1;
    i2_ = s.i2;
    iax_ = s.iax;
    idy_ = s.idy;
    iady_ = s.iady;
    idyx_ = s.idyx;
    x_emax_ = s.x_emax;
    g_emax_ = s.g_emax;
    x_lo_ = s.x_lo;
    x_hi_ = s.x_hi;
    g_lo_ = s.g_lo;
    g_hi_ = s.g_hi;
  }
  void refuse(int64_t c) {
    if (refused_ < 0 || c < refused_) refused_ = c;
  }
  void slow_channel(int64_t c) {
    if (streamed()) return refuse(c);
    ref::compute_channel<Real256>(p_, conv_, d_, c, R_);
    path_.channels_slow++;
    path_.elements_slow += static_cast<uint64_t>(p_.reduction_size());
  }

  // The exact sums of one channel: x, |x| and x^2 by x's exponent; in backward dy,
  // |dy| by dy's and dy x by the sum of both.
  void accumulate(bool bwd) {
    if constexpr (kFloat) {
      if (ref::dd::have_avx2_tier()) return bwd ? accumulate_floats_avx2<true>() : accumulate_floats_avx2<false>();
      accumulate_floats(bwd);
    } else {
      accumulate_doubles(bwd);
    }
  }

  // The same sums four values at a time (AVX2), in doubles that stay exact. With Emax
  // the largest exponent field of x, every x of field >= Emax - kWindow (or zero) is a
  // multiple of 2^(Emax - kWindow - 150) below 2^(kWindow + 24) of those units: 1024
  // of them (one lane's share of a block) sum exactly in a double (2^(19 + 24 + 10) =
  // 2^53), and so do their magnitudes. Squares (and products dy x, windows on both) are
  // multiples of the squared unit below 2^(2 kWindow + 48) of it; each is added by
  // TwoSum, whose error terms are multiples of the unit too, each at most 2^-53 of
  // the running sum, and add up, exactly, to less than (n^2 / 2) 2^(2 kWindow + 48 - 53)
  // = 2^52 units in a second double (n = 1024).
  // So a lane's (sum, error) pair is the exact sum. Each block's lane sums go into the
  // exact bins by their exponents. Elements outside a window (values 2^-19 below the
  // channel's largest, rare outside wide-range data) go into the bins one by one.
  static constexpr int kWindow = 19;
  static constexpr size_t kBlock = 4 * 1024;  // elements per flush: 1024 per lane
  template <bool Bwd>
  BNCHECK_AVX2 void accumulate_floats_avx2() {
    FloatBins& b = bins_;
    b.clear_exact();
    const size_t M = xs_.size();
    const float *xs = xs_.data(), *dys = dys_.data();
    const uint32_t xmax_bits = max_magnitude_bits(xs, M), gmax_bits = Bwd ? max_magnitude_bits(dys, M) : 0;
    x_emax_ = std::max(1, static_cast<int>(xmax_bits >> 23));
    g_emax_ = std::max(1, static_cast<int>(gmax_bits >> 23));
    // In a window: magnitude bits > *_floor (zero is let in separately).
    const int xe = static_cast<int>(xmax_bits >> 23) - kWindow, ge = static_cast<int>(gmax_bits >> 23) - kWindow;
    const __m128i x_floor = _mm_set1_epi32(xe > 0 ? (xe << 23) - 1 : -1),
                  g_floor = _mm_set1_epi32(ge > 0 ? (ge << 23) - 1 : -1);
    const __m128i mag = _mm_set1_epi32(0x7fffffff), zero = _mm_setzero_si128();
    const __m256d abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(INT64_MAX));
    for (size_t k0 = 0; k0 < M; k0 += kBlock) {
      const size_t k1 = std::min(M, k0 + kBlock);
      __m256d sx = _mm256_setzero_pd(), sax = sx, sq = sx, cq = sx, sg = sx, sag = sx, sp = sx, cp = sx;
      for (size_t k = k0; k < k1; k += 4) {
        __m128i xi, gi = zero;
        if (k + 4 <= k1) {
          xi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xs + k));
          if constexpr (Bwd) gi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(dys + k));
        } else {  // the last, partial group, padded with zeros
          alignas(16) float xt[4] = {0, 0, 0, 0}, gt[4] = {0, 0, 0, 0};
          for (size_t j = 0; k + j < k1; ++j) {
            xt[j] = xs[k + j];
            if constexpr (Bwd) gt[j] = dys[k + j];
          }
          xi = _mm_load_si128(reinterpret_cast<const __m128i*>(xt));
          gi = _mm_load_si128(reinterpret_cast<const __m128i*>(gt));
        }
        const __m128i xa = _mm_and_si128(xi, mag);
        __m128i in = _mm_or_si128(_mm_cmpgt_epi32(xa, x_floor), _mm_cmpeq_epi32(xa, zero));
        if constexpr (Bwd) {
          const __m128i ga = _mm_and_si128(gi, mag);
          in = _mm_and_si128(in, _mm_or_si128(_mm_cmpgt_epi32(ga, g_floor), _mm_cmpeq_epi32(ga, zero)));
        }
        if (const int m = _mm_movemask_ps(_mm_castsi128_ps(in)); m != 15) {
          for (size_t j = 0; j < 4 && k + j < k1; ++j)
            if (!(m >> j & 1)) add_one<Bwd>(k + j);
          xi = _mm_and_si128(xi, in);  // those lanes add zero below
          gi = _mm_and_si128(gi, in);
        }
        const __m256d x = _mm256_cvtps_pd(_mm_castsi128_ps(xi));
        sx = _mm256_add_pd(sx, x);
        sax = _mm256_add_pd(sax, _mm256_and_pd(x, abs_mask));
        two_sum_into(sq, cq, _mm256_mul_pd(x, x));
        if constexpr (Bwd) {
          const __m256d g = _mm256_cvtps_pd(_mm_castsi128_ps(gi));
          sg = _mm256_add_pd(sg, g);
          sag = _mm256_add_pd(sag, _mm256_and_pd(g, abs_mask));
          two_sum_into(sp, cp, _mm256_mul_pd(g, x));
        }
      }
      flush(b.X, sx, 150);
      flush(b.AX, sax, 150);
      flush(b.XX, sq, 300);
      flush(b.XX, cq, 300);
      if constexpr (Bwd) {
        flush(b.DY, sg, 150);
        flush(b.ADY, sag, 150);
        flush(b.DYX, sp, 300);
        flush(b.DYX, cp, 300);
      }
    }
    take_totals(Bwd);
  }
  // The largest |v| of n floats, as bits (finite values: the order of the bits).
  BNCHECK_AVX2 static uint32_t max_magnitude_bits(const float* v, size_t n) {
    const __m256i mag = _mm256_set1_epi32(0x7fffffff);
    __m256i m = _mm256_setzero_si256();
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
      m = _mm256_max_epu32(m, _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + k)), mag));
    alignas(32) uint32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), m);
    uint32_t r = 0;
    for (const uint32_t l : lanes) r = std::max(r, l);
    for (; k < n; ++k) r = std::max(r, ref::dd::bits_of(v[k]) & 0x7fffffffu);
    return r;
  }
  // s + c += t, exactly where the window bounds them (TwoSum's error term into c).
  BNCHECK_AVX2 static void two_sum_into(__m256d& s, __m256d& c, __m256d t) {
    const __m256d sum = _mm256_add_pd(s, t), bb = _mm256_sub_pd(sum, s);
    const __m256d err = _mm256_add_pd(_mm256_sub_pd(s, _mm256_sub_pd(sum, bb)), _mm256_sub_pd(t, bb));
    s = sum;
    c = _mm256_add_pd(c, err);
  }
  // Four exact doubles, multiples of 2^-unit, into bins in units of 2^-unit.
  template <int Bins>
  BNCHECK_AVX2 static void flush(ref::ExactBins<Bins>& bins, __m256d v, int unit) {
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, v);
    for (const double d : lanes) {
      if (d == 0) continue;
      ref::FloatParts p = ref::f64_parts(d);
      const int tz = __builtin_ctzll(static_cast<uint64_t>(p.m < 0 ? -p.m : p.m));
      bins.add(p.m / (int64_t{1} << tz), p.e + tz - 1075 + unit);  // exact division: the low tz bits are zero
    }
  }
  // Element k's terms into the exact bins one by one (outside the vector path's windows).
  template <bool Bwd>
  void add_one(size_t k) {
    FloatBins& b = bins_;
    const ref::FloatParts a = ref::f32_parts(xs_[k]);
    b.X.add(a.m, a.e);
    b.AX.add(a.m < 0 ? -a.m : a.m, a.e);
    b.XX.add(static_cast<ref::Int128>(a.m) * a.m, 2 * a.e);
    if constexpr (Bwd) {
      const ref::FloatParts g = ref::f32_parts(dys_[k]);
      b.DY.add(g.m, g.e);
      b.ADY.add(g.m < 0 ? -g.m : g.m, g.e);
      b.DYX.add(static_cast<ref::Int128>(g.m) * a.m, g.e + a.e);
    }
  }
  void accumulate_floats(bool bwd) {
    FloatBins& b = bins_;
    b.clear_exact();
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
        b.X.drain(b.x[j].data(), r.lo, r.hi);
        b.AX.drain(b.ax[j].data(), r.lo, r.hi);
        for (int e = r.lo; e <= r.hi; ++e) {  // x^2 = m^2 2^(2E - 300)
          if (b.xx[j][e] == 0) continue;
          b.XX.add(static_cast<ref::Int128>(b.xx[j][e]), 2 * e);
          b.xx[j][e] = 0;
        }
        if (bwd) {
          b.DY.drain(b.dy[j].data(), r.glo, r.ghi);
          b.ADY.drain(b.ady[j].data(), r.glo, r.ghi);
          b.DYX.drain(b.dyx[j].data(), r.plo, r.phi);
        }
      }
    }
    take_totals(bwd);
  }
  // The channel's exact sums from the f32 values' exact bins.
  void take_totals(bool bwd) {
    const FloatBins& b = bins_;
    i1_ = b.X.total();
    iax_ = b.AX.total();
    i2_ = b.XX.total();
    if (bwd) {
      idy_ = b.DY.total();
      iady_ = b.ADY.total();
      idyx_ = b.DYX.total();
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
    FloatBins& b = bins_;
    const In *xs = xs_.data(), *dys = dys_.data();
    for (size_t k = k0; k < k1; ++k) {
      const size_t j = k & 1;
      const ref::FloatParts a = ref::f32_parts(xs[k]);
      b.x[j][a.e] += a.m;
      b.ax[j][a.e] += a.m < 0 ? -a.m : a.m;
      b.xx[j][a.e] += static_cast<uint64_t>(a.m * a.m);
      r.lo = std::min(r.lo, a.e);
      r.hi = std::max(r.hi, a.e);
      if constexpr (Bwd) {
        const ref::FloatParts g = ref::f32_parts(dys[k]);
        b.dy[j][g.e] += g.m;
        b.ady[j][g.e] += g.m < 0 ? -g.m : g.m;
        b.dyx[j][g.e + a.e] += g.m * a.m;
        r.glo = std::min(r.glo, g.e);
        r.ghi = std::max(r.ghi, g.e);
        r.plo = std::min(r.plo, g.e + a.e);
        r.phi = std::max(r.phi, g.e + a.e);
      }
    }
  }
  // f64 values straight into 128-bit bins; the product bins' totals into WideBigs
  // every kWideChunk terms. Also the range of the nonzero values' exponent fields.
  void accumulate_doubles(bool bwd) {
    DoubleBins& b = bins_;
    b.X.clear();
    b.AX.clear();
    b.DY.clear();
    b.ADY.clear();
    i2_ = Sum();
    idyx_ = Sum();
    const size_t M = xs_.size();
    const In *xs = xs_.data(), *dys = dys_.data();
    int xlo = 2047, xhi = 1, glo = 2047, ghi = 1;
    for (size_t k0 = 0; k0 < M; k0 += kWideChunk) {
      const size_t k1 = std::min(M, k0 + kWideChunk);
      b.XX.clear();
      b.DYX.clear();
      for (size_t k = k0; k < k1; ++k) {
        const ref::FloatParts a = ref::f64_parts(xs[k]);
        b.X.add(a.m, a.e);
        b.AX.add(a.m < 0 ? -a.m : a.m, a.e);
        b.XX.add(static_cast<ref::Int128>(a.m) * a.m, 2 * a.e);
        if (a.m != 0) {
          xlo = std::min(xlo, a.e);
          xhi = std::max(xhi, a.e);
        }
        if (bwd) {
          const ref::FloatParts g = ref::f64_parts(dys[k]);
          b.DY.add(g.m, g.e);
          b.ADY.add(g.m < 0 ? -g.m : g.m, g.e);
          b.DYX.add(static_cast<ref::Int128>(g.m) * a.m, g.e + a.e);
          if (g.m != 0) {
            glo = std::min(glo, g.e);
            ghi = std::max(ghi, g.e);
          }
        }
      }
      i2_ = i2_ + b.XX.total();
      if (bwd) idyx_ = idyx_ + b.DYX.total();
    }
    i1_ = b.X.total();
    iax_ = b.AX.total();
    if (bwd) {
      idy_ = b.DY.total();
      iady_ = b.ADY.total();
    }
    x_emax_ = xhi;
    g_emax_ = ghi;
    exponent_range(xs_, xlo, xhi, &x_lo_, &x_hi_);
    if (bwd) exponent_range(dys_, glo, ghi, &g_lo_, &g_hi_);
  }
  // The binary exponents of the smallest and largest nonzero |v| from the range of their
  // exponent fields (lo > hi: none); a subnormal (field 1 here) read from the values.
  static void exponent_range(const std::vector<In>& v, int lo, int hi, int* elo, int* ehi) {
    *elo = lo - 1023;
    *ehi = hi - 1023;
    if (lo > hi || lo > 1) return;
    for (const In a : v)
      if (a != 0) *elo = std::min(*elo, std::ilogb(a));
  }

  void training_or_backward(int64_t c) {
    const bool bwd = p_.dir == Direction::bwd;
    const ChannelWalk w(p_, c, n0_, rows_);
    if (!gather_floats(w, d_.x, xs_) || (bwd && !gather_floats(w, d_.dy, dys_))) {
      // Non-finite inputs: IEEE semantics (ref_special.hpp). A training forward's
      // outputs are then all special values or double sums: the same in double as at
      // 256 bits, at a fraction of the cost.
      if (bwd || streamed()) return slow_channel(c);
      ref::compute_channel<double>(p_, conv_, d_, c, R_);
      path_.channels_slow++;
      path_.elements_slow += static_cast<uint64_t>(p_.reduction_size());
      return;
    }
    if (sums_) {
      if ((*sums_)[static_cast<size_t>(c)].nonfinite) return slow_channel(c);
      restore((*sums_)[static_cast<size_t>(c)]);
    } else {
      accumulate(bwd);
    }
    const int64_t M = p_.reduction_size();
    st256_.reset();
    dx256_.reset();
    zero_test_.reset();
    R_.channel[c].poisoned = false;

    // The statistics in double-double: mean = S1 / M, var = (M S2 - S1^2) / M^2 with
    // the numerator exact, each rounded by the test (approx.hpp).
    ref::undecided = false;
    Sum mq, s2, num;
    if (!mul(Sum(static_cast<uint64_t>(M)), i2_, &mq) || !mul(i1_, i1_, &s2)) return slow_channel(c);
    num = mq - s2;
    const Approx Ma(static_cast<double>(M));
    ref::Stats<Approx> st;
    st.m = static_cast<double>(M);
    st.sum = i1_.to_approx(kUnit);
    st.mean = st.sum / Ma;
    st.var = num.to_approx(2 * kUnit) / (Ma * Ma);
    const Approx denom = st.var + Approx(p_.eps);
    if (ref::exact_zero(denom) && !ref::undecided)  // var + eps = 0: IEEE special values
      return bwd ? slow_channel(c) : constant_forward(c, w);
    if (ref::undecided) return exact_statistics(c, w);
    st.invstd = Approx(1.0) / sqrt(denom);
    const bool singular = ref::record_channel_statistics(p_, conv_, c, st, iax_.to_approx(kUnit), mean_square(M), R_);
    // Undecided first: singular is then read from placeholders (approx.hpp, put).
    if (ref::undecided) return exact_statistics(c, w);
    if (singular) return slow_channel(c);
    if (bwd)
      backward(c, w, st);
    else
      forward(c, w, st);
  }

  // Q / M, the mean of x^2 (its square root scales the channel: set_scaled). Where its
  // interval holds a power of two (a constant channel of 2^k, say) and M divides Q,
  // the exact quotient, so that the scale's exponent is decided.
  Approx mean_square(int64_t M) const {
    const Approx q = i2_.to_approx(2 * kUnit) / Approx(static_cast<double>(M));
    const bool before = ref::undecided;
    int e = 0;
    (void)ref::frexp(q, &e);
    const bool straddles = ref::undecided && !before;
    ref::undecided = before;
    if (!straddles) return q;
    cpp_int quo, rem;
    boost::multiprecision::divide_qr(i2_.to_cpp_int(), cpp_int(M), quo, rem);
    if (rem != 0 || quo <= 0 || boost::multiprecision::msb(quo) - boost::multiprecision::lsb(quo) >= 256) return q;
    const Real256 v = scaled(quo, 2 * kUnit);  // exact: at most 256 significant bits
    const double h = static_cast<double>(v), l = static_cast<double>(Real256(v - h));
    if (Real256(v - h) - l != 0 || !std::isfinite(h)) return q;
    return Approx(h, l, 0);
  }

  // The channel's statistics at 256 bits from its exact sums, where the double-double
  // bounds leave one undecided or a value lies beyond their range (f64 data of 10^-307
  // or 10^154, say): a few dozen 256-bit operations for the channel, the same roundings
  // as the slow path's. The elementwise outputs then go through the tiers as usual,
  // their constants taken from the 256-bit values (approx_of).
  void exact_statistics(int64_t c, const ChannelWalk& w) {
    for (RefTensor* t : {&R_.save_stat, &R_.running_var, &R_.dgamma})  // marks the double-double attempt left
      if (!t->any_nonfinite.empty()) t->any_nonfinite[static_cast<size_t>(c)] = 0;
    const int64_t M = p_.reduction_size();
    const ref::Stats<Real256>& st = stats256();
    const Real256 sum_abs = scaled(iax_.to_cpp_int(), kUnit);
    const Real256 mean_sq = scaled(i2_.to_cpp_int(), 2 * kUnit) / Real256(static_cast<double>(M));
    if (ref::record_channel_statistics(p_, conv_, c, st, sum_abs, mean_sq, R_)) return slow_channel(c);
    path_.channels_exact_statistics++;
    const double g = ref::gamma_of(p_, d_, c);
    const Real256 A = Real256(g) * st.invstd;
    if (p_.dir == Direction::fwd_train) {
      ref::running_statistics(p_, conv_, d_, c, st, R_);
      const double b = ref::beta_of(p_, d_, c);
      const Real256 Am = A * st.mean, K = Real256(b) - Am;
      int ea = 0;
      const Approx As = factor_of(A, &ea);
      return forward_elements(c, w, As, ea, approx_of(K, magnitude(b, Am)));
    }
    const Real256 Mr(static_cast<double>(M));
    const cpp_int idy = idy_.to_cpp_int();
    const Real256 dbeta = scaled(idy, kUnit);
    const Real256 centred = scaled(cpp_int(M) * idyx_.to_cpp_int() - idy * i1_.to_cpp_int(), 2 * kUnit) / Mr;
    const Real256 dgamma = st.invstd * centred;
    ChannelRef& cr = R_.channel[c];
    cr.dbeta = ref::to_double(dbeta);
    cr.dgamma = ref::to_double(dgamma);
    cr.sum_abs_dy = ref::to_double(Real256(scaled(iady_.to_cpp_int(), kUnit)));
    if (p_.affine) {
      ref::put(R_.dbeta, c, dbeta);
      ref::put(R_.dgamma, c, dgamma);
    }
    // sum |dy xhat|, a budget magnitude: sum |dy 2^-kg (x 2^-k - mean 2^-k)| in double
    // (~M 2^-53), times r 2^(k + kg) at 256 bits.
    const int k = kFloat ? 0 : x_emax_ - 1023, kg = kFloat ? 0 : g_emax_ - 1023;
    const Real256 mean_s = ldexp(st.mean, -k);
    const double mh = ref::to_double(mean_s), ml = ref::to_double(Real256(mean_s - Real256(mh)));
    const double part = sum_abs_dy_xhat(mh, ml, 1, -k, -kg);
    if (!std::isfinite(part)) return slow_channel(c);
    const double sadx = ref::to_double(Real256(ldexp(Real256(part) * st.invstd, k + kg)));
    const Real256 Cc = A * st.invstd * dgamma / Mr, Cm = Cc * st.mean, Ad = A * dbeta / Mr, K = Cm - Ad;
    int ea = 0, ec = 0;
    const Approx As = factor_of(A, &ea), Cs = factor_of(Cc, &ec);
    backward_elements(c, w, As, ea, Cs, ec, approx_of(K, magnitude(Cm, Ad)));
    cr.sum_abs_dy_xhat = sadx;
  }
  // A 256-bit value as an Approx: its nearest double-double, with a bound that covers
  // that rounding (2^-106; 2^-1074 where the low part is subnormal: within the tiers'
  // absolute term), the value's own 256-bit roundings (a few 2^-256) with room, and
  // `absolute` (the roundings of a sum whose terms were larger than it).
  static Approx approx_of(const Real256& v, double absolute) {
    const double h = ref::to_double(v), l = ref::to_double(Real256(v - Real256(h)));
    return {h, l, (0x1p-100 * std::fabs(h) + absolute) * (1 + 0x1p-40)};
  }
  // A 256-bit factor as Approx times 2^e, the Approx in [1/2, 1) (any factor, however
  // small or large, keeps its full relative accuracy).
  static Approx factor_of(const Real256& v, int* e) {
    *e = 0;
    if (v == 0) return Approx(0.0);
    (void)frexp(v, e);
    return approx_of(Real256(ldexp(v, -*e)), 0);
  }
  // F 2^n, exact where the result's parts are normal doubles; a bound that underflows is
  // rounded up to 2^-1000.
  static Approx scaled_by(const Approx& F, int n) {
    double e = std::ldexp(F.e, n);
    if (F.e != 0 && e < 0x1p-1000) e = 0x1p-1000;
    return Approx(std::ldexp(F.h, n), std::ldexp(F.l, n), e);
  }
  // The rounding bound of a 256-bit difference a - b, 2^-250 (|a| + |b|), as a double.
  static double magnitude(const Real256& a, const Real256& b) {
    return 0x1p-250 * (std::fabs(ref::to_double(a)) + std::fabs(ref::to_double(b)));
  }
  static double magnitude(double a, const Real256& b) { return magnitude(Real256(a), b); }
  // sum |dy 2^gk ((x 2^xk - mh) - ml) r|, four partial sums in a fixed order (~M 2^-53).
  double sum_abs_dy_xhat(double mh, double ml, double r, int xk, int gk) const {
    double part[4] = {0, 0, 0, 0};
    for (size_t k = 0; k < xs_.size(); ++k) {
      const double x = xk ? std::ldexp(static_cast<double>(xs_[k]), xk) : static_cast<double>(xs_[k]);
      const double g = gk ? std::ldexp(static_cast<double>(dys_[k]), gk) : static_cast<double>(dys_[k]);
      part[k & 3] += std::fabs(g * (((x - mh) - ml) * r));
    }
    return (part[0] + part[1]) + (part[2] + part[3]);
  }

  // var + eps = 0 exactly in training: eps = 0 and every x the same. The statistics at
  // 256 bits from the exact sums, as the slow path has them (r infinite, or 0 by the
  // declared convention); y is one value for the whole channel, evaluated once at 256
  // bits as the slow path evaluates each element, and copied with its marks.
  void constant_forward(int64_t c, const ChannelWalk& w) {
    const int64_t M = p_.reduction_size();
    const ref::Stats<Real256>& st = stats256();
    const Real256 sum_abs = scaled(iax_.to_cpp_int(), kUnit);
    const Real256 mean_sq = scaled(i2_.to_cpp_int(), 2 * kUnit) / Real256(static_cast<double>(M));
    const bool singular = ref::record_channel_statistics(p_, conv_, c, st, sum_abs, mean_sq, R_);
    ref::running_statistics(p_, conv_, d_, c, st, R_);
    const double g = ref::gamma_of(p_, d_, c), b = ref::beta_of(p_, d_, c);
    RefTensor& y = R_.y;
    const size_t i0 = w.base;
    ref::put(y, i0, Real256(g) * ref::xhat(Real256(xs_[0]), st) + Real256(b));
    const uint64_t bits = y.rounded[i0];
    const double hi = y.hi[i0], lo = y.lo_at(i0);
    w.each([&](size_t, size_t i) {
      y.rounded.set(i, bits);
      y.hi[i] = hi;
      if (!y.lo.empty()) y.lo[i] = lo;
      if (singular) y.mark(i, RefTensor::kAnyValue);
    });
    path_.elements_slow += 1;
    path_.elements_fast += static_cast<uint64_t>(w.N * w.S) - 1;
  }

  // How a product term F v of an elementwise output enters the tiers, whose Dekker
  // product is exact for F and v within Format::usable's range (error-model.md): as it
  // is where they are; for f64 data, as (F 2^k)(v 2^-k), exact scalings with v copied
  // into `copy`, where one k brings both within range; otherwise the term is dropped
  // (F = 0) and its largest size |F| v_max joins the bound of the constant, e_K. The
  // rounding test then decides whether that bound is small enough. False where no
  // finite bound results.
  // F stands for F 2^fexp; on return F is the factor the tiers use (or 0).
  bool place(Approx& F, int fexp, const In*& v, double& vmax, int lo, int hi, std::vector<In>& copy, double& eK) const {
    if (ref::exact_zero(F)) return true;
    if (!std::isfinite(F.h) || !std::isfinite(F.l) || !std::isfinite(F.e) || std::fabs(F.h) < 0x1p-1000) return false;
    if (vmax == 0) {
      F = Approx(0.0);
      return true;
    }
    const int ef = ref::dd::exponent(F.h) + fexp;
    const bool values_ok = kFloat || lo > hi || (lo >= -400 && hi < 400);
    if (values_ok && ef > -800 && ef < 800) {
      if (const Approx G = scaled_by(F, fexp); F::usable(G)) {
        F = G;
        return true;
      }
    }
    if constexpr (!kFloat) {
      const int kmin = std::max(hi - 399, -400 - ef), kmax = std::min(lo + 400, 399 - ef);
      if (kmin <= kmax) {
        const int k = kmin;
        copy.resize(xs_.size());
        for (size_t i = 0; i < copy.size(); ++i) copy[i] = std::ldexp(v[i], -k);  // exact: into [2^-400, 2^400)
        v = copy.data();
        vmax = std::ldexp(vmax, -k);
        F = scaled_by(F, fexp + k);
        return F::usable(F);
      }
    }
    eK += std::ldexp((std::fabs(F.h) + std::fabs(F.l) + F.e) * vmax * (1 + 0x1p-40), fexp);
    F = Approx(0.0);
    return std::isfinite(eK);
  }

  // The 256-bit statistics, for the elements the rounding test leaves undecided.
  const ref::Stats<Real256>& stats256() {
    if (!st256_) st256_ = stats_256(i1_.to_cpp_int(), i2_.to_cpp_int(), kUnit, p_.reduction_size(), p_.eps, conv_);
    return *st256_;
  }

  // y = A x + K, A = gamma r, K = beta - A mean.
  void forward(int64_t c, const ChannelWalk& w, const ref::Stats<Approx>& st) {
    ref::running_statistics(p_, conv_, d_, c, st, R_);
    if (ref::undecided) return exact_statistics(c, w);
    const double g = ref::gamma_of(p_, d_, c), b = ref::beta_of(p_, d_, c);
    const Approx A = Approx(g) * st.invstd, K = Approx(b) - A * st.mean;
    if (ref::undecided) return exact_statistics(c, w);
    forward_elements(c, w, A, 0, K);
  }
  // The elements y = (A 2^ea) x + K.
  void forward_elements(int64_t c, const ChannelWalk& w, Approx A, int ea, Approx K) {
    const In* x = xs_.data();
    double xm = xmax();
    const bool fast = finite(K) && place(A, ea, x, xm, x_lo_, x_hi_, x_scaled_, K.e);
    fast_pass(w, R_.y, fast, affine_terms(A, K, x, xm), pending_);
    const double g = ref::gamma_of(p_, d_, c), b = ref::beta_of(p_, d_, c);
    for (const Pending& e : pending_)
      ref::put(R_.y, e.i, Real256(g) * ref::xhat(Real256(xs_[e.k]), stats256()) + Real256(b));
    count(w.N * w.S);
  }
  // decided: elements of pending_ decided after all (exact zeros).
  void count(int64_t M, size_t decided = 0) {
    path_.elements_slow += pending_.size() - decided;
    path_.elements_fast += static_cast<uint64_t>(M) - (pending_.size() - decided);
  }
  static void put_zero(RefTensor& t, size_t i) {
    t.rounded.set(i, 0);
    t.hi[i] = 0;
    if (!t.lo.empty()) t.lo[i] = 0;
  }

  // Whether dx = gamma r / M (M dy - S_dy - xhat dgamma) is exactly zero, the one value
  // the rounding test cannot decide (M = 1 and M = 2 with eps = 0 make every dx zero).
  // In the units of the exact sums, with D = M Q - S^2 + eps M^2 (M^2 (var + eps)) and
  // P = M S_dyx - S_dy S (M sum dy (x - mean)), xhat dgamma = (M x - S) P / D: zero
  // exactly when gamma = 0 or (M dy - S_dy) D = (M x - S) P, in integers. eps must be a
  // whole number of the squared unit (else: not decided here).
  bool dx_is_zero(int64_t c, double x, double dy) {
    if (ref::gamma_of(p_, d_, c) == 0) return true;
    if (!zero_test_) {
      ZeroTest z;
      const cpp_int M(p_.reduction_size()), S = i1_.to_cpp_int();
      z.S = S;
      z.Sdy = idy_.to_cpp_int();
      z.P = M * idyx_.to_cpp_int() - z.Sdy * S;
      int ee = 0;
      const double em = std::frexp(p_.eps, &ee);  // eps = em 2^ee, em in [1/2, 1)
      const cpp_int eps_int(std::ldexp(em, 53));  // eps = eps_int 2^(ee - 53)
      const int shift = ee - 53 - 2 * kUnit;      // eps in units 2^(2 kUnit)
      z.usable = shift >= 0 || p_.eps == 0;
      if (z.usable) z.D = M * i2_.to_cpp_int() - S * S + (p_.eps == 0 ? cpp_int(0) : cpp_int(eps_int << shift) * M * M);
      zero_test_ = z;
    }
    const ZeroTest& z = *zero_test_;
    if (!z.usable) return false;
    const cpp_int M(p_.reduction_size());
    return (M * unit_integer(dy) - z.Sdy) * z.D == (M * unit_integer(x) - z.S) * z.P;
  }
  // A value of the data as an integer in units 2^kUnit.
  static cpp_int unit_integer(double v) {
    const ref::FloatParts a = kFloat ? ref::f32_parts(static_cast<float>(v)) : ref::f64_parts(v);
    cpp_int m(a.m);
    return m << a.e;  // m 2^(e + kUnit): field e is the exponent above the unit
  }
  struct ZeroTest {
    cpp_int S, Sdy, P, D;
    bool usable = false;
  };
  std::optional<ZeroTest> zero_test_;

  // dbeta = S_dy, dgamma = r (S_dyx - mean S_dy) with the numerator M S_dyx - S_dy S_x
  // an exact integer (units 2^(2 kUnit)); dx = A dy - Cc x + K, A = gamma r,
  // Cc = A r dgamma / M, K = Cc mean - A dbeta / M.
  void backward(int64_t c, const ChannelWalk& w, const ref::Stats<Approx>& st) {
    const int64_t M = p_.reduction_size();
    const Approx Ma(static_cast<double>(M));
    Sum a, b;
    if (!mul(Sum(static_cast<uint64_t>(M)), idyx_, &a) || !mul(idy_, i1_, &b)) return slow_channel(c);
    const Approx dbeta = idy_.to_approx(kUnit);
    const Approx centred = (a - b).to_approx(2 * kUnit) / Ma;  // sum dy (x - mean)
    const Approx dgamma = st.invstd * centred;
    ChannelRef& cr = R_.channel[c];
    cr.dbeta = ref::to_double(dbeta);
    cr.dgamma = ref::to_double(dgamma);
    cr.sum_abs_dy = ref::to_double(iady_.to_approx(kUnit));
    if (p_.affine) {
      ref::put(R_.dbeta, c, dbeta);
      ref::put(R_.dgamma, c, dgamma);
    }
    const double g = ref::gamma_of(p_, d_, c);
    const Approx A = Approx(g) * st.invstd, Cc = A * st.invstd * dgamma / Ma;
    const Approx K = Cc * st.mean - A * dbeta / Ma;
    if (ref::undecided) return exact_statistics(c, w);
    backward_elements(c, w, A, 0, Cc, 0, K);
    // sum |dy xhat|, a magnitude for the budget: to ~M 2^-53.
    cr.sum_abs_dy_xhat = sum_abs_dy_xhat(st.mean.h, st.mean.l, st.invstd.h, 0, 0);
  }
  // The elements dx = (A 2^ea) dy - (Cc 2^ec) x + K.
  void backward_elements(int64_t c, const ChannelWalk& w, Approx A, int ea, Approx Cc, int ec, Approx K) {
    const In *x = xs_.data(), *dy = dys_.data();
    double xm = xmax(), gm = gmax();
    const bool fast = finite(K) && place(A, ea, dy, gm, g_lo_, g_hi_, dy_scaled_, K.e) &&
                      place(Cc, ec, x, xm, x_lo_, x_hi_, x_scaled_, K.e);
    Terms<In> T;
    T.A = Factor(DD{A.h, A.l});
    T.C = Factor(DD{Cc.h, Cc.l});
    T.K = DD{K.h, K.l};
    T.eA = A.e * kUp;
    T.eC = Cc.e * kUp;
    T.eK = K.e * kUp + kTiny;
    T.x = x;
    T.dy = dy;
    T.backward = true;
    T.set_fma_rest(xm, gm);
    fast_pass(w, R_.dx, fast, T, pending_);
    size_t zeros = 0;
    for (const Pending& e : pending_) {
      if (dx_is_zero(c, xs_[e.k], dys_[e.k])) {
        put_zero(R_.dx, e.i);
        ++zeros;
      } else {
        slow_dx(c, e.i, xs_[e.k], dys_[e.k]);
      }
    }
    count(w.N * w.S, zeros);
  }
  void slow_dx(int64_t c, size_t i, double x, double dy) {
    const ref::Stats<Real256>& s = stats256();
    const Real256 Mr(static_cast<double>(p_.reduction_size()));
    if (!dx256_) {
      const cpp_int idy_i = idy_.to_cpp_int();
      const Real256 centred =
          scaled(cpp_int(p_.reduction_size()) * idyx_.to_cpp_int() - idy_i * i1_.to_cpp_int(), 2 * kUnit) / Mr;
      dx256_ = Dx256{Real256(ref::gamma_of(p_, d_, c)) * s.invstd / Mr, scaled(idy_i, kUnit), s.invstd * centred};
    }
    ref::put(R_.dx, i, dx256_->scale * (Mr * Real256(dy) - dx256_->dbeta - ref::xhat(Real256(x), s) * dx256_->dgamma));
  }

  // y = A x + K, A = gamma r, K = beta - A rm, r = 1 / sqrt(rv + eps).
  void inference(int64_t c) {
    const double g = ref::gamma_of(p_, d_, c), b = ref::beta_of(p_, d_, c), rm = d_.running_mean.get(c),
                 rv = d_.running_var.get(c);
    if (!std::isfinite(rm) || !std::isfinite(rv) || !(rv + p_.eps > 0)) {
      if (streamed()) return refuse(c);
      ref::inference_channel<Real256>(p_, d_, c, R_);  // special values, r infinite
      path_.channels_slow++;
      path_.elements_slow += static_cast<uint64_t>(p_.reduction_size());
      return;
    }
    ref::undecided = false;
    const Approx r = Approx(1.0) / sqrt(Approx(rv) + Approx(p_.eps));
    ref::inference_channel_ref(d_, c, r, false, R_);
    const Approx A = Approx(g) * r, K = Approx(b) - A * Approx(rm);
    if (ref::undecided || !F::usable(A) || !finite(K)) {
      if (streamed()) return refuse(c);
      ref::inference_channel<Real256>(p_, d_, c, R_);
      path_.channels_slow++;
      path_.elements_slow += static_cast<uint64_t>(p_.reduction_size());
      return;
    }
    const ChannelWalk w(p_, c, n0_, rows_);
    // Each element on its own: a non-finite x fails every tier's rounding test (its y is
    // not finite) and goes to 256 bits alone, with the slow path's IEEE semantics.
    (void)gather_floats(w, d_.x, xs_);
    double xm = 0, xmin = HUGE_VAL;  // the largest finite |x|, the smallest nonzero |x|
    for (const In v : xs_) {
      const double a = std::fabs(static_cast<double>(v));
      if (a < HUGE_VAL) xm = std::max(xm, a);
      if (a != 0) xmin = std::min(xmin, a);
    }
    const bool in_range = kFloat || xm == 0 || (xmin >= 0x1p-400 && xm < 0x1p400);
    fast_pass(w, R_.y, in_range, affine_terms(A, K, xs_.data(), xm), pending_);
    if (!pending_.empty()) {
      bool r_inf = false;
      const Real256 r256 = ref::inference_invstd<Real256>(p_, d_, c, &r_inf);
      for (const Pending& e : pending_) ref::inference_element(p_, xs_[e.k], e.i, g, b, rm, rv, r256, false, R_);
    }
    count(w.N * w.S);
  }

  struct Dx256 {
    Real256 scale, dbeta, dgamma;
  };

  const Problem& p_;
  const Conventions& conv_;
  const CaseData& d_;
  Reference& R_;
  ReferencePath path_;
  std::vector<In> xs_, dys_;
  std::vector<Pending> pending_;
  std::conditional_t<kFloat, FloatBins, DoubleBins> bins_;
  Sum i1_, i2_, iax_, idy_, iady_, idyx_;  // the channel's exact sums: x, x^2, |x|, dy, |dy|, dy x
  int x_emax_ = 1, g_emax_ = 1;            // the largest exponent fields of x and dy
  // f64 data: the binary exponents (ilogb) of the smallest and largest nonzero |x| and
  // |dy| (lo > hi: none), and copies of x, dy scaled into the tiers' range (place()).
  int x_lo_ = 0, x_hi_ = -1, g_lo_ = 0, g_hi_ = -1;
  std::vector<In> x_scaled_, dy_scaled_;
  double xmax() const { return F::bound(x_emax_); }
  double gmax() const { return F::bound(g_emax_); }
  std::optional<ref::Stats<Real256>> st256_;
  std::optional<Dx256> dx256_;
  int64_t n0_ = 0, rows_ = -1;  // the rows of a streamed reference (rows_ < 0: the whole tensor)
  const std::vector<ref::ChannelSums<Sum>>* sums_ = nullptr;
  int64_t refused_ = -1;
};

// Every output of R.
std::vector<RefTensor*> outputs(Reference& R) {
  return {&R.y, &R.save_mean, &R.save_stat, &R.running_mean, &R.running_var, &R.dx, &R.dgamma, &R.dbeta};
}

std::atomic<int> g_threads{0};

// The rounding tests read the hardware's conversions and arithmetic: round to nearest,
// subnormals neither flushed nor read as zero, whatever mode a backend left behind. Set
// for the calling thread while it lives, the caller's mode restored after.
class DefaultFloatingPointMode {
 public:
  DefaultFloatingPointMode() : saved_(_mm_getcsr()) { _mm_setcsr(0x1f80); }  // every exception masked, no FTZ/DAZ
  ~DefaultFloatingPointMode() { _mm_setcsr(saved_); }
  DefaultFloatingPointMode(const DefaultFloatingPointMode&) = delete;
  DefaultFloatingPointMode& operator=(const DefaultFloatingPointMode&) = delete;

 private:
  unsigned saved_;
};

}  // namespace

void set_reference_threads(int n) { g_threads = std::max(0, n); }
int reference_threads() {
  const int n = g_threads;
  return n > 0 ? n : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

namespace {

// The channels of p on `threads` workers (channels taken in turn from a shared counter):
// body(worker, c) for each, the workers' path counts added into R. Returns the lowest
// channel a streamed worker refused (-1: none).
template <class In, class Body>
int64_t run_channels(const Problem& p, const Conventions& conv, const CaseData& d, int threads, Reference& R,
                     Body body) {
  std::atomic<int64_t> next{0};
  std::vector<std::unique_ptr<ChannelWorker<In>>> workers;  // on the heap: the f64 bins take 256 KiB
  workers.reserve(static_cast<size_t>(threads));
  for (int k = 0; k < threads; ++k) workers.push_back(std::make_unique<ChannelWorker<In>>(p, conv, d, R));
  auto work = [&](ChannelWorker<In>& w) {
    const DefaultFloatingPointMode mode;
    for (int64_t c = next++; c < p.c; c = next++) body(w, c);
  };
  std::vector<std::thread> pool;
  for (int k = 1; k < threads; ++k) pool.emplace_back(work, std::ref(*workers[static_cast<size_t>(k)]));
  work(*workers[0]);
  for (std::thread& t : pool) t.join();
  int64_t refused = -1;
  for (const auto& w : workers) {
    R.path.elements_fast += w->path().elements_fast;
    R.path.elements_slow += w->path().elements_slow;
    R.path.channels_slow += w->path().channels_slow;
    R.path.channels_exact_statistics += w->path().channels_exact_statistics;
    if (const int64_t c = w->refused_channel(); c >= 0 && (refused < 0 || c < refused)) refused = c;
  }
  return refused;
}

// Threads only where they pay for their start: many elements and several channels.
int threads_for(const Problem& p) {
  return p.elements() >= (int64_t{1} << 16) ? static_cast<int>(std::min<int64_t>(reference_threads(), p.c)) : 1;
}

// body(worker, c) for every channel into R, whose outputs are those of a problem of the
// shape of `shape`. Where several workers write, the per-channel outputs' marks are
// allocated first (a worker reads and clears its channel's marks while another may
// mark its own: exact_statistics) and dropped again where all zero; the elementwise
// outputs' marks are allocated by their first mark (RefTensor::mark).
template <class In, class Body>
int64_t fill_reference(const Problem& p, const Conventions& conv, const CaseData& d, const Problem& shape, Reference& R,
                       Body body) {
  ref::init_outputs(shape, R);
  const int threads = threads_for(shape);
  auto per_channel = [&R](const RefTensor* t) { return t != &R.y && t != &R.dx; };
  if (threads > 1)
    for (RefTensor* t : outputs(R))
      if (!t->empty() && per_channel(t)) t->any_nonfinite.assign(t->size(), 0);
  const int64_t refused = run_channels<In>(p, conv, d, threads, R, body);
  if (threads > 1)
    for (RefTensor* t : outputs(R))
      if (per_channel(t) &&
          std::all_of(t->any_nonfinite.begin(), t->any_nonfinite.end(), [](uint8_t m) { return m == 0; }))
        std::vector<uint8_t>().swap(t->any_nonfinite);
  return refused;
}

}  // namespace

Reference compute_reference_fast(const Problem& given, const Conventions& conv, const CaseData& d) {
  Problem p = given;
  p.eps = effective_eps(given.eps, conv);  // a backend's float epsilon, when declared
  Reference R;
  auto each = [](auto& w, int64_t c) { w.channel(c); };
  if (p.dtype == Dtype::f64)
    fill_reference<double>(p, conv, d, p, R, each);
  else
    fill_reference<float>(p, conv, d, p, R, each);
  return R;
}

struct RowReference::Impl {
  Problem p;  // eps the effective one
  Conventions conv;
  const CaseData& d;
  int64_t rows_per_pass = 1;
  std::vector<ref::ChannelSums<ref::Big>> float_sums;       // training, f32/f16/bf16 data
  std::vector<ref::ChannelSums<ref::WideBig>> double_sums;  // training, f64 data
  Impl(const Problem& p_, const Conventions& c, const CaseData& d_) : p(p_), conv(c), d(d_) {}

  template <class In>
  auto& sums() {
    if constexpr (std::is_same_v<In, float>)
      return float_sums;
    else
      return double_sums;
  }
  // The first pass: every channel's sums, a block of rows at a time.
  template <class In>
  void first_pass() {
    auto& all = sums<In>();
    all.assign(static_cast<size_t>(p.c), {});
    Reference unused;  // the first pass writes nothing into it
    const int64_t refused = run_channels<In>(p, conv, d, threads_for(p), unused, [&](ChannelWorker<In>& w, int64_t c) {
      for (int64_t n0 = 0; n0 < p.n; n0 += rows_per_pass)
        w.add_sums(c, n0, std::min(rows_per_pass, p.n - n0), all[static_cast<size_t>(c)]);
    });
    (void)refused;  // the first pass refuses nothing: non-finite values are marked in the sums
  }
  template <class In>
  Reference rows(int64_t n0, int64_t n1) {
    Problem shape = p;
    shape.n = n1 - n0;
    Reference R;
    const auto* s = p.dir == Direction::fwd_train ? &sums<In>() : nullptr;
    const int64_t refused = fill_reference<In>(p, conv, d, shape, R, [&](ChannelWorker<In>& w, int64_t c) {
      w.set_rows(n0, n1 - n0, s);
      w.channel(c);
    });
    if (refused >= 0)
      throw std::runtime_error("channel " + std::to_string(refused) +
                               " needs the 256-bit path over the whole channel (a non-finite value, var + eps = 0, "
                               "or statistics beyond the double-double bounds), which a streamed check does not take");
    return R;
  }
};

RowReference::RowReference(const Problem& given, const Conventions& conv, const CaseData& d, int64_t rows_per_pass)
    : impl_(std::make_unique<Impl>(given, conv, d)) {
  if (given.dir == Direction::bwd)
    throw std::invalid_argument("a streamed check takes the forward directions only (backward: the whole tensor)");
  Impl& m = *impl_;
  m.p.eps = effective_eps(given.eps, conv);
  m.rows_per_pass = std::max<int64_t>(1, rows_per_pass);
  if (m.p.dir != Direction::fwd_train) return;  // inference has no statistics to gather
  if (m.p.dtype == Dtype::f64)
    m.first_pass<double>();
  else
    m.first_pass<float>();
}
RowReference::~RowReference() = default;

Reference RowReference::rows(int64_t n0, int64_t n1) const {
  if (n0 < 0 || n1 <= n0 || n1 > impl_->p.n) throw std::invalid_argument("RowReference::rows: rows out of range");
  return impl_->p.dtype == Dtype::f64 ? impl_->rows<double>(n0, n1) : impl_->rows<float>(n0, n1);
}

}  // namespace bncheck
