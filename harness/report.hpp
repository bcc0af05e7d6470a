// Reports of checked cases: the table rows and tensor lines `bncheck run` prints, and
// the JSON report (docs/README: "Machine-readable output"). Every string that reaches
// the terminal or JSON here is already printable (api/text.hpp) or escaped (json.hpp).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bncheck/problem.hpp"
#include "bncheck/report.hpp"

namespace bncheck::report {

// A number as the reports print it: %g with prec digits, nan and inf spelled out.
std::string number(double v, int prec = 3);
// "y[n=..,c=..,sp=..]" of a linear index in the problem's layout; "gamma[c=..]" for
// per-channel tensors.
std::string element_name(const Problem& p, const std::string& tensor, size_t i);

// The case table: header and one row per case.
std::string table_header();
std::string table_row(int case_no, const CaseReport& r);
// A tensor's error: max and median ulp, err/budget and its worst element.
std::string tensor_line(const Problem& p, const TensorReport& t);

// One case of a run as the machine-readable reports give it.
struct CaseResult {
  CaseReport report;
  std::string repro;  // the one-line command that reruns it
  std::string known;  // the finding of a known failure (baseline), when it is one and the run is not strict
};

struct RunSummary {
  bool complete = true;
  std::string incomplete_reason;
  int cases_planned = 0;
  std::map<Verdict, int> counts;
};

// The JSON report of a run (format version 1): every case with its repro line.
std::string run_json(const RunSummary& s, const std::vector<CaseResult>& cases);

// The run as JUnit XML, for CI systems: one testcase per case (classname
// bncheck.run.<backend>, name = the problem descriptor). FAIL, UNWRITTEN-OUTPUT and
// OUT-OF-BOUNDS-WRITE are failures, ERROR, CRASH and TIMEOUT errors, each with its
// message and repro line; known failures, MISTRUSTED, UNSUPPORTED, SKIPPED and
// UNAVAILABLE are skipped, with the reason. Every string is escaped; bytes outside
// printable ASCII are written as \xNN.
std::string run_junit(const RunSummary& s, const std::vector<CaseResult>& cases);

}  // namespace bncheck::report
