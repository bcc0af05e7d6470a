// `bncheck run`: problems (descriptors, suites, saved cases) on backends against the reference.
#include "cli/common.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "api/text.hpp"
#include "harness/case_files.hpp"
#include "harness/file_protocol.hpp"
#include "harness/interrupt.hpp"
#include "harness/report.hpp"
#include "harness/runner.hpp"

namespace bncheck::cli {

namespace {

struct RunOptions {
  std::string backends = "all";
  bool backends_given = false;
  std::vector<std::string> problem_descs, case_dirs;
  std::string suite;
  uint64_t seed = 1;
  std::string save_dir, save_failures_dir, json_path, junit_path;
  double max_bytes = 0;
  bool verbose = false;
  bool quiet = false;  // no live progress line
  BaselineOptions baseline;
  BackendOptions backend_options;
};

RunOptions parse_run(Args& a) {
  RunOptions o;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--backend") {
      o.backends = a.value(opt);
      o.backends_given = true;
    } else if (opt == "--problem")
      o.problem_descs.push_back(a.value(opt));
    else if (opt == "--case")
      o.case_dirs.push_back(a.value(opt));
    else if (opt == "--suite")
      o.suite = a.value(opt);
    else if (opt == "--seed")
      o.seed = a.seed(opt);
    else if (opt == "--save")
      o.save_dir = a.value(opt);
    else if (opt == "--save-failures")
      o.save_failures_dir = a.value(opt);
    else if (opt == "--json")
      o.json_path = a.value(opt);
    else if (opt == "--junit")
      o.junit_path = a.value(opt);
    else if (opt == "--max-memory")
      o.max_bytes = a.number(opt, 0, 1 << 20, true) * double(1ull << 30);
    else if (opt == "--verbose" || opt == "-v")
      o.verbose = true;
    else if (opt == "--quiet" || opt == "-q")
      o.quiet = true;
    else if (o.baseline.parse(opt, a) || o.backend_options.parse(opt, a))
      continue;
    else
      throw UsageError("unknown option '" + printable(opt, 60) + "' for run");
  }
  return o;
}

// One problem of a run: generated from its descriptor, or a saved case's own data.
struct RunProblem {
  Problem problem;
  std::optional<CaseData> data;
  std::string origin;             // the --case directory
  std::string saved_backend;      // the backend the case was saved for
  std::string repro;              // the repro line, when not run's own (check)
  std::function<void()> prepare;  // before the problem's cases run (check: the files to read)
};

// What `run` has so far; finish() prints the summary and writes the JSON, complete or not.
struct RunState {
  const RunOptions& o;
  Baseline baseline;
  std::vector<report::CaseResult> results;
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
    for (Verdict v :
         {Verdict::pass, Verdict::fail, Verdict::mistrusted, Verdict::unsupported, Verdict::error, Verdict::unwritten,
          Verdict::oob_write, Verdict::crash, Verdict::timeout, Verdict::skipped, Verdict::unavailable})
      if (counts[v]) std::printf(" %d %s", counts[v], to_string(v));
    std::printf(" (of %d cases)\n", case_no);
    if (!incomplete_why.empty())
      std::printf("incomplete: %s; %d of %d cases ran\n", incomplete_why.c_str(), case_no, total);
    for (const auto& e : baseline.entries)  // matched only passing cases: fixed, or the pattern is too wide
      if (e.seen && !e.failed)
        fixed_lines.push_back("known failure " + e.finding + " (" + e.backend + " " + e.problem +
                              ") matched only passing cases: update the baseline");
    if (known) std::printf("known failures (baseline, documented in docs/findings.md): %d\n", known);
    for (const auto& l : fixed_lines) std::printf("%s\n", l.c_str());
    if (o.baseline.strict && incomplete_why.empty())
      for (const auto& l : fixed_lines) failure_lines.push_back(l);
    if (!failure_lines.empty()) {
      std::printf("\nfailures:\n");
      for (const auto& l : failure_lines) std::printf("%s\n", l.c_str());
    }
    bool any_checked = false;
    for (const auto& c : results) any_checked |= checked(c.report.verdict);
    if (!any_checked && failure_lines.empty())
      std::printf("nothing was checked: every case was unsupported, skipped or unavailable (exit %d)\n",
                  kExitNothingChecked);
    report::RunSummary sum;
    sum.complete = incomplete_why.empty();
    sum.incomplete_reason = incomplete_why;
    sum.cases_planned = total;
    sum.counts = counts;
    bool reports_ok = write_report(o.json_path, report::run_json(sum, results) + "\n");
    reports_ok &= write_report(o.junit_path, report::run_junit(sum, results));
    std::fflush(stdout);
    const int st = exit_status(!failure_lines.empty(), any_checked);
    return st == kExitOk && !reports_ok ? kExitFail : st;
  }
};

std::vector<RunProblem> run_problems(const RunOptions& o) {
  std::vector<RunProblem> problems;
  for (const auto& d : o.problem_descs) {
    Problem base;
    base.n = 0;
    base.c = 0;
    base.seed = o.seed;
    problems.push_back({parse_problem(d, base), std::nullopt, "", "", "", nullptr});
  }
  for (const auto& dir : o.case_dirs) {
    SavedCase sc = load_case(dir);
    problems.push_back({sc.problem, std::move(sc.data), dir, sc.backend, "", nullptr});
  }
  if (!o.suite.empty() || (problems.empty() && o.case_dirs.empty())) {
    for (auto& p : load_suite(o.suite.empty() ? "default" : o.suite, o.seed))
      problems.push_back({p, std::nullopt, "", "", "", nullptr});
  }
  return problems;
}

void check_report_paths(const RunOptions& o) {
  check_writable_file("--json", o.json_path);
  check_writable_file("--junit", o.junit_path);
  check_writable_dir("--save", o.save_dir);
  check_writable_dir("--save-failures", o.save_failures_dir);
}

// Runs every problem on every backend: the table, repro lines, saved cases, the summary
// and the reports (run and check).
int run_cases(const RunOptions& o, std::vector<RunProblem>& problems, const std::vector<Backend*>& backends,
              const std::string& argv0, const char* command) {
  const double max_bytes = o.max_bytes > 0 ? o.max_bytes : 0.8 * available_memory_bytes();
  RunState st(o, o.baseline.load());
  st.total = static_cast<int>(problems.size() * backends.size());
  install_interrupt_handlers();
  set_emergency_finish([&](const std::string& why) { st.finish(why); });
  if (problems.empty()) std::printf("bncheck %s: the suite has no problems\n", command);

  std::printf("bncheck %s: %zu problems x %zu backends (reference: %s)\n", command, problems.size(), backends.size(),
              reference_mode() == ReferenceMode::slow
                  ? "256-bit Boost.Multiprecision cpp_bin_float throughout"
                  : "exact sums, double-double with a rounding test, 256 bits where undecided");
  std::fputs(report::table_header().c_str(), stdout);
  // A live line under the table on a terminal: cases done, failures, rate, time left.
  ProgressLine progress(isatty(fileno(stdout)) && !o.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  int failing = 0;
  for (RunProblem& rp : problems) {
    if (interrupted()) break;
    const Problem& p = rp.problem;
    if (rp.prepare) rp.prepare();
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
      const std::string repro = !rp.repro.empty() ? rp.repro
                                : rp.origin.empty()
                                    ? repro_line(argv0, *b, p)
                                    : shell_word(argv0) + " run" + backend_repro_options(*b) + " --backend " +
                                          shell_word(b->name()) + " --case " + shell_word(rp.origin);
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
      if (const int sig = interrupted()) {  // the call in flight was cut short: not a verdict on the backend
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
      progress.clear();
      std::fputs(report::table_row(case_no, r).c_str(), stdout);
      const bool passed = r.verdict == Verdict::pass;
      if (!passed && !r.message.empty()) std::printf("      %s%s\n", r.message.c_str(), known_note.c_str());
      if (o.verbose || is_failure(r.verdict))
        for (const auto& t : r.tensors)
          if (o.verbose || t.failures || t.unwritten) std::fputs(report::tensor_line(p, t).c_str(), stdout);
      if (is_failure(r.verdict)) std::printf("      repro: %s\n", repro.c_str());
      if (is_failure(r.verdict) && (known_note.empty() || o.baseline.strict)) {
        st.failure_lines.push_back(std::string(to_string(r.verdict)) + " " + r.backend + ": " + r.message +
                                   "\n  repro: " + repro);
      }
      const std::string save_dir = !o.save_dir.empty() ? o.save_dir : (!passed ? o.save_failures_dir : "");
      if (!save_dir.empty() && runner && !r.tensors.empty()) {
        const std::string stem = "seed" + std::to_string(p.seed) + "_case" + std::to_string(case_no) + "_" + r.backend;
        const auto saved = save_case(save_dir, stem, *runner, r, outputs, repro);
        if (!saved)
          std::printf("      save: %s\n", saved.error().c_str());
        else if (!passed)
          std::printf("      saved: %s\n", printable(*saved).c_str());
      }
      failing += is_failure(r.verdict) && (known_note.empty() || o.baseline.strict);
      progress.show(case_no, st.total, failing,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      std::fflush(stdout);
      st.results.push_back(
          {std::move(r), repro, be && !known_note.empty() && !o.baseline.strict ? be->finding : "", -1, ""});
    }
  }
  progress.clear();
  set_emergency_finish(nullptr);
  const int sig = interrupted();
  return st.finish(sig ? "interrupted by " + signal_text(sig) : "");
}

}  // namespace

namespace {

// --numerics acc=N,compute=N,stats=ALG,sum_based,folded,ftz,fast_math,nondeterministic
Numerics parse_numerics(const std::string& v) {
  Numerics n;
  bool acc = false, compute = false;
  std::stringstream items(v);
  for (std::string w; std::getline(items, w, ',');) {
    const size_t eq = w.find('=');
    const std::string key = w.substr(0, eq), val = eq == std::string::npos ? "" : w.substr(eq + 1);
    if (key == "acc" && eq != std::string::npos) {
      n.accumulation_bits = static_cast<int>(parse_integer("--numerics acc", val, 2, 113));
      acc = true;
    } else if (key == "compute" && eq != std::string::npos) {
      n.compute_bits = static_cast<int>(parse_integer("--numerics compute", val, 2, 113));
      compute = true;
    } else if (key == "stats" && eq != std::string::npos) {
      if (val == "two_pass")
        n.stats = StatsAlgorithm::two_pass;
      else if (val == "welford")
        n.stats = StatsAlgorithm::welford;
      else if (val == "one_pass")
        n.stats = StatsAlgorithm::one_pass;
      else
        throw UsageError("--numerics stats= is two_pass, welford or one_pass, not '" + printable(val, 40) + "'");
    } else if (w == "sum_based") {
      n.sum_based_stats = true;
    } else if (w == "folded") {
      n.folds_inference = true;
    } else if (w == "ftz") {
      n.flush_denormals = true;
    } else if (w == "fast_math") {
      n.fast_math = true;
    } else if (w == "nondeterministic") {
      n.deterministic = false;
    } else {
      throw UsageError("--numerics: unknown item '" + printable(w, 40) +
                       "' (acc=N, compute=N, stats=ALG, sum_based, folded, ftz, fast_math, nondeterministic)");
    }
  }
  if (acc != compute && !acc) n.accumulation_bits = n.compute_bits;
  if (acc != compute && !compute) n.compute_bits = n.accumulation_bits;
  return n;
}

}  // namespace

// `bncheck check DIR`: outputs written by any implementation for cases of `bncheck gen`,
// judged like `run` judges a backend.
int cmd_check(Args& a, const std::string& argv0) {
  RunOptions o;
  o.baseline.none = true;  // known failures name built-in backends
  std::string root, name = "file", conv_text, numerics_text;
  std::optional<Numerics> numerics;
  std::optional<Conventions> conv_override;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--conventions") {
      conv_text = a.value(opt);
      try {
        conv_override = parse_conventions(conv_text);
      } catch (const DescriptorError& e) {
        throw UsageError(std::string("--conventions: ") + e.what());
      }
    } else if (opt == "--numerics") {
      numerics_text = a.value(opt);
      numerics = parse_numerics(numerics_text);
    } else if (opt == "--name") {
      name = a.value(opt);
      if (!valid_backend_name(name))
        throw UsageError("--name '" + printable(name, 60) + "': letters, digits, '_', '-' and '.' only");
    } else if (opt == "--save")
      o.save_dir = a.value(opt);
    else if (opt == "--save-failures")
      o.save_failures_dir = a.value(opt);
    else if (opt == "--json")
      o.json_path = a.value(opt);
    else if (opt == "--junit")
      o.junit_path = a.value(opt);
    else if (opt == "--max-memory")
      o.max_bytes = a.number(opt, 0, 1 << 20, true) * double(1ull << 30);
    else if (opt == "--verbose" || opt == "-v")
      o.verbose = true;
    else if (opt == "--quiet" || opt == "-q")
      o.quiet = true;
    else if (!opt.empty() && opt[0] != '-' && root.empty())
      root = opt;
    else
      throw UsageError("unknown option '" + printable(opt, 60) + "' for check");
  }
  if (root.empty()) throw UsageError("check needs a directory written by `bncheck gen`");
  check_report_paths(o);
  auto backend = std::make_shared<FileBackend>(name, numerics);
  std::vector<RunProblem> problems;
  for (const std::string& dir : generated_case_dirs(root)) {
    GeneratedCase g = read_generated_case(dir);
    Conventions conv = conv_override.value_or(g.conv);
    // A backward's saved statistics were written under the generated conventions.
    if (g.problem.dir == Direction::bwd && (conv.saved != g.conv.saved || conv.eps_float != g.conv.eps_float ||
                                            conv.zero_var_invstd_is_zero != g.conv.zero_var_invstd_is_zero))
      throw UsageError(printable(dir) + ": --conventions " + printable(conv_text, 80) +
                       " changes the saved statistic the backward case was generated with (" + to_string(g.conv) +
                       "): generate it with these conventions");
    std::string repro = shell_word(argv0) + " check " + shell_word(std::filesystem::absolute(dir).string());
    if (!conv_text.empty()) repro += " --conventions " + shell_word(conv_text);
    if (!numerics_text.empty()) repro += " --numerics " + shell_word(numerics_text);
    if (name != "file") repro += " --name " + shell_word(name);
    RunProblem rp{g.problem, std::move(g.data), dir, name, repro, nullptr};
    rp.prepare = [backend, dir, conv] { backend->set_case(dir, conv); };
    problems.push_back(std::move(rp));
  }
  return run_cases(o, problems, {backend.get()}, argv0, "check");
}

int cmd_run(Args& a, const std::string& argv0) {
  RunOptions o = parse_run(a);
  check_report_paths(o);
  std::vector<RunProblem> problems = run_problems(o);
  std::string spec = o.backends;
  if (!o.backends_given && !o.case_dirs.empty()) {  // a saved case reruns on the backend it was saved for
    std::set<std::string> names;
    for (const auto& rp : problems)
      if (!rp.origin.empty()) names.insert(rp.saved_backend);
    spec.clear();
    for (const auto& n : names) spec += (spec.empty() ? "" : ",") + n;
  }
  auto all = o.backend_options.load();
  return run_cases(o, problems, select_backends(all, spec), argv0, "run");
}

}  // namespace bncheck::cli
