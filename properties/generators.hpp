// RapidCheck generators for problems. RapidCheck's own floating-point generator never
// yields NaN, infinities, -0, subnormals or extreme exponents, so data are not drawn
// element by element: a problem names its fill (distribution, mean/std ratio up to
// 1e4, constant and exact fills) and, at a chosen rate, a poisoned channel. Shapes are
// biased small with rare large ones; every choice shrinks towards the simplest (n = 1,
// c = 1, no spatial dimension, f32, eps = 1e-5, normal:0:1).
#pragma once

#include <rapidcheck.h>

#include "bncheck/problem.hpp"

namespace bncheck::props {

// At most this many elements: properties run many cases, each at 256 bits.
inline constexpr int64_t kMaxGeneratedElements = 4096;

rc::Gen<Problem> gen_problem();

}  // namespace bncheck::props

namespace rc {
template <>
struct Arbitrary<bncheck::Problem> {
  static Gen<bncheck::Problem> arbitrary() { return bncheck::props::gen_problem(); }
};
}  // namespace rc

namespace bncheck {
// RapidCheck prints counterexamples with this: the descriptor, a bncheck repro line.
inline void showValue(const Problem& p, std::ostream& os) { os << to_string(p); }
}  // namespace bncheck
