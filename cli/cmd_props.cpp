// `bncheck props`: property campaigns of BN's invariants on the reference and backends.
#include "cli/common.hpp"

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "api/text.hpp"
#include "harness/interrupt.hpp"
#include "harness/report.hpp"
#include "harness/runner.hpp"
#include "properties/driver.hpp"

namespace bncheck::cli {

int cmd_props(Args& a, const std::string& argv0) {
  BackendOptions bo;
  std::string backend_spec = "all", property_spec, problem_desc, json_path, junit_path;
  BaselineOptions bl;
  int cases = 50;
  uint64_t seed = 1, aux = 0;
  bool list = false, have_aux = false;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--backend")
      backend_spec = a.value(opt);
    else if (opt == "--property")
      property_spec = a.value(opt);
    else if (opt == "--cases")
      cases = static_cast<int>(a.integer(opt, 1, 10000000));
    else if (opt == "--seed")
      seed = a.seed(opt);
    else if (opt == "--problem")
      problem_desc = a.value(opt);
    else if (opt == "--aux") {
      aux = a.seed(opt);
      have_aux = true;
    } else if (opt == "--list")
      list = true;
    else if (opt == "--json")
      json_path = a.value(opt);
    else if (opt == "--junit")
      junit_path = a.value(opt);
    else if (!bl.parse(opt, a) && !bo.parse(opt, a))
      throw UsageError("unknown option '" + printable(opt, 60) + "' for props");
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
      if (name == "reference") {
        backends.emplace_back("reference", nullptr);
        continue;
      }
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
  if (!problem_desc.empty()) {  // replay one case
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
  check_writable_file("--json", json_path);
  check_writable_file("--junit", junit_path);
  Baseline baseline = bl.load();
  int known = 0;
  std::vector<report::PropertyResult> results;
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
      for (const auto& [n, k] : c.notes)
        notes += (notes.empty() ? "" : ", ") + n + " " + std::to_string(k) + "/" + std::to_string(c.applicable);
      const char* verdict = c.failed ? "FAIL" : c.applicable == 0 ? "NONE-RAN" : "PASS";
      if (interrupted()) break;  // a campaign cut short proves nothing either way
      ++campaigns;
      applicable += c.applicable;
      std::printf("%-28s %-20s %-8s %6d/%-3d  %s\n", prop->name, name.c_str(), verdict, c.applicable, c.cases,
                  notes.c_str());
      const Baseline::Entry* be = c.failed && b ? baseline.find(name, c.minimal) : nullptr;
      report::PropertyResult pr;
      pr.property = prop->name;
      pr.backend = name;
      pr.result = !c.failed ? verdict : be && !bl.strict ? "KNOWN" : "FAIL";
      pr.cases = c.cases;
      pr.applicable = c.applicable;
      pr.notes = notes;
      if (be) {
        ++known;
        std::printf("      (known: %s, docs/findings.md)\n", be->finding.c_str());
      }
      if (c.failed) {
        if (!be || bl.strict) ++failures;
        const std::string repro = shell_word(argv0) + " props" + (b ? backend_repro_options(*b) : "") + " --backend " +
                                  name + " --property " + prop->name + " --problem " +
                                  shell_quote(to_string(c.minimal)) + " --aux " + std::to_string(c.aux);
        std::printf("      %s\n      minimal after %d shrink steps: %s\n      repro: %s\n", c.message.c_str(),
                    c.shrink_steps, to_string(c.minimal).c_str(), repro.c_str());
        if (!be || bl.strict)
          repros.push_back(std::string(prop->name) + " on " + name + ": " + c.message + "\n  repro: " + repro);
        pr.message = c.message;
        pr.minimal = to_string(c.minimal);
        pr.aux = c.aux;
        pr.repro = repro;
        if (be) pr.known = be->finding;
      }
      results.push_back(pr);
      std::fflush(stdout);
    }
  std::printf("\nsummary: %d property campaigns, %d failed, %d known failures\n", campaigns, failures, known);
  if (const int sig = interrupted())
    std::printf("incomplete: interrupted by %s; %d of %zu campaigns ran\n", signal_text(sig).c_str(), campaigns,
                chosen.size() * backends.size());
  for (const auto& r : repros) std::printf("%s\n", r.c_str());
  if (applicable == 0 && !failures && !interrupted())
    std::printf("nothing was checked: no generated case was applicable (exit %d)\n", kExitNothingChecked);
  bool ok = write_report(json_path, report::props_json(interrupted() == 0, seed, results) + "\n");
  ok &= write_report(junit_path, report::props_junit(interrupted() == 0, results));
  const int st = exit_status(failures > 0, applicable > 0);
  return st == kExitOk && !ok ? kExitFail : st;
}

}  // namespace bncheck::cli
