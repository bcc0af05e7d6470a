// Coverage-guided fuzz target (libFuzzer, with AddressSanitizer and UBSan): bytes
// become a small problem and its data (fuzz/bytes_case.hpp); our CPU backends run
// against the reference and the target aborts on a disagreement beyond budget (or the
// sanitizers on undefined behaviour). Build and smoke run: ci/fuzz.sh; open-ended
// campaigns: ci/fuzz-campaign.sh.
//
// Every failure is first written as a replayable case (its tensors as .npy with
// case.json) under $BNCHECK_FUZZ_FINDINGS (default fuzz-findings/), and the line that
// replays it through the CLI is printed: `bncheck run --case DIR`.
// Environment: BNCHECK_FUZZ_BACKENDS=a,b runs those backends (weak ones included)
// instead of our non-weak CPU backends; BNCHECK_FUZZ_SAVE_ALL=1 saves every case, not only
// failures (for the replay test).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "bncheck/backend.hpp"
#include "fuzz/bytes_case.hpp"
#include "harness/case_files.hpp"
#include "harness/runner.hpp"

using namespace bncheck;

namespace {

std::vector<Backend*> chosen_backends() {
  static auto all = make_builtin_backends();
  std::vector<Backend*> out;
  const char* names = std::getenv("BNCHECK_FUZZ_BACKENDS");
  if (!names || !*names) {  // our own CPU backends: the same set in every build
    for (auto& b : all)
      if (!b->weak() && b->name().rfind("cpu_", 0) == 0) out.push_back(b.get());
    return out;
  }
  std::stringstream ss(names);
  std::string name;
  while (std::getline(ss, name, ','))
    for (auto& b : all)
      if (b->name() == name) out.push_back(b.get());
  return out;
}

// FNV-1a of the input: the finding's name, stable across runs.
std::string input_hash(const uint8_t* data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  char b[20];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<Backend*> backends = chosen_backends();
  auto bc = fuzz::case_from_bytes(data, size);
  if (!bc) return 0;
  const Problem p = bc->problem;
  CaseRunner runner(p, std::move(bc->data));
  const char* dir_env = std::getenv("BNCHECK_FUZZ_FINDINGS");
  const std::string findings = dir_env && *dir_env ? dir_env : "fuzz-findings";
  const bool save_all = std::getenv("BNCHECK_FUZZ_SAVE_ALL") != nullptr;
  for (Backend* b : backends) {
    CaseOutputs out;
    const CaseReport r = runner.run(*b, &out);
    const bool failed = is_failure(r.verdict);
    if (!failed && !save_all) continue;
    const std::string stem = "input_" + input_hash(data, size) + "_" + b->name();
    const auto saved = save_case(findings, stem, runner, r, out, "");
    std::fprintf(stderr, "bncheck libfuzzer: %s %s on %s: %s\n", to_string(r.verdict), b->name().c_str(),
                 to_string(p).c_str(), r.message.c_str());
    if (saved)
      std::fprintf(stderr, "  saved: %s\n  repro: bncheck run --backend %s --case %s\n", printable(*saved).c_str(),
                   b->name().c_str(), shell_word(*saved).c_str());
    else
      std::fprintf(stderr, "  save: %s\n", saved.error().c_str());
    if (failed) std::abort();
  }
  return 0;
}
