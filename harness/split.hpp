// Split statistics: forward training as the ranks of distributed (synchronized) BN
// compute it, through a backend's local_stats, merge_stats and apply_stats
// (include/bncheck/backend.hpp, Problem::split).
#pragma once

#include <cstdint>
#include <vector>

#include "bncheck/backend.hpp"

namespace bncheck {

// The numerics the error budget assumes for p on b: b's own, and for a split problem
// those of statistics exchanged as doubles (at most 53 bits in accumulation and
// compute) and merged (never sums divided once: the exact-fill rule does not apply).
Numerics case_numerics(const Backend& b, const Problem& p);

// Whether b can run p: a split problem needs the split entry points.
Support split_support(const Backend& b, const Problem& p);

// A split of n samples into K = 1..64 consecutive slices, a pure function of seed, in
// one of four shapes: samples on random ranks (uneven, empty ranks when K > n); ranks
// of one sample and one rank with the rest; geometric sizes (one large rank, a tail of
// small ones); everything on one rank, the others empty.
std::vector<int64_t> draw_split(int64_t n, uint64_t seed);

// Forward training of a split problem: local statistics of each slice (empty ones
// too), one merge of all of them, then each slice normalized; the outputs land where
// forward_training's would. The first failing call's status names its slice.
Status split_forward_training(Backend& b, const Problem& p, const ForwardTrainingArgs& a);

}  // namespace bncheck
