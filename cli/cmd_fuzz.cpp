// `bncheck fuzz`: generated cases, minimised failures, shards.
#include "cli/common.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "api/text.hpp"
#include "fuzz/campaign.hpp"
#include "harness/interrupt.hpp"
#include "harness/report.hpp"

namespace bncheck::cli {

namespace {

// --dir, --dt, --layout: a comma-separated list of the descriptor's values.
void parse_filter(const std::string& opt, const std::string& list, fuzz::Filter* f) {
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string v = list.substr(start, end - start);
    start = end + 1;
    bool ok = false;
    if (opt == "--dir") {
      for (Direction d : {Direction::fwd_train, Direction::fwd_infer, Direction::bwd})
        if (v == to_string(d)) f->dirs.push_back(d), ok = true;
    } else if (opt == "--layout") {
      for (Layout l : {Layout::channels_first, Layout::channels_last})
        if (v == to_string(l)) f->layouts.push_back(l), ok = true;
    } else if (const auto dt = parse_dtype(v)) {
      f->dtypes.push_back(*dt);
      ok = true;
    }
    if (!ok)
      throw UsageError("bad value '" + printable(v, 40) + "' for " + opt +
                       (opt == "--dir"      ? " (fwd_train, fwd_infer, bwd)"
                        : opt == "--layout" ? " (cf, cl)"
                                            : " (f64, f32, f16, bf16)"));
  }
}

}  // namespace

int cmd_fuzz(Args& a, const std::string& argv0) {
  BackendOptions bo;
  fuzz::Options o;
  o.argv0 = argv0;
  std::string backend_spec = "all";
  bool dry = false;
  std::string splits = "auto";  // distributed-BN draws: when a selected backend has split statistics
  std::string json_path, junit_path;
  BaselineOptions bl;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--backend")
      backend_spec = a.value(opt);
    else if (opt == "--cases")
      o.cases = a.integer(opt, 1, int64_t{1} << 62);
    else if (opt == "--seconds")
      o.seconds = a.number(opt, 0, 1e9, true);
    else if (opt == "--seed")
      o.seed = a.seed(opt);
    else if (opt == "--shard")
      cli::parse_shard(opt, a.value(opt), &o.shard, &o.shards);
    else if (opt == "--max-elements")
      o.limits.max_elements = a.integer(opt, 1, int64_t{1} << 40);
    else if (opt == "--max-memory")
      o.max_bytes = a.number(opt, 0, 1 << 20, true) * double(1ull << 30);
    else if (opt == "--save-failures")
      o.save_failures = a.value(opt);
    else if (opt == "--append-regressions")
      o.append_regressions = a.value(opt);
    else if (opt == "--dir" || opt == "--dt" || opt == "--layout")
      parse_filter(opt, a.value(opt), &o.filter);
    else if (opt == "--dry-run")
      dry = true;
    else if (opt == "--splits") {
      const std::string v = a.value(opt);
      if (v != "auto" && v != "on" && v != "off")
        throw UsageError("--splits is auto, on or off, not '" + printable(v, 40) + "'");
      splits = v;
    } else if (opt == "--quiet" || opt == "-q")
      o.quiet = true;
    else if (opt == "--json")
      json_path = a.value(opt);
    else if (opt == "--junit")
      junit_path = a.value(opt);
    else if (!bl.parse(opt, a) && !bo.parse(opt, a))
      throw UsageError("unknown option '" + printable(opt, 60) + "' for fuzz");
  }
  if (o.cases < 0 && o.seconds < 0) o.cases = 200;
  auto all = bo.load();
  std::vector<Backend*> backends;
  for (Backend* b : select_backends(all, backend_spec))
    if (b->availability().available) backends.push_back(b);
  o.limits.splits = splits == "on";
  if (splits == "auto")
    for (const Backend* b : backends) o.limits.splits |= b->split_kind() != SplitKind::none;
  if (dry) {
    if (o.cases < 0) throw UsageError("--dry-run needs --cases");
    for (uint64_t i : fuzz::case_indices(o)) {
      std::string note;
      const Problem p = o.filter.apply(fuzz::generate(o.seed, i, o.limits, &note), i);
      std::printf("%llu %s%s\n", static_cast<unsigned long long>(i), to_string(p).c_str(),
                  note.empty() ? "" : ("  # " + note).c_str());
    }
    return kExitOk;
  }
  if (o.max_bytes <= 0) o.max_bytes = 0.8 * available_memory_bytes();
  o.progress_tty = isatty(fileno(stdout));
  check_writable_dir("--save-failures", o.save_failures);
  check_writable_file("--append-regressions", o.append_regressions);
  check_writable_file("--json", json_path);
  check_writable_file("--junit", junit_path);
  o.keep_results = !json_path.empty() || !junit_path.empty();
  Baseline baseline = bl.load();
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
  for (const auto& f : sum.failures) unknown += f.known.empty() || bl.strict;
  std::printf("failures: %d unknown, %zu known (docs/findings.md)\n", unknown, sum.failures.size() - unknown);
  if (const int sig = interrupted())
    std::printf("incomplete: interrupted by %s\n", signal_text(sig).c_str());
  else if (!any_checked && !unknown)
    std::printf("nothing was checked: every case was unsupported, skipped or unavailable (exit %d)\n",
                kExitNothingChecked);
  report::RunSummary rs;
  rs.command = "fuzz";
  rs.complete = interrupted() == 0;
  if (!rs.complete) rs.incomplete_reason = "interrupted by " + signal_text(interrupted());
  // Planned: the shard's cases when bounded by cases (a short shard shows), else those run.
  rs.cases_planned = static_cast<int>(o.cases >= 0 ? fuzz::case_indices(o).size() : static_cast<size_t>(sum.cases));
  std::string names;
  for (Backend* b : backends) names += (names.empty() ? "" : ",") + b->name();
  rs.campaign = report::RunSummary::Campaign{
      o.seed,
      o.shard,
      o.shards,
      o.cases,
      o.seconds,
      "max_elements=" + std::to_string(o.limits.max_elements) + (o.limits.splits ? ",splits=on" : ",splits=off"),
      names};
  std::vector<report::CaseResult> results = sum.results;
  for (auto& r : results) {
    if (bl.strict) r.known.clear();
    ++rs.counts[r.report.verdict];
  }
  bool ok = write_report(json_path, report::run_json(rs, results) + "\n");
  ok &= write_report(junit_path, report::run_junit(rs, results));
  const int st = exit_status(unknown > 0, any_checked);
  return st == kExitOk && !ok ? kExitFail : st;
}

}  // namespace bncheck::cli
