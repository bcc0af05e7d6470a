// Runs a property over generated cases, deterministically from a seed, and shrinks a
// failure to a minimal problem (RapidCheck's shrink trees).
#pragma once

#include <map>
#include <string>

#include "properties/properties.hpp"

namespace bncheck::props {

struct Campaign {
  int cases = 0, applicable = 0;
  bool failed = false;
  Problem minimal;      // the shrunk failing problem
  uint64_t aux = 0;     // its auxiliary seed
  std::string message;  // the property's message on the minimal problem
  int shrink_steps = 0;
  std::map<std::string, int> notes;  // note -> number of cases that reported it
};

// Runs `cases` generated cases (generator size growing from 0 to 100), stopping at the
// first failure, which it shrinks.
Campaign run_property(const Property& prop, Backend* b, int cases, uint64_t seed);

}  // namespace bncheck::props
