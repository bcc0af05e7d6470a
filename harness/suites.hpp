// Suites: lists of problem descriptors kept as data files (inputs/suites/*.txt),
// embedded in the binary at build time. A line may hold {a|b|...} alternatives,
// expanded to their cross product; '#' starts a comment.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bncheck/problem.hpp"
#include "bncheck/runner.hpp"

namespace bncheck {

struct SuiteInfo {
  std::string name;
  std::string text;
};
const std::vector<SuiteInfo>& builtin_suites();

// Expands {a|b} groups: "n=1,dt={f32|f16}" -> {"n=1,dt=f32", "n=1,dt=f16"}.
std::vector<std::string> expand_alternatives(const std::string& line);

// Parses a suite's text; lines without seed= take `seed`. Throws DescriptorError
// with origin:line prefixed.
std::vector<Problem> parse_suite(const std::string& text, const std::string& origin, uint64_t seed);

// load_suite (a built-in suite by name, or a file by path) is public: bncheck/runner.hpp.

// Known failures (inputs/baselines/known-failures.baseline): a backend and a pattern —
// key=value tokens that a problem's canonical descriptor must all contain, plus
// rank=N for the number of spatial dimensions — to the finding that documents them.
struct Baseline {
  struct Entry {
    std::string backend, problem, finding;
    bool seen = false, failed = false;
  };
  std::vector<Entry> entries;
  Entry* find(const std::string& backend, const Problem& p);
};
const char* builtin_baseline();
Baseline parse_baseline(const std::string& text, const std::string& origin);

}  // namespace bncheck
