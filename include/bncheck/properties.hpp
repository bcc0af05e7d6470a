// BN's invariants (the properties of `bncheck props`) as a public API: check one on any
// Backend, for a problem and an auxiliary seed. bncheck/rapidcheck.hpp runs them all as
// RapidCheck properties; this header needs no RapidCheck.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bncheck/backend.hpp"

namespace bncheck {

struct PropertyOutcome {
  bool applicable = false;  // the problem is one the property says something about
  bool holds = true;
  std::string message;  // why not, with the figures
};

// The invariants, as `bncheck props --list` names them.
std::vector<std::string> property_names();

// Property `name` on backend b (the arbitrary-precision reference when b is null) for
// problem p, with the property's direction applied to p, and the auxiliary seed aux
// (scales, shifts, permutations). Throws std::invalid_argument for an unknown name.
PropertyOutcome check_property(const std::string& name, Backend* b, const Problem& p, uint64_t aux);

// The problem the property actually runs for a generated p (its direction applied).
Problem property_problem(const std::string& name, const Problem& p);

}  // namespace bncheck
