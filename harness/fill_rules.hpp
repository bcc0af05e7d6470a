// Per-channel parameters of the fills, shared by the generator and the error model.
#pragma once

#include "bncheck/problem.hpp"

namespace bncheck {

struct ChannelFill {
  double mean = 0;    // offset of channel c
  double spread = 0;  // std, half-width or step of channel c
};

ChannelFill channel_fill(const Problem& p, int64_t c);
// Largest |mean / step| an exact fill uses for p.
double exact_fill_kmax(const Problem& p);
// True when p's fill is exact and its sums are exact in f32 (M small enough).
bool exact_fill_holds(const Problem& p);

}  // namespace bncheck
