// splitmix64's finaliser (Steele, Lea & Flood 2014): the one mixing function behind
// every deterministic stream in bncheck (data fills, fuzz cases, property cases).
#pragma once

#include <cstdint>

namespace bncheck {

constexpr uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace bncheck
