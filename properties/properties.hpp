// Properties of batch normalization that need no reference value: invariants of the
// mathematics, checked on any backend (within its error budget) and on the reference
// itself (to reference precision). docs/error-model.md, "Property budgets", derives
// each tolerance.
#pragma once

#include <string>
#include <vector>

#include "bncheck/backend.hpp"

namespace bncheck::props {

struct Result {
  bool applicable = true;  // false: the case does not exercise the property (skipped)
  bool holds = true;
  std::string message;             // what failed, with the element and the numbers
  std::vector<std::string> notes;  // reported facts, e.g. "scale-exact" or "not deterministic"
  static Result skip(std::string why) {
    Result r;
    r.applicable = false;
    r.message = std::move(why);
    return r;
  }
};

// A property: checks backend b (nullptr: the reference itself) on problem p; aux
// seeds the property's own choices (scale factor, shift, permutation, ...).
struct Property {
  const char* name;
  const char* summary;
  Result (*check)(Backend* b, const Problem& p, uint64_t aux);
  // The direction the property runs a generated problem in (drivers apply it, so that
  // failures are reported as the problem actually checked).
  Direction (*direction)(Direction generated);
};

// p with the property's direction applied.
Problem effective_problem(const Property& prop, Problem p);

const std::vector<Property>& all();
const Property* find(const std::string& name);

}  // namespace bncheck::props
