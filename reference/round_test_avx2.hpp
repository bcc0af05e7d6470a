// The rounding test of the fast reference's first elementwise tier, four doubles at a
// time (AVX2, FMA and F16C; callers check have_avx2_tier() first). Given values y and
// bounds err with |exact - y| <= err, it decides which of them round to one value of
// an f32, f16 or bf16 output whatever the exact value is, and gives that value's bits.
//
// The test (docs/error-model.md, "Elementwise outputs"): with a = |y| and
// e2 = err + 2^-51 a (one rounding), lo = a - e2 and hi = a + e2 (one rounding each)
// enclose [a - err, a + err] whenever err <= 2^-45 a and a is a normal double above
// 2^-900: each rounding moves its result by at most 2^-53 of it, which the 2^-51 a
// term covers with room. Rounding to nearest is monotone, so when lo and hi round to
// the same value t of the format, every real between them does too, and t is the
// correct rounding of the exact value. t = 0 and the largest finite value (with
// everything beyond) are left undecided, as the scalar test leaves them.
//
// round_to_format4 rounds a positive double to the format's precision and range,
// ties to even, as a double: in the normal range by adding the half-spacing less one
// (plus the kept last bit) to the double's bits and clearing the dropped bits (a
// carry runs into the exponent, as it should); below the smallest normal of the
// format by adding and subtracting 2^(e_sub + 52), whose double spacing is the
// format's subnormal spacing 2^e_sub.
//
// Both need the processor's default floating-point mode (round to nearest, no flush
// of subnormals to zero, no denormals-are-zero): compute_reference_fast sets it.
#pragma once

#include <cpuid.h>
#include <immintrin.h>

#include <cstdint>

#include "bncheck/dtype.hpp"

#define BNCHECK_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace bncheck::ref::dd {

inline bool have_f16c() {  // CPUID leaf 1, ECX bit 29 (not every compiler's cpu_supports knows it)
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
}
inline bool have_avx2_tier() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && have_f16c();
  return yes;
}

// A format's significand bits dropped from a double's 52, its smallest normal, the
// adder whose double spacing is its subnormal spacing, and its largest finite value.
template <Dtype DT>
struct NarrowFormat;
template <>
struct NarrowFormat<Dtype::f32> {
  static constexpr int kDrop = 29;
  static constexpr double kTiny = 0x1p-126, kMagic = 0x1p-97, kMax = 0x1.fffffep127;
};
template <>
struct NarrowFormat<Dtype::f16> {
  static constexpr int kDrop = 42;
  static constexpr double kTiny = 0x1p-14, kMagic = 0x1p28, kMax = 65504.0;
};
template <>
struct NarrowFormat<Dtype::bf16> {
  static constexpr int kDrop = 45;
  static constexpr double kTiny = 0x1p-126, kMagic = 0x1p-81, kMax = 0x1.fep127;
};

// Positive finite doubles a rounded to DT (ties to even), as doubles; values at or
// beyond the largest finite value are not handled (the caller compares to kMax).
template <Dtype DT>
BNCHECK_AVX2 inline __m256d round_to_format4(__m256d a) {
  using F = NarrowFormat<DT>;
  const __m256i b = _mm256_castpd_si256(a);
  const __m256i last = _mm256_and_si256(_mm256_srli_epi64(b, F::kDrop), _mm256_set1_epi64x(1));
  const __m256i up =
      _mm256_add_epi64(_mm256_add_epi64(b, _mm256_set1_epi64x((int64_t{1} << (F::kDrop - 1)) - 1)), last);
  const __m256d normal = _mm256_castsi256_pd(_mm256_andnot_si256(_mm256_set1_epi64x((int64_t{1} << F::kDrop) - 1), up));
  const __m256d magic = _mm256_set1_pd(F::kMagic);
  const __m256d sub = _mm256_sub_pd(_mm256_add_pd(a, magic), magic);
  return _mm256_blendv_pd(normal, sub, _mm256_cmp_pd(a, _mm256_set1_pd(F::kTiny), _CMP_LT_OQ));
}

// The lanes of y (each within err of its exact value) whose rounding to DT the bound
// decides, as a 4-bit mask; their bits in the 32-bit lanes of *bits (the other lanes
// hold garbage).
template <Dtype DT>
BNCHECK_AVX2 inline int round_test4(__m256d y, __m256d err, __m128i* bits) {
  using F = NarrowFormat<DT>;
  const __m256d sign = _mm256_set1_pd(-0.0);
  const __m256d a = _mm256_andnot_pd(sign, y);
  const __m256d e2 = _mm256_fmadd_pd(a, _mm256_set1_pd(0x1p-51), err);
  const __m256d rlo = round_to_format4<DT>(_mm256_sub_pd(a, e2)), rhi = round_to_format4<DT>(_mm256_add_pd(a, e2));
  const __m256d same = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_castpd_si256(rlo), _mm256_castpd_si256(rhi)));
  __m256d ok = _mm256_and_pd(same, _mm256_cmp_pd(rlo, _mm256_setzero_pd(), _CMP_GT_OQ));
  ok = _mm256_and_pd(ok, _mm256_cmp_pd(rlo, _mm256_set1_pd(F::kMax), _CMP_LT_OQ));
  ok = _mm256_and_pd(ok, _mm256_cmp_pd(a, _mm256_set1_pd(0x1p-900), _CMP_GE_OQ));
  ok = _mm256_and_pd(ok, _mm256_cmp_pd(a, _mm256_set1_pd(0x1p900), _CMP_LT_OQ));
  ok = _mm256_and_pd(ok, _mm256_cmp_pd(err, _mm256_mul_pd(a, _mm256_set1_pd(0x1p-45)), _CMP_LE_OQ));
  const __m128 f = _mm256_cvtpd_ps(_mm256_or_pd(rlo, _mm256_and_pd(y, sign)));  // exact: rlo is a value of DT
  if constexpr (DT == Dtype::f32)
    *bits = _mm_castps_si128(f);
  else if constexpr (DT == Dtype::f16)
    *bits = _mm_cvtepu16_epi32(_mm_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  else
    *bits = _mm_srli_epi32(_mm_castps_si128(f), 16);
  return _mm256_movemask_pd(ok);
}

}  // namespace bncheck::ref::dd
