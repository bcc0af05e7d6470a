// What the bncheck commands share: exit codes, backend selection and loading (built-in
// and plugins), baselines, output-path checks, number and element formatting.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bncheck/backend.hpp"
#include "cli/options.hpp"
#include "harness/check.hpp"
#include "harness/json_read.hpp"
#include "harness/report.hpp"
#include "harness/suites.hpp"
#include "plugin/isolation.hpp"

namespace bncheck::cli {

// Exit status (documented in the usage text and the README).
constexpr int kExitOk = 0, kExitFail = 1, kExitUsage = 2, kExitNothingChecked = 3;

// The usage text of every command, and the descriptor grammar.
extern const char* const kUsage;

// Numbers and element names as every report prints them (harness/report.hpp).
inline std::string fmt(double v, int prec = 3) { return report::number(v, prec); }
using report::element_name;
double available_memory_bytes();

// 'all' means every non-weak backend that can run here; the others are named on stderr.
std::vector<Backend*> select_backends(const std::vector<std::unique_ptr<Backend>>& all, const std::string& spec);

// Options shared by the commands that take backends.
struct BackendOptions {
  std::vector<std::string> plugins;
  IsolationOptions isolation;
  // Consumes opt (and its value) when it is a backend option.
  bool parse(const std::string& opt, Args& a);
  // Built-in backends, then the plugins.
  std::vector<std::unique_ptr<Backend>> load() const;
};

// Known failures, as run, props and fuzz take them: --baseline FILE (the built-in
// inputs/baselines/known-failures.baseline by default), --no-baseline, --strict.
struct BaselineOptions {
  std::string path;
  bool none = false;
  bool strict = false;  // known failures, and listed failures that now pass, fail the run
  // Consumes opt (and its value) when it is a baseline option.
  bool parse(const std::string& opt, Args& a);
  Baseline load() const;
};

// Output paths are checked before any case runs: a report that cannot be written is a
// usage error now, not a lost result later.
void check_writable_file(const std::string& opt, const std::string& path);
void check_writable_dir(const std::string& opt, const std::string& dir);
// The live progress line of a long command on a terminal (off otherwise): cases done
// of all, failures so far, cases per second and an estimate of the time left.
class ProgressLine {
 public:
  explicit ProgressLine(bool on) : on_(on) {}
  void show(int done, int total, int failures, double seconds);
  void clear();  // before other output

 private:
  bool on_, shown_ = false;
};

// A JSON report (`run`, `fuzz`, written by run_json) read back; a file that cannot be
// read or is not such a report is a usage error naming the file.
std::pair<report::RunSummary, std::vector<report::CaseResult>> read_report_file(const std::string& path);
// Any JSON file, parsed; the same errors.
json::Value read_json_file(const std::string& path);

// Writes a report file (nothing when path is empty); false, said on stderr, when it fails.
bool write_report(const std::string& path, const std::string& text);

// A case was checked when the backend ran and was judged (pass or any failure);
// UNSUPPORTED, SKIPPED and UNAVAILABLE check nothing.
bool checked(Verdict v);
// The exit status of a command that ran cases: an interruption wins, then a failure,
// then "nothing was checked".
int exit_status(bool failed, bool any_checked);
std::string signal_text(int sig);

int cmd_list(Args& a);
int cmd_run(Args& a, const std::string& argv0);
int cmd_gen(Args& a);
int cmd_check(Args& a, const std::string& argv0);
int cmd_props(Args& a, const std::string& argv0);
int cmd_fuzz(Args& a, const std::string& argv0);
int cmd_bench(Args& a);
int cmd_report(Args& a);
int cmd_compare(Args& a);
int cmd_study(Args& a);

}  // namespace bncheck::cli
