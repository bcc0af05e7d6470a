// Reports of checked cases: the table rows and tensor lines `bncheck run` prints, and
// the JSON report (docs/README: "Machine-readable output"). Every string that reaches
// the terminal or JSON here is already printable (api/text.hpp) or escaped (json.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/result.hpp"
#include "bncheck/problem.hpp"
#include "bncheck/report.hpp"

namespace bncheck::report {

// Text for an XML attribute or element (JUnit reports, the study's SVG and HTML):
// markup characters as entities, bytes outside printable ASCII as \xNN.
std::string xml_text(const std::string& s);

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

// One case of a run (or of a fuzz campaign) as the machine-readable reports give it.
struct CaseResult {
  CaseReport report;
  std::string repro;        // the one-line command that reruns it (a fuzz failure: its minimal problem)
  std::string known;        // the finding of a known failure (baseline), when it is one and the run is not strict
  int64_t case_index = -1;  // a fuzz campaign's case number
  std::string minimal;      // a fuzz failure's minimised problem
};

struct RunSummary {
  std::string command = "run";  // run or fuzz
  bool complete = true;
  std::string incomplete_reason;
  int cases_planned = 0;
  std::map<Verdict, int> counts;
  // A fuzz campaign's definition: what `bncheck report` checks shards against.
  struct Campaign {
    uint64_t seed = 1;
    int shard = 0, shards = 1;
    int64_t cases = -1;     // the case bound, -1 when time-bounded
    double seconds = -1;    // the time bound, -1 when bounded by cases
    std::string generator;  // the generator's limits, which decide the cases
    std::string backends;   // the backends that ran, comma-separated
  };
  std::optional<Campaign> campaign;
};

// The JSON report of a run or a fuzz campaign (docs/json-schema.json, version 1):
// every case with its repro line.
std::string run_json(const RunSummary& s, const std::vector<CaseResult>& cases);
// Reads one back (what run_json writes; `bncheck report` and `compare` use it).
Result<std::pair<RunSummary, std::vector<CaseResult>>> read_run_json(const std::string& text);

// The run as JUnit XML, for CI systems: one testcase per case (classname
// bncheck.run.<backend>, name = the problem descriptor). FAIL, UNWRITTEN-OUTPUT and
// OUT-OF-BOUNDS-WRITE are failures, ERROR, CRASH and TIMEOUT errors, each with its
// message and repro line; known failures, MISTRUSTED, UNSUPPORTED, SKIPPED and
// UNAVAILABLE are skipped, with the reason. Every string is escaped; bytes outside
// printable ASCII are written as \xNN.
std::string run_junit(const RunSummary& s, const std::vector<CaseResult>& cases);

// One property campaign on one backend, for the machine-readable reports of `props`.
struct PropertyResult {
  std::string property, backend;
  std::string result;  // PASS, FAIL, KNOWN (a listed third-party failure) or NONE-RAN
  int cases = 0, applicable = 0;
  std::string message, minimal, repro, known, notes;
  uint64_t aux = 0;
};
std::string props_json(bool complete, uint64_t seed, const std::vector<PropertyResult>& r);
// One testcase per property and backend (classname bncheck.props.<backend>): FAIL is a
// failure with its minimal problem and repro line; KNOWN and NONE-RAN are skipped.
std::string props_junit(bool complete, const std::vector<PropertyResult>& r);

}  // namespace bncheck::report
