// `bncheck report`: merges the JSON reports of runs or of a fuzz campaign's shards
// (run on several machines) into one summary, JSON and JUnit, after checking that
// the shards partition the campaign.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "api/text.hpp"
#include "cli/common.hpp"
#include "harness/report.hpp"

namespace bncheck::cli {

namespace {

struct Loaded {
  std::string path;
  report::RunSummary summary;
  std::vector<report::CaseResult> cases;
};

Loaded load_report(const std::string& path) {
  auto r = read_report_file(path);
  return {path, std::move(r.first), std::move(r.second)};
}

// The shards must come from one campaign (seed, bounds, generator) and together hold
// each shard index 0..N-1 once; each case must belong to its file's shard.
void check_partition(const std::vector<Loaded>& in) {
  const auto& c0 = in[0].summary.campaign;
  std::set<int> shards;
  for (const auto& l : in) {
    const auto& c = l.summary.campaign;
    if (!c) throw UsageError(printable(l.path) + ": a fuzz report without its campaign");
    if (c->seed != c0->seed || c->shards != c0->shards || c->cases != c0->cases || c->seconds != c0->seconds ||
        c->generator != c0->generator || c->backends != c0->backends)
      throw UsageError(printable(l.path) + ": another campaign (seed " + std::to_string(c->seed) + ", shards " +
                       std::to_string(c->shards) + ", backends " + printable(c->backends, 200) + ") than " +
                       printable(in[0].path) + " (seed " + std::to_string(c0->seed) + ", shards " +
                       std::to_string(c0->shards) + ", backends " + printable(c0->backends, 200) + ")");
    if (!shards.insert(c->shard).second)
      throw UsageError(printable(l.path) + ": shard " + std::to_string(c->shard) + "/" + std::to_string(c->shards) +
                       " given twice");
    for (const auto& k : l.cases)
      if (k.case_index < 0 || k.case_index % c->shards != c->shard)
        throw UsageError(printable(l.path) + ": case " + std::to_string(k.case_index) + " does not belong to shard " +
                         std::to_string(c->shard) + "/" + std::to_string(c->shards));
  }
  std::string missing;
  for (int s = 0; s < c0->shards; ++s)
    if (!shards.count(s)) missing += (missing.empty() ? "" : ", ") + std::to_string(s);
  if (!missing.empty())
    throw UsageError("the shards do not partition the campaign: missing shard(s) " + missing + " of " +
                     std::to_string(c0->shards));
}

}  // namespace

int cmd_report(Args& a) {
  std::vector<std::string> files;
  std::string json_path, junit_path;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--json")
      json_path = a.value(opt);
    else if (opt == "--junit")
      junit_path = a.value(opt);
    else if (!opt.empty() && opt[0] == '-')
      throw UsageError("unknown option '" + printable(opt, 60) + "' for report");
    else
      files.push_back(opt);
  }
  if (files.empty()) throw UsageError("report needs the JSON reports to merge");
  check_writable_file("--json", json_path);
  check_writable_file("--junit", junit_path);
  std::vector<Loaded> in;
  in.reserve(files.size());
  for (const auto& f : files) in.push_back(load_report(f));
  const std::string command = in[0].summary.command;
  for (const auto& l : in)
    if (l.summary.command != command)
      throw UsageError(printable(l.path) + " reports `" + l.summary.command + "`, " + printable(in[0].path) +
                       " reports `" + command + "`: not one campaign");
  if (command == "fuzz") check_partition(in);

  report::RunSummary sum;
  sum.command = command;
  std::vector<report::CaseResult> cases;
  std::set<std::tuple<int64_t, std::string, std::string>> seen;  // (case, backend, problem)
  for (const auto& l : in) {
    sum.complete &= l.summary.complete;
    if (!l.summary.complete)
      sum.incomplete_reason += (sum.incomplete_reason.empty() ? "" : "; ") + printable(l.path) + ": " +
                               printable(l.summary.incomplete_reason, 200);
    sum.cases_planned += l.summary.cases_planned;
    for (const auto& c : l.cases) {
      if (!seen.insert({c.case_index, c.report.backend, to_string(c.report.problem)}).second)
        throw UsageError(printable(l.path) + ": the case " + printable(to_string(c.report.problem), 200) + " on " +
                         printable(c.report.backend, 100) + " is in two reports");
      cases.push_back(c);
      ++sum.counts[c.report.verdict];
    }
  }
  if (command == "fuzz") {
    sum.campaign = in[0].summary.campaign;
    sum.campaign->shard = 0;
    sum.campaign->shards = 1;
    std::stable_sort(cases.begin(), cases.end(), [](const report::CaseResult& x, const report::CaseResult& y) {
      return x.case_index < y.case_index;
    });
  }

  // Per backend: verdict counts; then the failures that are not known, with repro lines.
  std::map<std::string, std::map<Verdict, int>> per;
  int unknown = 0;
  bool any_checked = false;
  for (const auto& c : cases) {
    ++per[c.report.backend][c.report.verdict];
    any_checked |= checked(c.report.verdict);
    unknown += is_failure(c.report.verdict) && c.known.empty();
  }
  std::printf("bncheck report: %zu %s report(s), %zu cases%s\n", in.size(), command.c_str(), cases.size(),
              command == "fuzz" ? (", shards 0.." + std::to_string(in.size() - 1) + " of one campaign").c_str() : "");
  for (const auto& [b, counts] : per) {
    std::printf("  %-20s", printable(b, 60).c_str());
    for (const auto& [v, n] : counts) std::printf(" %d %s", n, to_string(v));
    std::printf("\n");
  }
  for (const auto& c : cases)
    if (is_failure(c.report.verdict))
      std::printf("%s %s%s: %s\n  repro: %s\n", to_string(c.report.verdict), printable(c.report.backend, 60).c_str(),
                  c.known.empty() ? "" : (" (known: " + printable(c.known, 60) + ")").c_str(),
                  printable(c.report.message).c_str(), printable(c.repro).c_str());
  // A report cut short (an interrupted shard) is not the campaign it belongs to.
  if (!sum.complete) std::printf("incomplete: %s (exit %d)\n", sum.incomplete_reason.c_str(), kExitFail);
  std::printf("summary: %d unknown failures\n", unknown);
  bool ok = write_report(json_path, report::run_json(sum, cases) + "\n");
  ok &= write_report(junit_path, report::run_junit(sum, cases));
  const int st = exit_status(unknown > 0 || !sum.complete, any_checked);
  return st == kExitOk && !ok ? kExitFail : st;
}

}  // namespace bncheck::cli
