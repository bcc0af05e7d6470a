// The libFuzzer target's input format: bytes -> a small problem and its data. Kept
// apart from the target so that a plain build (no clang) can replay committed inputs
// (bncheck_fuzz_replay) and the tests can check that a finding replays through
// `bncheck run --case DIR` to the same verdict.
//
// Input layout:
//   byte 0  n-1 (low 3 bits), layout (bit 3), affine (bit 4), dir (bits 5-6)
//   byte 1  c-1 (low 3 bits), rank (bits 3-4), dtype pair (bits 5-7)
//   byte 2-4 spatial sizes (1 + b % 6)
//   byte 5  exponent of the data's scale (b % 41 - 20); byte 6: mean/std ratio 2^(b % 24)
//   byte 7  eps choice, poison (bit 7)
//   rest    the data: 2 bytes per element (a signed 16-bit mantissa), repeated cyclically
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "harness/case_data.hpp"

namespace bncheck::fuzz {

struct BytesCase {
  Problem problem;
  CaseData data;
};

// std::nullopt for inputs too short to describe a case.
std::optional<BytesCase> case_from_bytes(const uint8_t* data, size_t size);

}  // namespace bncheck::fuzz
