// Precision studies: the error of each backend against a swept parameter (the
// conditioning kappa, the reduction size M, eps, the dtype), several seeds a point,
// with fitted growth exponents, written as CSV, JSON and a self-contained HTML report
// of SVG plots (docs/precision-study.md). A study measures; the expectations of a
// preset (growth exponents from the literature) are what it checks.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "api/result.hpp"
#include "bncheck/backend.hpp"
#include "bncheck/report.hpp"
#include "bncheck/runner.hpp"

namespace bncheck::study {

enum class Param { kappa, m, eps, dtype };
const char* to_string(Param p);
// "kappa", "m", "eps", "dtype"; false when s names none of them.
bool parse_param(const std::string& s, Param* p);

// One swept parameter over values, on a base problem. kappa sets fill=normal with the
// mean sqrt(kappa^2 - 1) times the spread (channel 0's measured kappa is what is
// plotted); m sets n = M without spatial dimensions; eps sets eps; dtype takes
// the index into kDtypes (data dtype; parameters stay the base's).
struct Sweep {
  Param param = Param::kappa;
  std::vector<double> values;
  Problem base;
  std::string fit_output;  // the output whose largest relative error is plotted and fitted
};

inline constexpr Dtype kDtypes[] = {Dtype::f64, Dtype::f32, Dtype::bf16, Dtype::f16};

// An expected exponent: of the growth regime ("slope") or of the floor before it
// ("slope_floor"); see fit().
struct Expectation {
  size_t sweep = 0;
  std::string backend;
  std::string which;  // "slope" or "slope_floor"
  double want = 0, tolerance = 0.3;
  std::string why;  // the bound it comes from
};

struct Spec {
  std::string title;
  std::vector<Sweep> sweeps;
  int seeds = 3;
  std::vector<std::string> backends;  // empty: the command's --backend choice
  std::vector<Expectation> expectations;
  std::string shard;  // "I/N" when the measurements are one shard's
};

// The presets: "variance-algorithms", "dtype-ladder", "eps". False for another name.
bool preset(const std::string& name, Spec* spec);
std::vector<std::string> preset_names();

// The problem of point i of sweep s for seed k (1-based), deterministic.
Problem point_problem(const Sweep& s, size_t i, int seed);

struct OutputError {
  std::string name;
  double max_ulp = 0, median_ulp = 0, ratio = 0;  // as run reports them
  double max_rel = 0;                             // normwise relative error: largest |got - exact| / largest |exact|
  double budget_rel = 0;                          // largest budget / largest |exact|
};

struct Row {
  size_t sweep = 0, point = 0;
  int seed = 1;
  std::string backend;
  double x_nominal = 0, x = 0;  // the swept value asked for and measured (kappa of channel 0)
  Verdict verdict = Verdict::pass;
  std::string message;
  std::string problem;
  std::vector<OutputError> outputs;
  const OutputError* find(const std::string& n) const;
};

// The case directories a study over files uses: "sSS_pPPP_kK" under the root.
std::string case_name(size_t sweep, size_t point, int seed);

// Measures backend b on the case r holds (the row's sweep, point, seed and x_nominal are
// the caller's to fill in).
Row measure(CaseRunner& r, Backend& b);

struct Fit {
  size_t sweep = 0;
  std::string backend;
  double floor = NAN;  // the error at the sweep's first point
  int points = 0;      // in the growth regime, fitted for slope
  double x_lo = 0, x_hi = 0;
  double slope = NAN;        // growth exponent
  double slope_floor = NAN;  // over the points before the growth regime
  double slope_all = NAN;    // over every point below saturation
};

// Per sweep and backend, the median over seeds of the fitted output's max_rel at each
// point (and of x); the growth exponent is the least-squares slope of log10(error) on
// log10(x) over the points whose error has risen above 10 times the floor (the error at
// the first point: the x-independent terms) and is below 0.1, up to the first point at
// or beyond 0.1 (there an algorithm has lost every digit).
std::vector<Fit> fit(const Spec& spec, const std::vector<Row>& rows, const std::vector<std::string>& backends);

struct Outcome {
  const Expectation* e;
  double measured;       // NaN when the backend was not run or its error never grew
  bool measured_at_all;  // false: reported as not measured, never as a disagreement
  bool agrees;
};
std::vector<Outcome> judge(const Spec& spec, const std::vector<Fit>& fits);

// The rows of a study.json (a shard's, for merging), checked to be of spec's sweeps;
// fails saying what differs.
Result<std::vector<Row>> read_rows(const std::string& text, const Spec& spec);

std::string csv(const Spec& spec, const std::vector<Row>& rows);
std::string json(const Spec& spec, const std::vector<Row>& rows, const std::vector<Fit>& fits,
                 const std::vector<Outcome>& outcomes);
// SVG of sweep s: the fitted output's error against x, log-log, a line per backend, its
// budget dashed beside it, the fitted slopes in the legend.
std::string svg_sweep(const Spec& spec, size_t s, const std::vector<Row>& rows, const std::vector<Fit>& fits,
                      const std::vector<std::string>& backends);
// SVG histogram of the largest ulp error of every output of every row of one backend.
std::string svg_histogram(const std::vector<Row>& rows, const std::string& backend);
// The self-contained report: every SVG inline, no script, no network.
std::string html(const Spec& spec, const std::vector<Row>& rows, const std::vector<Fit>& fits,
                 const std::vector<Outcome>& outcomes, const std::vector<std::string>& backends);

}  // namespace bncheck::study
