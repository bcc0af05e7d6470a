// `bncheck compare BASE.json NEW.json`: a run (or fuzz campaign) against a stored one,
// case by case: new failures, fixed failures and accuracy regressions. Exit 1 on a
// new failure or a regression.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "api/text.hpp"
#include "cli/common.hpp"
#include "harness/report.hpp"

namespace bncheck::cli {

namespace {

std::pair<report::RunSummary, std::vector<report::CaseResult>> load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw UsageError("cannot read " + printable(path));
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto r = report::read_run_json(text);
  if (!r) throw UsageError(printable(path) + ": " + r.error());
  return std::move(*r);
}

// A case is the same case in both reports when backend and problem (and, for a fuzz
// campaign, the case number) agree.
std::string key(const report::CaseResult& c) {
  return c.report.backend + " " + to_string(c.report.problem) +
         (c.case_index >= 0 ? " #" + std::to_string(c.case_index) : "");
}

bool failing(const report::CaseResult& c) { return is_failure(c.report.verdict) && c.known.empty(); }

}  // namespace

int cmd_compare(Args& a) {
  std::vector<std::string> files;
  double factor = 2;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--factor")
      factor = a.number(opt, 1, 1e12, false);
    else if (!opt.empty() && opt[0] == '-')
      throw UsageError("unknown option '" + printable(opt, 60) + "' for compare");
    else
      files.push_back(opt);
  }
  if (files.size() != 2) throw UsageError("compare needs two JSON reports: BASE NEW");
  const auto base = load(files[0]), now = load(files[1]);
  std::map<std::string, const report::CaseResult*> before;
  for (const auto& c : base.second) before[key(c)] = &c;
  int new_failures = 0, fixed = 0, regressions = 0, compared = 0, only_new = 0;
  // Errors below this fraction of the budget are not compared: a factor between two
  // errors that small says nothing about the implementation.
  constexpr double kFloor = 1.0 / 64;
  std::printf("bncheck compare: %s (%zu cases) -> %s (%zu cases), accuracy factor %g\n", printable(files[0]).c_str(),
              base.second.size(), printable(files[1]).c_str(), now.second.size(), factor);
  for (const auto& c : now.second) {
    const auto it = before.find(key(c));
    if (it == before.end()) {
      ++only_new;
      continue;
    }
    const report::CaseResult& b = *it->second;
    before.erase(it);
    ++compared;
    if (failing(c) && !failing(b)) {
      ++new_failures;
      std::printf("NEW FAILURE %s %s (was %s): %s\n  repro: %s\n", c.report.backend.c_str(),
                  to_string(c.report.verdict), to_string(b.report.verdict), printable(c.report.message).c_str(),
                  printable(c.repro).c_str());
      continue;
    }
    if (failing(b) && !failing(c)) {
      ++fixed;
      std::printf("FIXED %s %s (now %s): %s\n", c.report.backend.c_str(), to_string(b.report.verdict),
                  to_string(c.report.verdict), printable(to_string(c.report.problem)).c_str());
      continue;
    }
    std::map<std::string, const TensorReport*> bt;
    for (const auto& t : b.report.tensors) bt[t.name] = &t;
    for (const auto& t : c.report.tensors) {
      const auto j = bt.find(t.name);
      if (j == bt.end()) continue;
      const double r0 = j->second->max_ratio, r1 = t.max_ratio;
      if (r1 > std::max(factor * r0, kFloor)) {
        ++regressions;
        std::printf("ACCURACY %s %s: err/budget %s -> %s (x%s), max ulp %s -> %s: %s\n  repro: %s\n",
                    c.report.backend.c_str(), t.name.c_str(), report::number(r0).c_str(), report::number(r1).c_str(),
                    report::number(r0 > 0 ? r1 / r0 : HUGE_VAL).c_str(), report::number(j->second->max_ulp).c_str(),
                    report::number(t.max_ulp).c_str(), printable(to_string(c.report.problem)).c_str(),
                    printable(c.repro).c_str());
      }
    }
  }
  std::printf(
      "summary: %d cases compared, %d new failures, %d fixed, %d accuracy regressions (factor %g); %d only "
      "in the new report, %zu only in the base\n",
      compared, new_failures, fixed, regressions, factor, only_new, before.size());
  if (compared == 0) {
    std::printf("nothing was compared: no case is in both reports (exit %d)\n", kExitNothingChecked);
    return kExitNothingChecked;
  }
  return new_failures + regressions > 0 ? kExitFail : kExitOk;
}

}  // namespace bncheck::cli
