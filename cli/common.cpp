#include "cli/common.hpp"

#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "api/text.hpp"
#include "harness/interrupt.hpp"
#include "plugin/plugin_backend.hpp"

namespace bncheck::cli {

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

std::vector<Backend*> select_backends(const std::vector<std::unique_ptr<Backend>>& all, const std::string& spec) {
  std::vector<Backend*> out;
  if (spec == "all") {
    for (auto& b : all) {
      if (b->weak()) continue;
      const Availability av = b->availability();
      if (av.available)
        out.push_back(b.get());
      else
        std::fprintf(stderr, "bncheck: %s unavailable (%s): not run\n", b->name().c_str(), av.reason.c_str());
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

bool BackendOptions::parse(const std::string& opt, Args& a) {
  if (opt == "--plugin")
    plugins.push_back(a.value(opt));
  else if (opt == "--no-isolation")
    isolation.isolate = false;
  else if (opt == "--timeout") {
    isolation.timeout_s = a.number(opt, 0, 1e6, true);
    isolation.timeout_set = true;
  } else
    return false;
  return true;
}
std::vector<std::unique_ptr<Backend>> BackendOptions::load() const {
  if (!isolation.isolate && isolation.timeout_set)
    throw UsageError("--timeout cannot be honoured with --no-isolation: an in-process call cannot be stopped");
  auto all = make_builtin_backends();
  for (const auto& path : plugins) {
    auto b = load_plugin(path, isolation);
    if (!b) throw UsageError("plugin " + b.error());
    for (const auto& other : all)
      if (other->name() == (*b)->name())
        throw UsageError("plugin " + printable(path) + ": a backend named '" + (*b)->name() + "' exists");
    all.push_back(std::move(*b));
  }
  return all;
}

bool BaselineOptions::parse(const std::string& opt, Args& a) {
  if (opt == "--baseline")
    path = a.value(opt);
  else if (opt == "--no-baseline")
    none = true;
  else if (opt == "--strict")
    strict = true;
  else
    return false;
  return true;
}

Baseline BaselineOptions::load() const {
  if (none) return {};
  if (path.empty()) return parse_baseline(builtin_baseline(), "known-failures.baseline");
  if (std::filesystem::is_directory(path))
    throw UsageError("--baseline " + printable(path) + " is a directory, not a file");
  std::ifstream bf(path);
  if (!bf) throw UsageError("cannot read baseline " + printable(path));
  std::stringstream ss;
  ss << bf.rdbuf();
  return parse_baseline(ss.str(), path);
}

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

bool checked(Verdict v) { return v != Verdict::unsupported && v != Verdict::skipped && v != Verdict::unavailable; }

int exit_status(bool failed, bool any_checked) {
  if (const int sig = interrupted()) return 128 + sig;
  if (failed) return kExitFail;
  return any_checked ? kExitOk : kExitNothingChecked;
}

std::string signal_text(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : std::to_string(sig); }

bool write_report(const std::string& path, const std::string& text) {
  if (path.empty()) return true;
  std::ofstream f(path);
  f << text;
  f.close();
  if (f) return true;
  std::fprintf(stderr, "bncheck: cannot write %s\n", printable(path).c_str());
  return false;
}

void ProgressLine::show(int done, int total, int failures, double seconds) {
  if (!on_) return;
  const double rate = seconds > 0 ? done / seconds : 0;
  const double left = rate > 0 ? (total - done) / rate : 0;
  std::printf("\r[%d/%d] %d failure%s, %.1f cases/s, ~%.0f s left\033[K", done, total, failures,
              failures == 1 ? "" : "s", rate, left);
  std::fflush(stdout);
  shown_ = true;
}

void ProgressLine::clear() {
  if (!shown_) return;
  std::printf("\r\033[K");
  shown_ = false;
}

namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw UsageError("cannot read " + printable(path));
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

std::pair<report::RunSummary, std::vector<report::CaseResult>> read_report_file(const std::string& path) {
  auto r = report::read_run_json(read_text(path));
  if (!r) throw UsageError(printable(path) + ": " + r.error());
  return std::move(*r);
}

json::Value read_json_file(const std::string& path) {
  auto v = json::parse(read_text(path));
  if (!v) throw UsageError(printable(path) + ": " + v.error());
  return std::move(*v);
}

}  // namespace bncheck::cli
