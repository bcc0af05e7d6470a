// The fuzzer's problem generator: case i of a campaign is a pure function of
// (seed, i), so campaigns are reproducible and shard without overlap. Weighted toward
// where batch-norm bugs hide (docs/fuzzing.md): shape families (reductions over the
// batch only, a dimension at or next to 256/512/768/1024/2^16, tiny odd batches, long
// 1-D signals, per-channel counts of 1-3, at thresholds and beyond 2^24), C = 1 and C
// off the vector widths, every layout, rank and dtype pairing, and the data families.
#pragma once

#include <cstdint>
#include <string>

#include "bncheck/problem.hpp"

namespace bncheck::fuzz {

struct Limits {
  int64_t max_elements = int64_t{1} << 21;  // larger draws are shrunk (N first) to fit
  // A third of the forward-training draws with N >= 2 run as distributed BN
  // (Problem::split, of draw_split's shapes): set when a backend has split statistics.
  bool splits = false;
};

// The problem of case i, and a note when it was shrunk to fit the limits.
Problem generate(uint64_t seed, uint64_t i, const Limits& lim, std::string* note = nullptr);

}  // namespace bncheck::fuzz
