// `bncheck bench`: backends timed side by side against a copy bandwidth.
#include "cli/common.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "api/text.hpp"
#include "harness/json.hpp"
#include "harness/runner.hpp"

namespace bncheck::cli {

namespace {

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// The host copy bandwidth (bytes read + written per second) of a buffer of `bytes`,
// measured now, beside the host backends.
double host_copy_bandwidth(double bytes, int warmup, int reps) {
  using clock = std::chrono::steady_clock;
  std::vector<unsigned char> src(static_cast<size_t>(bytes)), dst(src.size());
  std::vector<double> copy_s;
  for (int i = 0; i < warmup + reps; ++i) {
    const auto t0 = clock::now();
    std::memcpy(dst.data(), src.data(), src.size());
    if (i >= warmup) copy_s.push_back(std::chrono::duration<double>(clock::now() - t0).count());
  }
  return 2.0 * static_cast<double>(src.size()) / median(copy_s) / 1e9;
}

}  // namespace

int cmd_bench(Args& a) {
  BackendOptions bo;
  std::string backend_spec = "all", suite, json_path;
  std::vector<std::string> descs;
  int warmup = 3, reps = 15;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--backend")
      backend_spec = a.value(opt);
    else if (opt == "--problem")
      descs.push_back(a.value(opt));
    else if (opt == "--suite")
      suite = a.value(opt);
    else if (opt == "--warmup")
      warmup = static_cast<int>(a.integer(opt, 0, 1000000));
    else if (opt == "--reps")
      reps = static_cast<int>(a.integer(opt, 1, 1000000));
    else if (opt == "--json")
      json_path = a.value(opt);
    else if (!bo.parse(opt, a))
      throw UsageError("unknown option '" + printable(opt, 60) + "' for bench");
  }
  std::vector<Problem> problems;
  problems.reserve(descs.size());
  for (const auto& d : descs) problems.push_back(parse_problem(d));
  if (!suite.empty() || problems.empty()) {
    auto s = load_suite(suite.empty() ? "bench" : suite, 1);
    problems.insert(problems.end(), s.begin(), s.end());
  }
  check_writable_file("--json", json_path);
  auto all = bo.load();
  const std::vector<Backend*> backends = select_backends(all, backend_spec);
  // Every measurement, for `bncheck compare` (docs/json-schema.json, command bench).
  json::Writer j;
  j.begin_object();
  j.key("bncheck_report").value(1);
  j.key("command").value("bench");
  j.key("complete").value(true);
  j.key("warmup").value(warmup);
  j.key("reps").value(reps);
  j.key("results").begin_array();
  std::printf("%-18s %-10s %10s %10s %9s %12s  %s\n", "backend", "where", "median_ms", "MB_moved", "GB/s", "of_copy_bw",
              "problem");
  for (const Problem& p : problems) {
    const double b = format_info(p.dtype).bytes, E = static_cast<double>(p.elements());
    const double moved = (p.dir == Direction::bwd ? 3 : 2) * E * b;  // read x (and dy), write y or dx
    std::optional<CaseRunner> runner;  // host inputs and copy bandwidth: only when a host backend is timed
    double host_copy_gbps = 0;
    for (Backend* be : backends) {
      if (!be->supports(p).supported) continue;
      std::string where = "host";
      double sec = 0, bw = 0;
      std::vector<double> ts;  // seconds per call: every timed call (the device gives the median only)
      if (auto dt = be->time_on_device(p, warmup, reps)) {
        where = "device";
        sec = dt->seconds_per_call;
        bw = dt->copy_gbps;
        ts.push_back(sec);
      } else {
        if (!runner) runner.emplace(p);
        if (host_copy_gbps == 0) host_copy_gbps = host_copy_bandwidth(moved / 2, warmup, reps);
        bw = host_copy_gbps;
        std::string not_timed;
        for (int i = 0; i < warmup + reps && not_timed.empty(); ++i) {
          const CaseReport r = runner->run(*be);  // seconds_backend times the call alone
          if (r.verdict != Verdict::pass)         // a call that failed or did not run has no time to report
            not_timed = std::string(to_string(r.verdict)) + (r.message.empty() ? "" : ": " + r.message);
          else if (i >= warmup)
            ts.push_back(r.seconds_backend);
        }
        if (!not_timed.empty()) {
          std::printf("%-18s %-10s not timed (%s)  %s\n", be->name().c_str(), where.c_str(),
                      printable(not_timed, 200).c_str(), to_string(p).c_str());
          continue;
        }
        sec = median(ts);
      }
      const double gbps = moved / sec / 1e9;
      std::printf("%-18s %-10s %10.3f %10.2f %9.2f %11.1f%%  %s\n", be->name().c_str(), where.c_str(), sec * 1e3,
                  moved / 1e6, gbps, 100 * gbps / bw, to_string(p).c_str());
      std::fflush(stdout);
      j.begin_object();
      j.key("backend").value(be->name());
      j.key("problem").value(to_string(p));
      j.key("where").value(where);
      j.key("median_s").value(sec);
      j.key("samples_s").begin_array();
      for (double t : ts) j.value(t);
      j.end_array();
      j.key("bytes_moved").value(moved);
      j.key("copy_gbps").value(bw);
      j.end_object();
    }
  }
  j.end_array();
  j.end_object();
  std::printf("(copy bandwidth: read + write of a buffer of half the bytes moved, median of %d, same run)\n", reps);
  return write_report(json_path, j.str() + "\n") ? kExitOk : kExitFail;
}

}  // namespace bncheck::cli
