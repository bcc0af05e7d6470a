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
#include "harness/json_read.hpp"
#include "harness/report.hpp"

namespace bncheck::cli {

namespace {

// A case is the same case in both reports when backend and problem (and, for a fuzz
// campaign, the case number) agree.
std::string key(const report::CaseResult& c) {
  return c.report.backend + " " + to_string(c.report.problem) +
         (c.case_index >= 0 ? " #" + std::to_string(c.case_index) : "");
}

bool failing(const report::CaseResult& c) { return is_failure(c.report.verdict) && c.known.empty(); }

// Quantile q of sorted samples (linear between neighbours).
double quantile(const std::vector<double>& s, double q) {
  const double at = q * static_cast<double>(s.size() - 1);
  const size_t lo = static_cast<size_t>(at);
  const size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (s[hi] - s[lo]) * (at - static_cast<double>(lo));
}

struct Timing {
  std::vector<double> samples;    // sorted
  double median = 0, spread = 0;  // spread: interquartile range / median
};

std::map<std::string, Timing> timings(const json::Value& d, const std::string& path) {
  std::map<std::string, Timing> out;
  const json::Value* rs = d.get("results");
  if (!rs || rs->kind != json::Value::Kind::array)
    throw UsageError(printable(path) + ": a bench report without results");
  for (const json::Value& r : rs->items) {
    Timing t;
    if (const json::Value* s = r.get("samples_s"))
      for (const json::Value& x : s->items)
        if (x.kind == json::Value::Kind::number && x.num > 0) t.samples.push_back(x.num);
    if (t.samples.empty()) continue;
    std::sort(t.samples.begin(), t.samples.end());
    t.median = quantile(t.samples, 0.5);
    t.spread = (quantile(t.samples, 0.75) - quantile(t.samples, 0.25)) / t.median;
    out[r.get_string("backend").value_or("") + " " + r.get_string("problem").value_or("")] = std::move(t);
  }
  return out;
}

// Speed: a median slower than the base's by more than the threshold, which is the
// larger of --speed-threshold and 4 times the measurements' own spread (interquartile
// range over median, of the noisier of the two). Where that threshold reaches 1, a
// slowdown of 2x could hide in the noise: said, not counted as a regression.
int compare_bench(const json::Value& b, const json::Value& n, const std::vector<std::string>& files, double min_rel) {
  const auto base = timings(b, files[0]), now = timings(n, files[1]);
  int compared = 0, slower = 0, noisy = 0;
  std::printf("bncheck compare: bench %s -> %s, speed threshold %g (or 4x the spread)\n", printable(files[0]).c_str(),
              printable(files[1]).c_str(), min_rel);
  for (const auto& [k, t] : now) {
    const auto it = base.find(k);
    if (it == base.end()) continue;
    ++compared;
    const Timing& t0 = it->second;
    const double thr = std::max(min_rel, 4 * std::max(t0.spread, t.spread));
    const double ratio = t.median / t0.median;
    if (thr >= 1) {
      ++noisy;
      std::printf("NOISY %s: spread %.0f%% / %.0f%%: a 2x change could hide (ratio %.2f)\n", printable(k).c_str(),
                  100 * t0.spread, 100 * t.spread, ratio);
    } else if (ratio > 1 + thr) {
      ++slower;
      std::printf("SLOWER %s: median %s -> %s s (x%.2f, threshold x%.2f; %zu and %zu samples)\n", printable(k).c_str(),
                  report::number(t0.median).c_str(), report::number(t.median).c_str(), ratio, 1 + thr,
                  t0.samples.size(), t.samples.size());
    }
  }
  std::printf("summary: %d timings compared, %d slower, %d too noisy to judge\n", compared, slower, noisy);
  if (compared == 0) {
    std::printf("nothing was compared: no backend and problem is in both reports (exit %d)\n", kExitNothingChecked);
    return kExitNothingChecked;
  }
  return slower > 0 ? kExitFail : kExitOk;
}

}  // namespace

int cmd_compare(Args& a) {
  std::vector<std::string> files;
  double factor = 2, speed = 0.5;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--factor")
      factor = a.number(opt, 1, 1e12, false);
    else if (opt == "--speed-threshold")
      speed = a.number(opt, 0, 1e6, false);
    else if (!opt.empty() && opt[0] == '-')
      throw UsageError("unknown option '" + printable(opt, 60) + "' for compare");
    else
      files.push_back(opt);
  }
  if (files.size() != 2) throw UsageError("compare needs two JSON reports: BASE NEW");
  {
    const json::Value b = read_json_file(files[0]), n = read_json_file(files[1]);
    const std::string cb = b.get_string("command").value_or(""), cn = n.get_string("command").value_or("");
    if ((cb == "bench") != (cn == "bench"))
      throw UsageError("compare takes two bench reports, or two reports of run or fuzz");
    if (cb == "bench") return compare_bench(b, n, files, speed);
  }
  const auto base = read_report_file(files[0]), now = read_report_file(files[1]);
  std::map<std::string, const report::CaseResult*> before;
  for (const auto& c : base.second) before[key(c)] = &c;
  int new_failures = 0, fixed = 0, regressions = 0, compared = 0, only_new = 0, lost = 0;
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
    const std::string backend = printable(c.report.backend, 60);
    if (checked(b.report.verdict) && !checked(c.report.verdict)) {  // e.g. a device gone: nothing was checked
      ++lost;
      std::printf("LOST %s: was %s, now %s (%s): %s\n", backend.c_str(), to_string(b.report.verdict),
                  to_string(c.report.verdict), printable(c.report.message, 200).c_str(),
                  printable(to_string(c.report.problem)).c_str());
      continue;
    }
    if (failing(c) && !failing(b)) {
      ++new_failures;
      std::printf("NEW FAILURE %s %s (was %s): %s\n  repro: %s\n", backend.c_str(), to_string(c.report.verdict),
                  to_string(b.report.verdict), printable(c.report.message).c_str(), printable(c.repro).c_str());
      continue;
    }
    if (failing(b) && !failing(c)) {
      ++fixed;
      std::printf("FIXED %s %s (now %s): %s\n", backend.c_str(), to_string(b.report.verdict),
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
        std::printf("ACCURACY %s %s: err/budget %s -> %s (x%s), max ulp %s -> %s: %s\n  repro: %s\n", backend.c_str(),
                    printable(t.name, 40).c_str(), report::number(r0).c_str(), report::number(r1).c_str(),
                    report::number(r0 > 0 ? r1 / r0 : HUGE_VAL).c_str(), report::number(j->second->max_ulp).c_str(),
                    report::number(t.max_ulp).c_str(), printable(to_string(c.report.problem)).c_str(),
                    printable(c.repro).c_str());
      }
    }
  }
  std::printf(
      "summary: %d cases compared, %d new failures, %d fixed, %d accuracy regressions (factor %g), %d no longer "
      "checked; %d only in the new report, %zu only in the base\n",
      compared, new_failures, fixed, regressions, factor, lost, only_new, before.size());
  if (compared == 0) {
    std::printf("nothing was compared: no case is in both reports (exit %d)\n", kExitNothingChecked);
    return kExitNothingChecked;
  }
  return new_failures + regressions + lost > 0 ? kExitFail : kExitOk;
}

}  // namespace bncheck::cli
