// bncheck: is a batch-normalization implementation numerically right, and by how much not.
#include <unistd.h>

#include <chrono>
#include <ctime>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bncheck/backend.hpp"
#include "cli/options.hpp"
#include "harness/case_files.hpp"
#include "harness/interrupt.hpp"
#include "harness/json.hpp"
#include "harness/text.hpp"
#include "harness/plugin_backend.hpp"
#include "harness/runner.hpp"
#include "harness/suites.hpp"
#include "fuzz/campaign.hpp"
#include "properties/driver.hpp"

using namespace bncheck;

namespace {

// Exit status (documented in kUsage and the README).
constexpr int kExitOk = 0, kExitFail = 1, kExitUsage = 2, kExitNothingChecked = 3;

const char* const kUsage = R"(usage: bncheck <command> [options]

Commands:
  list                 the backends compiled in, whether each is available, what it supports
  run                  check backends against the arbitrary-precision reference
  props                property tests of BN's invariants (RapidCheck generators, shrinking)
  fuzz                 fuzz campaigns: generated shapes and data, minimised failures
  bench                time backends side by side against a copy bandwidth
  help                 this text

bncheck run [options]
  --backend NAME[,NAME...]|all   backends to check [all]; 'all' leaves out weak
                                 baselines (cpu_one_pass_naive), which run only when named
  --plugin PATH.so               load a C plugin (include/bncheck/plugin.h) as a backend
                                 (repeatable; also for `list`)
  --timeout SECONDS              a plugin call running longer is killed: TIMEOUT [60]
  --no-isolation                 call plugins in-process (debugging: a crash kills bncheck;
                                 --timeout cannot be honoured and is refused)
  --problem DESC                 a problem (repeatable); see PROBLEM DESCRIPTORS below
  --suite NAME|FILE              a built-in suite or a file of descriptors [default]
  --case DIR                     rerun a saved case on its own data (a directory written by
                                 --save/--save-failures or the libFuzzer target; repeatable);
                                 without --backend, on the backend it was saved for
  --seed N                       seed of problems that do not set seed= [1]
  --save DIR                     save every case: inputs, reference, outputs as .npy + case.json
  --save-failures DIR            save the cases that did not pass
  --json FILE                    write every case's result as JSON
  --max-memory GIB               skip cases whose data would need more [80% of available]
  --verbose                      print every tensor's errors, not only failures'
  --baseline FILE                known failures (BACKEND DESCRIPTOR FINDING per line) reported as
                                 KNOWN without failing the run [fuzz/baselines/known-failures.baseline]
  --no-baseline                  no known failures
  --strict                       known failures, and listed failures that now pass, fail the run

bncheck props [options]
  --backend NAME[,NAME...]|all   backends; 'reference' checks the reference itself;
                                 all = the reference and every non-weak backend [all]
  --property NAME[,NAME...]      properties to run [all of them; `bncheck props --list`]
  --cases N                      generated cases per property and backend [50]
  --seed N                       campaign seed [1]
  --problem DESC --aux N         replay one case (as a failure's repro line prints it)
  --baseline FILE, --no-baseline, --strict        known failures, as for run
  --plugin PATH.so, --timeout S, --no-isolation   as for run

bncheck fuzz [options]
  --backend NAME[,NAME...]|all   backends [all: every non-weak backend]
  --cases N | --seconds S        run cases 0..N-1, or for S seconds [--cases 200]
  --seed N                       campaign seed: case i is a function of (seed, i) [1]
  --shard I/N                    run the cases i with i % N == I (shards partition the campaign)
  --max-elements N               larger draws are shrunk to fit [2097152]
  --max-memory GIB               skip a case whose data would need more [80% of available]
  --save-failures DIR            save each minimised failure (.npy + case.json)
  --append-regressions FILE      append minimised unknown failures (descriptor + repro) to FILE
  --dry-run                      print the cases' descriptors, run nothing (needs --cases)
  --plugin, --timeout, --no-isolation, --baseline, --no-baseline, --strict   as for run

bncheck bench [options]
  --backend NAME[,NAME...]|all   backends side by side [all]
  --problem DESC | --suite NAME  what to time [suite bench]
  --warmup N, --reps N           calls before timing, timed calls [3, 15]
  Reports the median time per call, the minimal bytes moved (read x [and dy], write y
  or dx), GB/s, and the fraction of a copy bandwidth measured in the same run: a
  STREAM-like memcpy for host backends, a device-to-device copy for GPU backends,
  whose time excludes host transfers.

Verdicts: PASS, FAIL, MISTRUSTED (degenerate outputs: the check proves little),
UNSUPPORTED (never a pass), ERROR (the backend reported an error), UNWRITTEN-OUTPUT,
OUT-OF-BOUNDS-WRITE, SKIPPED (not run, e.g. too large), UNAVAILABLE.
Exit status: 0 when cases were checked and none failed; 1 when one failed (FAIL, ERROR,
UNWRITTEN-OUTPUT, OUT-OF-BOUNDS-WRITE, CRASH, TIMEOUT); 2 for a usage or input error;
3 when nothing was checked (every case UNSUPPORTED, SKIPPED or UNAVAILABLE, or none at
all); 130 or 143 when interrupted by SIGINT or SIGTERM (the results so far are printed
and written, the JSON marked "complete": false). `bncheck COMMAND --help` prints this.
Errors are reported in ULPs of the output dtype and as a ratio to the error budget of
docs/error-model.md (ratio <= 1 passes).

)";

using cli::Args;
using cli::UsageError;

std::string fmt(double v, int prec = 3) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char b[64];
  std::snprintf(b, sizeof b, "%.*g", prec, v);
  return b;
}

// "(n, c, d, h, w)" of a linear index in the problem's layout.
std::string element_name(const Problem& p, const std::string& tensor, size_t i) {
  if (tensor != "y" && tensor != "dx") return tensor + "[c=" + std::to_string(i) + "]";
  const int64_t S = p.spatial_size();
  int64_t n, c, s;
  if (p.layout == Layout::channels_first) { s = i % S; c = (i / S) % p.c; n = i / (S * p.c); }
  else { c = i % p.c; s = (i / p.c) % S; n = i / (S * p.c); }
  std::string out = tensor + "[n=" + std::to_string(n) + ",c=" + std::to_string(c);
  if (p.rank) {
    out += ",sp=";
    int64_t rest = s;
    std::vector<int64_t> idx(p.rank);
    for (int d = p.rank - 1; d >= 0; --d) { idx[d] = rest % p.spatial[d]; rest /= p.spatial[d]; }
    for (int d = 0; d < p.rank; ++d) out += (d ? "x" : "") + std::to_string(idx[d]);
  }
  return out + "]";
}

double available_memory_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  double kb = 0;
  while (f >> key >> kb) {
    if (key == "MemAvailable:") return kb * 1024;
    f.ignore(256, '\n');
  }
  return 8.0 * (1ull << 30);
}

// 'all' means every non-weak backend that can run here; the others are named on stderr.
std::vector<Backend*> select_backends(const std::vector<std::unique_ptr<Backend>>& all, const std::string& spec) {
  std::vector<Backend*> out;
  if (spec == "all") {
    for (auto& b : all) {
      if (b->weak()) continue;
      const Availability av = b->availability();
      if (av.available) out.push_back(b.get());
      else std::fprintf(stderr, "bncheck: %s unavailable (%s): not run\n", b->name().c_str(), av.reason.c_str());
    }
    return out;
  }
  if (spec.empty()) throw UsageError("--backend needs backend names (or 'all')");
  std::stringstream ss(spec);
  std::string name;
  while (std::getline(ss, name, ',')) {
    if (name.empty()) throw UsageError("--backend '" + printable(spec, 100) + "' holds an empty name");
    Backend* found = nullptr;
    for (auto& b : all)
      if (b->name() == name) found = b.get();
    if (!found) {
      std::string names;
      for (auto& b : all) names += " " + b->name();
      throw UsageError("unknown backend '" + printable(name, 80) + "' (compiled in:" + names + ")");
    }
    out.push_back(found);
  }
  return out;
}

// Options shared by the commands that take backends.
struct BackendOptions {
  std::vector<std::string> plugins;
  IsolationOptions isolation;
  // Consumes opt (and its value) when it is a backend option.
  bool parse(const std::string& opt, Args& a) {
    if (opt == "--plugin") plugins.push_back(a.value(opt));
    else if (opt == "--no-isolation") isolation.isolate = false;
    else if (opt == "--timeout") {
      isolation.timeout_s = a.number(opt, 0, 1e6, true);
      isolation.timeout_set = true;
    } else return false;
    return true;
  }
  // Built-in backends, then the plugins.
  std::vector<std::unique_ptr<Backend>> load() const {
    if (!isolation.isolate && isolation.timeout_set)
      throw UsageError("--timeout cannot be honoured with --no-isolation: an in-process call cannot be stopped");
    auto all = make_builtin_backends();
    for (const auto& path : plugins) {
      std::string error;
      auto b = load_plugin(path, isolation, &error);
      if (!b) throw UsageError("plugin " + error);
      for (const auto& other : all)
        if (other->name() == b->name()) throw UsageError("plugin " + printable(path) + ": a backend named '" + b->name() + "' exists");
      all.push_back(std::move(b));
    }
    return all;
  }
};

int cmd_list(Args& a) {
  BackendOptions bo;
  while (a.more()) {
    const std::string opt = a.next();
    if (!bo.parse(opt, a)) throw UsageError("unknown option '" + printable(opt, 60) + "' for list");
  }
  auto backends = bo.load();
  std::printf("%-22s %-11s %-30s %s\n", "backend", "available", "supports", "description");
  for (auto& b : backends) {
    const Availability av = b->availability();
    // Probe what the backend supports on a small problem of each kind.
    std::set<std::string> dts, lays, dirs;
    for (Dtype dt : {Dtype::f64, Dtype::f32, Dtype::f16, Dtype::bf16})
      for (Layout l : {Layout::channels_first, Layout::channels_last})
        for (Direction d : {Direction::fwd_train, Direction::fwd_infer, Direction::bwd}) {
          Problem p;
          p.n = 2; p.c = 3; p.rank = 2; p.spatial = {4, 4, 1};
          p.dtype = dt; p.pdtype = dt == Dtype::f64 ? Dtype::f64 : Dtype::f32;
          p.layout = l; p.dir = d;
          if (b->supports(p).supported) { dts.insert(dtype_name(dt)); lays.insert(to_string(l)); dirs.insert(to_string(d)); }
        }
    std::string sup;
    for (auto* s : {&dts, &lays, &dirs}) {
      if (!sup.empty()) sup += " ";
      std::string part;
      for (const auto& x : *s) part += (part.empty() ? "" : ",") + x;
      sup += part.empty() ? "-" : part;
    }
    std::string avs = av.available ? "yes" : "no";
    std::printf("%-22s %-11s %-30s %s%s\n", b->name().c_str(), avs.c_str(), sup.c_str(), b->description().c_str(),
                b->weak() ? " [weak: runs only when named]" : "");
    if (!av.available) std::printf("%-22s   unavailable: %s\n", "", av.reason.c_str());
  }
  return kExitOk;
}

Baseline load_baseline(bool none, const std::string& path) {
  if (none) return {};
  if (path.empty()) return parse_baseline(builtin_baseline(), "known-failures.baseline");
  if (std::filesystem::is_directory(path)) throw UsageError("--baseline " + printable(path) + " is a directory, not a file");
  std::ifstream bf(path);
  if (!bf) throw UsageError("cannot read baseline " + printable(path));
  std::stringstream ss;
  ss << bf.rdbuf();
  return parse_baseline(ss.str(), path);
}

// Output paths are checked before any case runs: a report that cannot be written is a
// usage error now, not a lost result later.
void check_writable_file(const std::string& opt, const std::string& path) {
  if (path.empty()) return;
  if (std::filesystem::is_directory(path)) throw UsageError(opt + " " + printable(path) + " is a directory");
  std::ofstream f(path, std::ios::app);
  if (!f) throw UsageError(opt + " " + printable(path) + ": cannot write there");
}
void check_writable_dir(const std::string& opt, const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir) || access(dir.c_str(), W_OK | X_OK) != 0)
    throw UsageError(opt + " " + printable(dir) + ": cannot create or write that directory");
}

// A case was checked when the backend ran and was judged (pass or any failure);
// UNSUPPORTED, SKIPPED and UNAVAILABLE check nothing.
bool checked(Verdict v) { return v != Verdict::unsupported && v != Verdict::skipped && v != Verdict::unavailable; }

// The exit status of a command that ran cases: an interruption wins, then a failure,
// then "nothing was checked".
int exit_status(bool failed, bool any_checked) {
  if (const int sig = interrupted()) return 128 + sig;
  if (failed) return kExitFail;
  return any_checked ? kExitOk : kExitNothingChecked;
}

std::string signal_text(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : std::to_string(sig); }

struct RunOptions {
  std::string backends = "all";
  bool backends_given = false;
  std::vector<std::string> problem_descs, case_dirs;
  std::string suite;
  uint64_t seed = 1;
  std::string save_dir, save_failures_dir, json_path;
  double max_bytes = 0;
  bool verbose = false;
  std::string baseline_path;
  bool no_baseline = false, strict = false;
  BackendOptions backend_options;
};

RunOptions parse_run(Args& a) {
  RunOptions o;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--backend") { o.backends = a.value(opt); o.backends_given = true; }
    else if (opt == "--problem") o.problem_descs.push_back(a.value(opt));
    else if (opt == "--case") o.case_dirs.push_back(a.value(opt));
    else if (opt == "--suite") o.suite = a.value(opt);
    else if (opt == "--seed") o.seed = a.seed(opt);
    else if (opt == "--save") o.save_dir = a.value(opt);
    else if (opt == "--save-failures") o.save_failures_dir = a.value(opt);
    else if (opt == "--json") o.json_path = a.value(opt);
    else if (opt == "--max-memory") o.max_bytes = a.number(opt, 0, 1 << 20, true) * double(1ull << 30);
    else if (opt == "--verbose" || opt == "-v") o.verbose = true;
    else if (opt == "--baseline") o.baseline_path = a.value(opt);
    else if (opt == "--no-baseline") o.no_baseline = true;
    else if (opt == "--strict") o.strict = true;
    else if (o.backend_options.parse(opt, a)) continue;
    else throw UsageError("unknown option '" + printable(opt, 60) + "' for run");
  }
  return o;
}

void print_tensor_line(const Problem& p, const TensorReport& t) {
  std::printf("      %-12s max %s ulp, median %s ulp, err/budget %s; worst %s: ref %s got %s err %s budget %s%s\n",
              t.name.c_str(), fmt(t.max_ulp).c_str(), fmt(t.median_ulp).c_str(), fmt(t.max_ratio).c_str(),
              element_name(p, t.name, t.worst).c_str(), fmt(t.worst_ref, 9).c_str(), fmt(t.worst_got, 9).c_str(),
              fmt(t.worst_err).c_str(), fmt(t.worst_budget).c_str(),
              t.failures ? (" [" + std::to_string(t.failures) + " beyond budget]").c_str() : "");
}

void write_json_case(json::Writer& j, const CaseReport& r, const std::string& repro) {
  j.begin_object();
  j.key("backend").value(r.backend);
  j.key("problem").value(to_string(r.problem));
  j.key("conventions").value(to_string(r.conv));
  j.key("verdict").value(to_string(r.verdict));
  j.key("message").value(r.message);
  j.key("seconds_backend").value(r.seconds_backend);
  j.key("seconds_reference").value(r.seconds_reference);
  j.key("repro").value(repro);
  j.key("tensors").begin_array();
  for (const auto& t : r.tensors) {
    j.begin_object();
    j.key("name").value(t.name);
    j.key("count").value(t.count);
    j.key("failures").value(t.failures);
    j.key("unwritten").value(t.unwritten);
    j.key("max_ulp").value(t.max_ulp);
    j.key("median_ulp").value(t.median_ulp);
    j.key("max_err_over_budget").value(t.max_ratio);
    j.key("worst_index").value(t.worst);
    j.key("worst_element").value(element_name(r.problem, t.name, t.worst));
    j.key("worst_ref").value(t.worst_ref);
    j.key("worst_got").value(t.worst_got);
    j.key("worst_err").value(t.worst_err);
    j.key("worst_budget").value(t.worst_budget);
    j.end_object();
  }
  j.end_array();
  j.end_object();
}

// One problem of a run: generated from its descriptor, or a saved case's own data.
struct RunProblem {
  Problem problem;
  std::optional<CaseData> data;
  std::string origin;          // the --case directory
  std::string saved_backend;   // the backend the case was saved for
};

// What `run` has so far; finish() prints the summary and writes the JSON, complete or not.
struct RunState {
  const RunOptions& o;
  Baseline baseline;
  std::vector<std::pair<CaseReport, std::string>> results;
  std::map<Verdict, int> counts;
  std::vector<std::string> failure_lines;
  int known = 0, case_no = 0, total = 0;
  bool finished = false;

  RunState(const RunOptions& opts, Baseline b) : o(opts), baseline(std::move(b)) {}

  int finish(const std::string& incomplete_why) {
    if (finished) return kExitFail;
    finished = true;
    std::vector<std::string> fixed_lines;
    std::printf("\nsummary:");
    for (Verdict v : {Verdict::pass, Verdict::fail, Verdict::mistrusted, Verdict::unsupported, Verdict::error,
                      Verdict::unwritten, Verdict::oob_write, Verdict::crash, Verdict::timeout, Verdict::skipped,
                      Verdict::unavailable})
      if (counts[v]) std::printf(" %d %s", counts[v], to_string(v));
    std::printf(" (of %d cases)\n", case_no);
    if (!incomplete_why.empty())
      std::printf("incomplete: %s; %d of %d cases ran\n", incomplete_why.c_str(), case_no, total);
    for (const auto& e : baseline.entries)   // matched only passing cases: fixed, or the pattern is too wide
      if (e.seen && !e.failed)
        fixed_lines.push_back("known failure " + e.finding + " (" + e.backend + " " + e.problem +
                              ") matched only passing cases: update the baseline");
    if (known) std::printf("known failures (baseline, documented in docs/findings.md): %d\n", known);
    for (const auto& l : fixed_lines) std::printf("%s\n", l.c_str());
    if (o.strict && incomplete_why.empty())
      for (const auto& l : fixed_lines) failure_lines.push_back(l);
    if (!failure_lines.empty()) {
      std::printf("\nfailures:\n");
      for (const auto& l : failure_lines) std::printf("%s\n", l.c_str());
    }
    bool any_checked = false;
    for (const auto& [r, repro] : results) any_checked |= checked(r.verdict);
    if (!any_checked && failure_lines.empty())
      std::printf("nothing was checked: every case was unsupported, skipped or unavailable (exit %d)\n",
                  kExitNothingChecked);
    bool json_ok = true;
    if (!o.json_path.empty()) {
      json::Writer j;
      j.begin_object();
      j.key("bncheck_report").value(1);
      j.key("command").value("run");
      j.key("complete").value(incomplete_why.empty());
      if (!incomplete_why.empty()) j.key("incomplete_reason").value(incomplete_why);
      j.key("cases_planned").value(total);
      j.key("summary").begin_object();
      for (const auto& [v, n] : counts) j.key(to_string(v)).value(n);
      j.end_object();
      j.key("cases").begin_array();
      for (const auto& [r, repro] : results) write_json_case(j, r, repro);
      j.end_array();
      j.end_object();
      std::ofstream f(o.json_path);
      f << j.str() << "\n";
      f.close();
      if (!f) {
        std::fprintf(stderr, "bncheck: cannot write %s\n", printable(o.json_path).c_str());
        json_ok = false;
      }
    }
    std::fflush(stdout);
    const int st = exit_status(!failure_lines.empty(), any_checked);
    return st == kExitOk && !json_ok ? kExitFail : st;
  }
};

std::vector<RunProblem> run_problems(const RunOptions& o) {
  std::vector<RunProblem> problems;
  for (const auto& d : o.problem_descs) {
    Problem base;
    base.n = 0;
    base.c = 0;
    base.seed = o.seed;
    problems.push_back({parse_problem(d, base), std::nullopt, "", ""});
  }
  for (const auto& dir : o.case_dirs) {
    SavedCase sc = load_case(dir);
    problems.push_back({sc.problem, std::move(sc.data), dir, sc.backend});
  }
  if (!o.suite.empty() || (problems.empty() && o.case_dirs.empty())) {
    for (auto& p : load_suite(o.suite.empty() ? "default" : o.suite, o.seed)) problems.push_back({p, std::nullopt, "", ""});
  }
  return problems;
}

int cmd_run(Args& a, const std::string& argv0) {
  RunOptions o = parse_run(a);
  check_writable_file("--json", o.json_path);
  check_writable_dir("--save", o.save_dir);
  check_writable_dir("--save-failures", o.save_failures_dir);
  std::vector<RunProblem> problems = run_problems(o);
  std::string spec = o.backends;
  if (!o.backends_given && !o.case_dirs.empty()) {   // a saved case reruns on the backend it was saved for
    std::set<std::string> names;
    for (const auto& rp : problems)
      if (!rp.origin.empty()) names.insert(rp.saved_backend);
    spec.clear();
    for (const auto& n : names) spec += (spec.empty() ? "" : ",") + n;
  }
  auto all = o.backend_options.load();
  std::vector<Backend*> backends = select_backends(all, spec);
  const double max_bytes = o.max_bytes > 0 ? o.max_bytes : 0.8 * available_memory_bytes();
  RunState st(o, load_baseline(o.no_baseline, o.baseline_path));
  st.total = static_cast<int>(problems.size() * backends.size());
  install_interrupt_handlers();
  set_emergency_finish([&](const std::string& why) { st.finish(why); });
  if (problems.empty()) std::printf("bncheck run: the suite has no problems\n");

  std::printf("bncheck run: %zu problems x %zu backends (reference: 256-bit Boost.Multiprecision cpp_bin_float)\n",
              problems.size(), backends.size());
  std::printf("%5s  %-20s %-19s %9s %9s %10s  %-26s %s\n", "case", "backend", "verdict", "max_ulp", "med_ulp",
              "err/budget", "worst", "problem");
  for (RunProblem& rp : problems) {
    if (interrupted()) break;
    const Problem& p = rp.problem;
    const std::string desc = to_string(p);
    std::unique_ptr<CaseRunner> runner;
    std::string setup_error;
    const int convs = distinct_conventions(backends, p);
    const double need = estimated_case_bytes(p, convs);
    if (o.verbose) std::printf("      memory estimate: %.0f MiB (%d conventions)\n", need / double(1 << 20), convs);
    if (need > max_bytes) {
      setup_error = "needs ~" + fmt(need / double(1ull << 30)) + " GiB, more than the " +
                    fmt(max_bytes / double(1ull << 30)) + " GiB allowed (--max-memory)";
    } else {
      try {
        runner = rp.data ? std::make_unique<CaseRunner>(p, std::move(*rp.data)) : std::make_unique<CaseRunner>(p);
      } catch (const std::bad_alloc&) {
        setup_error = "out of memory generating the data";
      }
    }
    for (Backend* b : backends) {
      if (interrupted()) break;
      const int case_no = st.case_no + 1;
      const std::string repro = rp.origin.empty() ? repro_line(argv0, *b, p)
                                                  : shell_word(argv0) + " run" + backend_repro_options(*b) +
                                                        " --backend " + shell_word(b->name()) + " --case " +
                                                        shell_word(rp.origin);
      CaseReport r;
      CaseOutputs outputs;
      r.backend = b->name();
      r.problem = p;
      if (!runner) {
        r.verdict = Verdict::skipped;
        r.message = setup_error;
      } else {
        r = runner->run(*b, &outputs);
      }
      if (const int sig = interrupted()) {   // the call in flight was cut short: not a verdict on the backend
        r.verdict = Verdict::skipped;
        r.tensors.clear();
        r.message = "interrupted by " + signal_text(sig);
      }
      r.message = printable(r.message, 2000);
      st.case_no = case_no;
      ++st.counts[r.verdict];
      Baseline::Entry* be = st.baseline.find(r.backend, p);
      std::string known_note;
      if (be) {
        if (is_failure(r.verdict)) {
          be->failed = true;
          known_note = " (known: " + be->finding + ", docs/findings.md)";
          ++st.known;
        } else if (r.verdict == Verdict::pass) {
          be->seen = true;
        }
      }
      const int wt = r.worst_tensor();
      std::string worst = "-", maxu = "-", medu = "-", ratio = "-";
      if (wt >= 0) {
        const TensorReport& t = r.tensors[static_cast<size_t>(wt)];
        worst = element_name(p, t.name, t.worst);
        ratio = fmt(t.max_ratio);
        double mx = 0, md = 0;
        for (const auto& tt : r.tensors) { mx = std::max(mx, tt.max_ulp); md = std::max(md, tt.median_ulp); }
        maxu = fmt(mx);
        medu = fmt(md);
      }
      std::printf("%5d  %-20s %-19s %9s %9s %10s  %-26s %s\n", case_no, r.backend.c_str(), to_string(r.verdict),
                  maxu.c_str(), medu.c_str(), ratio.c_str(), worst.c_str(), desc.c_str());
      const bool passed = r.verdict == Verdict::pass;
      if (!passed && !r.message.empty()) std::printf("      %s%s\n", r.message.c_str(), known_note.c_str());
      if (o.verbose || is_failure(r.verdict))
        for (const auto& t : r.tensors)
          if (o.verbose || t.failures || t.unwritten) print_tensor_line(p, t);
      if (is_failure(r.verdict)) std::printf("      repro: %s\n", repro.c_str());
      if (is_failure(r.verdict) && (known_note.empty() || o.strict)) {
        st.failure_lines.push_back(std::string(to_string(r.verdict)) + " " + r.backend + ": " + r.message +
                                   "\n  repro: " + repro);
      }
      const std::string save_dir = !o.save_dir.empty() ? o.save_dir : (!passed ? o.save_failures_dir : "");
      if (!save_dir.empty() && runner && !r.tensors.empty()) {
        std::string dir;
        const std::string stem = "seed" + std::to_string(p.seed) + "_case" + std::to_string(case_no) + "_" + r.backend;
        const std::string err = save_case(save_dir, stem, *runner, r, outputs, repro, &dir);
        if (!err.empty()) std::printf("      save: %s\n", err.c_str());
        else if (!passed) std::printf("      saved: %s\n", printable(dir).c_str());
      }
      std::fflush(stdout);
      st.results.emplace_back(std::move(r), repro);
    }
  }
  set_emergency_finish(nullptr);
  const int sig = interrupted();
  return st.finish(sig ? "interrupted by " + signal_text(sig) : "");
}

int cmd_props(Args& a, const std::string& argv0) {
  BackendOptions bo;
  std::string backend_spec = "all", property_spec, problem_desc, baseline_path;
  int cases = 50;
  uint64_t seed = 1, aux = 0;
  bool list = false, have_aux = false, no_baseline = false, strict = false;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--backend") backend_spec = a.value(opt);
    else if (opt == "--property") property_spec = a.value(opt);
    else if (opt == "--cases") cases = static_cast<int>(a.integer(opt, 1, 10000000));
    else if (opt == "--seed") seed = a.seed(opt);
    else if (opt == "--problem") problem_desc = a.value(opt);
    else if (opt == "--aux") { aux = a.seed(opt); have_aux = true; }
    else if (opt == "--list") list = true;
    else if (opt == "--baseline") baseline_path = a.value(opt);
    else if (opt == "--no-baseline") no_baseline = true;
    else if (opt == "--strict") strict = true;
    else if (!bo.parse(opt, a)) throw UsageError("unknown option '" + printable(opt, 60) + "' for props");
  }
  if (list) {
    for (const auto& p : props::all()) std::printf("%-30s %s\n", p.name, p.summary);
    return kExitOk;
  }
  std::vector<const props::Property*> chosen;
  if (property_spec.empty()) {
    for (const auto& p : props::all()) chosen.push_back(&p);
  } else {
    std::stringstream ss(property_spec);
    std::string name;
    while (std::getline(ss, name, ',')) {
      const props::Property* p = props::find(name);
      if (!p) throw UsageError("unknown property '" + printable(name, 60) + "' (bncheck props --list)");
      chosen.push_back(p);
    }
  }
  auto all = bo.load();
  // The reference is the backend nullptr.
  std::vector<std::pair<std::string, Backend*>> backends;
  if (backend_spec.empty()) throw UsageError("--backend needs backend names (or 'all')");
  if (backend_spec == "all") {
    backends.emplace_back("reference", nullptr);
    for (auto& b : all)
      if (!b->weak() && b->availability().available) backends.emplace_back(b->name(), b.get());
  } else {
    std::stringstream ss(backend_spec);
    std::string name;
    while (std::getline(ss, name, ',')) {
      if (name == "reference") { backends.emplace_back("reference", nullptr); continue; }
      auto sel = select_backends(all, name);
      if (!sel[0]->availability().available) {
        std::fprintf(stderr, "bncheck: %s unavailable (%s): not run\n", name.c_str(),
                     printable(sel[0]->availability().reason).c_str());
        continue;
      }
      backends.emplace_back(name, sel[0]);
    }
  }
  int failures = 0;
  if (!problem_desc.empty()) {   // replay one case
    Problem base;
    base.n = 0;
    base.c = 0;
    base.seed = seed;
    const Problem p = parse_problem(problem_desc, base);
    if (!have_aux) throw UsageError("--problem needs --aux (the failure's repro line gives both)");
    for (const auto& [name, b] : backends)
      for (const auto* prop : chosen) {
        const props::Result r = prop->check(b, p, aux);
        const char* v = !r.applicable ? "NOT-APPLICABLE" : r.holds ? "HOLDS" : "FAILS";
        std::printf("%-28s %-20s %-14s %s\n", prop->name, name.c_str(), v, r.message.c_str());
        failures += r.applicable && !r.holds;
      }
    return failures ? kExitFail : kExitOk;
  }
  Baseline baseline = load_baseline(no_baseline, baseline_path);
  int known = 0;
  std::printf("bncheck props: %zu properties x %zu backends, %d cases each, seed %llu\n", chosen.size(),
              backends.size(), cases, static_cast<unsigned long long>(seed));
  std::printf("%-28s %-20s %-8s %10s  %s\n", "property", "backend", "result", "applicable", "notes");
  std::vector<std::string> repros;
  install_interrupt_handlers();
  int campaigns = 0, applicable = 0;
  for (const auto* prop : chosen)
    for (const auto& [name, b] : backends) {
      if (interrupted()) break;
      const props::Campaign c = props::run_property(*prop, b, cases, seed);
      std::string notes;
      for (const auto& [n, k] : c.notes) notes += (notes.empty() ? "" : ", ") + n + " " + std::to_string(k) + "/" + std::to_string(c.applicable);
      const char* verdict = c.failed ? "FAIL" : c.applicable == 0 ? "NONE-RAN" : "PASS";
      if (interrupted()) break;   // a campaign cut short proves nothing either way
      ++campaigns;
      applicable += c.applicable;
      std::printf("%-28s %-20s %-8s %6d/%-3d  %s\n", prop->name, name.c_str(), verdict, c.applicable, c.cases, notes.c_str());
      const Baseline::Entry* be = c.failed && b ? baseline.find(name, c.minimal) : nullptr;
      if (be) {
        ++known;
        std::printf("      (known: %s, docs/findings.md)\n", be->finding.c_str());
      }
      if (c.failed) {
        if (!be || strict) ++failures;
        const std::string repro = shell_word(argv0) + " props" + (b ? backend_repro_options(*b) : "") + " --backend " +
                                  name + " --property " + prop->name + " --problem " + shell_quote(to_string(c.minimal)) +
                                  " --aux " + std::to_string(c.aux);
        std::printf("      %s\n      minimal after %d shrink steps: %s\n      repro: %s\n", c.message.c_str(),
                    c.shrink_steps, to_string(c.minimal).c_str(), repro.c_str());
        if (!be || strict) repros.push_back(std::string(prop->name) + " on " + name + ": " + c.message + "\n  repro: " + repro);
      }
      std::fflush(stdout);
    }
  std::printf("\nsummary: %d property campaigns, %d failed, %d known failures\n", campaigns, failures, known);
  if (const int sig = interrupted())
    std::printf("incomplete: interrupted by %s; %d of %zu campaigns ran\n", signal_text(sig).c_str(), campaigns,
                chosen.size() * backends.size());
  for (const auto& r : repros) std::printf("%s\n", r.c_str());
  if (applicable == 0 && !failures && !interrupted())
    std::printf("nothing was checked: no generated case was applicable (exit %d)\n", kExitNothingChecked);
  return exit_status(failures > 0, applicable > 0);
}

int cmd_fuzz(Args& a, const std::string& argv0) {
  BackendOptions bo;
  fuzz::Options o;
  o.argv0 = argv0;
  std::string backend_spec = "all", baseline_path;
  bool dry = false, no_baseline = false, strict = false;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--backend") backend_spec = a.value(opt);
    else if (opt == "--cases") o.cases = a.integer(opt, 1, int64_t{1} << 62);
    else if (opt == "--seconds") o.seconds = a.number(opt, 0, 1e9, true);
    else if (opt == "--seed") o.seed = a.seed(opt);
    else if (opt == "--shard") cli::parse_shard(opt, a.value(opt), &o.shard, &o.shards);
    else if (opt == "--max-elements") o.limits.max_elements = a.integer(opt, 1, int64_t{1} << 40);
    else if (opt == "--max-memory") o.max_bytes = a.number(opt, 0, 1 << 20, true) * double(1ull << 30);
    else if (opt == "--save-failures") o.save_failures = a.value(opt);
    else if (opt == "--append-regressions") o.append_regressions = a.value(opt);
    else if (opt == "--dry-run") dry = true;
    else if (opt == "--baseline") baseline_path = a.value(opt);
    else if (opt == "--no-baseline") no_baseline = true;
    else if (opt == "--strict") strict = true;
    else if (!bo.parse(opt, a)) throw UsageError("unknown option '" + printable(opt, 60) + "' for fuzz");
  }
  if (o.cases < 0 && o.seconds < 0) o.cases = 200;
  if (dry) {
    if (o.cases < 0) throw UsageError("--dry-run needs --cases");
    for (uint64_t i : fuzz::case_indices(o)) {
      std::string note;
      const Problem p = fuzz::generate(o.seed, i, o.limits, &note);
      std::printf("%llu %s%s\n", static_cast<unsigned long long>(i), to_string(p).c_str(),
                  note.empty() ? "" : ("  # " + note).c_str());
    }
    return kExitOk;
  }
  if (o.max_bytes <= 0) o.max_bytes = 0.8 * available_memory_bytes();
  o.progress_tty = isatty(fileno(stdout));
  check_writable_dir("--save-failures", o.save_failures);
  check_writable_file("--append-regressions", o.append_regressions);
  auto all = bo.load();
  std::vector<Backend*> backends;
  for (Backend* b : select_backends(all, backend_spec))
    if (b->availability().available) backends.push_back(b);
  Baseline baseline = load_baseline(no_baseline, baseline_path);
  std::printf("bncheck fuzz: seed %llu, shard %d/%d, %s, backends:", static_cast<unsigned long long>(o.seed), o.shard,
              o.shards, o.cases >= 0 ? ("cases 0.." + std::to_string(o.cases - 1)).c_str() : "time-bounded");
  for (Backend* b : backends) std::printf(" %s", b->name().c_str());
  std::printf("\n");
  install_interrupt_handlers();
  const fuzz::Summary sum = fuzz::run_campaign(o, backends, baseline, stdout);
  std::printf("\nsummary: %lld cases (%lld skipped) in %.1f s\n", static_cast<long long>(sum.cases),
              static_cast<long long>(sum.skipped), sum.seconds);
  for (const auto& [name, counts] : sum.verdicts) {
    std::printf("  %-20s", name.c_str());
    for (const auto& [v, n] : counts) std::printf(" %lld %s", static_cast<long long>(n), to_string(v));
    std::printf("\n");
  }
  int unknown = 0;
  bool any_checked = false;
  for (const auto& [name, counts] : sum.verdicts)
    for (const auto& [v, n] : counts) any_checked |= n > 0 && checked(v);
  for (const auto& f : sum.failures) unknown += f.known.empty() || strict;
  std::printf("failures: %d unknown, %zu known (docs/findings.md)\n", unknown, sum.failures.size() - unknown);
  if (const int sig = interrupted()) std::printf("incomplete: interrupted by %s\n", signal_text(sig).c_str());
  else if (!any_checked && !unknown)
    std::printf("nothing was checked: every case was unsupported, skipped or unavailable (exit %d)\n", kExitNothingChecked);
  return exit_status(unknown > 0, any_checked);
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

int cmd_bench(Args& a) {
  BackendOptions bo;
  std::string backend_spec = "all", suite;
  std::vector<std::string> descs;
  int warmup = 3, reps = 15;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--backend") backend_spec = a.value(opt);
    else if (opt == "--problem") descs.push_back(a.value(opt));
    else if (opt == "--suite") suite = a.value(opt);
    else if (opt == "--warmup") warmup = static_cast<int>(a.integer(opt, 0, 1000000));
    else if (opt == "--reps") reps = static_cast<int>(a.integer(opt, 1, 1000000));
    else if (!bo.parse(opt, a)) throw UsageError("unknown option '" + printable(opt, 60) + "' for bench");
  }
  std::vector<Problem> problems;
  for (const auto& d : descs) problems.push_back(parse_problem(d));
  if (!suite.empty() || problems.empty()) {
    auto s = load_suite(suite.empty() ? "bench" : suite, 1);
    problems.insert(problems.end(), s.begin(), s.end());
  }
  auto all = bo.load();
  const std::vector<Backend*> backends = select_backends(all, backend_spec);
  using clock = std::chrono::steady_clock;
  std::printf("%-18s %-10s %10s %10s %9s %12s  %s\n", "backend", "where", "median_ms", "MB_moved", "GB/s",
              "of_copy_bw", "problem");
  for (const Problem& p : problems) {
    const double b = format_info(p.dtype).bytes, E = static_cast<double>(p.elements());
    const double moved = (p.dir == Direction::bwd ? 3 : 2) * E * b;   // read x (and dy), write y or dx
    // The host copy bandwidth, measured now, beside the backends.
    std::vector<unsigned char> src(static_cast<size_t>(moved / 2)), dst(src.size());
    std::vector<double> copy_s;
    for (int i = 0; i < warmup + reps; ++i) {
      const auto t0 = clock::now();
      std::memcpy(dst.data(), src.data(), src.size());
      if (i >= warmup) copy_s.push_back(std::chrono::duration<double>(clock::now() - t0).count());
    }
    const double host_copy_gbps = 2.0 * static_cast<double>(src.size()) / median(copy_s) / 1e9;
    CaseRunner runner(p);
    for (Backend* be : backends) {
      if (!be->supports(p).supported) continue;
      std::string where = "host";
      double sec = 0, bw = host_copy_gbps;
      if (auto dt = be->time_on_device(p, warmup, reps)) {
        where = "device";
        sec = dt->seconds_per_call;
        bw = dt->copy_gbps;
      } else {
        std::vector<double> ts;
        for (int i = 0; i < warmup + reps; ++i) {
          const CaseReport r = runner.run(*be);   // seconds_backend times the call alone
          if (i >= warmup) ts.push_back(r.seconds_backend);
        }
        sec = median(ts);
      }
      const double gbps = moved / sec / 1e9;
      std::printf("%-18s %-10s %10.3f %10.2f %9.2f %11.1f%%  %s\n", be->name().c_str(), where.c_str(), sec * 1e3,
                  moved / 1e6, gbps, 100 * gbps / bw, to_string(p).c_str());
      std::fflush(stdout);
    }
  }
  std::printf("(copy bandwidth: read + write of a buffer of half the bytes moved, median of %d, same run)\n", reps);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) words.emplace_back(argv[i]);
  const std::string argv0 = argc > 0 ? argv[0] : "bncheck";
  if (words.empty()) {
    std::fputs(kUsage, stderr);
    std::fputs(kDescriptorHelp, stderr);
    return kExitUsage;
  }
  const std::string cmd = words.front();
  Args a(std::vector<std::string>(words.begin() + 1, words.end()));
  const bool help = cmd == "help" || cmd == "--help" || cmd == "-h" ||
                    std::find_if(words.begin() + 1, words.end(), [](const std::string& w) {
                      return w == "--help" || w == "-h";
                    }) != words.end();
  try {
    if (help) {
      std::fputs(kUsage, stdout);
      std::fputs(kDescriptorHelp, stdout);
      return kExitOk;
    }
    if (cmd == "list") return cmd_list(a);
    if (cmd == "run") return cmd_run(a, argv0);
    if (cmd == "props") return cmd_props(a, argv0);
    if (cmd == "fuzz") return cmd_fuzz(a, argv0);
    if (cmd == "bench") return cmd_bench(a);
    throw UsageError("unknown command '" + printable(cmd, 60) + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "bncheck: %s\n(`bncheck help` lists the commands, options and the descriptor format)\n",
                 e.what());
    return kExitUsage;
  } catch (const DescriptorError& e) {
    std::fprintf(stderr, "bncheck: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bncheck: internal error: %s\n", printable(e.what()).c_str());
    return kExitFail;
  }
}
