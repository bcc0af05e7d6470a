// Fuzz campaigns: generated cases on backends, deterministic from a seed, shardable,
// with failures minimised to the smallest shape and simplest data that still fail.
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bncheck/backend.hpp"
#include "fuzz/generator.hpp"
#include "harness/check.hpp"
#include "harness/report.hpp"
#include "harness/suites.hpp"

namespace bncheck::fuzz {

// Restrictions of the draws (`--dir`, `--dt`, `--layout`): a drawn value outside a
// non-empty list is replaced by one of the list, chosen from the case index, so case
// i stays a pure function of (seed, i, filter). Minimisation keeps to them too.
struct Filter {
  std::vector<Direction> dirs;
  std::vector<Dtype> dtypes;  // of the data; parameters are f64 for f64 data, else f32
  std::vector<Layout> layouts;
  bool empty() const { return dirs.empty() && dtypes.empty() && layouts.empty(); }
  Problem apply(Problem p, uint64_t i) const;
};

struct Options {
  uint64_t seed = 1;
  int64_t cases = -1;         // run case indices [0, cases) (with --seconds: until either ends)
  double seconds = -1;        // wall-clock bound, minimisation included
  int shard = 0, shards = 1;  // run the indices i with i % shards == shard
  Limits limits;
  double max_bytes = 0;            // memory for one case (0: 80% of available)
  std::string save_failures;       // directory for the failing (minimised) cases
  std::string append_regressions;  // file to append minimised failures to
  std::string argv0 = "bncheck";
  bool progress_tty = false;  // live progress line (else a plain line every 10 s)
  bool quiet = false;         // no progress lines at all
  int minimize_budget = 80;   // evaluations spent minimising one failure
  // With --seconds, the share of it one failure's minimisation may take (never past
  // the end): a minimisation cut short keeps its smallest failing problem so far.
  double minimize_share = 0.25;
  Filter filter;
  bool keep_results = false;  // keep every case's result (for --json and --junit)
};

struct Failure {
  std::string backend;
  Problem original, minimal;
  Verdict verdict = Verdict::fail;
  std::string message, repro, known;  // known: the baseline finding, if any
  int minimize_steps = 0;
  bool minimize_cut = false;  // stopped by the time bound, not by running out of simpler failing problems
};

struct Summary {
  int64_t cases = 0, skipped = 0;
  double seconds = 0;
  std::map<std::string, std::map<Verdict, int64_t>> verdicts;  // per backend
  std::vector<Failure> failures;
  std::vector<report::CaseResult> results;  // every case x backend, when Options::keep_results
};

// The indices a campaign (or one of its shards) runs, when bounded by cases.
std::vector<uint64_t> case_indices(const Options& o);

Summary run_campaign(const Options& o, const std::vector<Backend*>& backends, Baseline& baseline, std::FILE* out);

// The smallest problem (shape first, then data and settings) on which b still fails,
// keeping to the filter, spending at most `budget` evaluations and stopping at the
// steady-clock time `deadline_s` (< 0: none); *cut says whether it stopped there.
Problem minimize(Backend& b, const Problem& p, int budget, int* steps, std::string* message, const Filter& filter = {},
                 double deadline_s = -1, bool* cut = nullptr);

// The steady clock, in seconds (the campaign's and the minimisation's deadlines).
double now_seconds();

}  // namespace bncheck::fuzz
