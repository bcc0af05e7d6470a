// `bncheck gen`: cases as files (inputs as .npy, problem.json) for implementations in
// any language; `bncheck check` judges the outputs they write (harness/file_protocol.hpp).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "api/text.hpp"
#include "cli/common.hpp"
#include "harness/case_data.hpp"
#include "harness/file_protocol.hpp"

namespace bncheck::cli {

int cmd_gen(Args& a) {
  std::vector<std::string> descs;
  std::string suite, out, conv_text;
  uint64_t seed = 1;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--problem")
      descs.push_back(a.value(opt));
    else if (opt == "--suite")
      suite = a.value(opt);
    else if (opt == "--out")
      out = a.value(opt);
    else if (opt == "--seed")
      seed = a.seed(opt);
    else if (opt == "--conventions")
      conv_text = a.value(opt);
    else
      throw UsageError("unknown option '" + printable(opt, 60) + "' for gen");
  }
  if (out.empty()) throw UsageError("gen needs --out DIR");
  if (descs.empty() && suite.empty()) throw UsageError("gen needs --problem DESC or --suite NAME|FILE");
  std::error_code ec;
  if (std::filesystem::exists(out, ec) && !std::filesystem::is_empty(out, ec))
    throw UsageError("--out " + printable(out) + " exists and is not empty (gen never overwrites cases)");
  std::optional<Conventions> conv_override;
  if (!conv_text.empty()) {
    try {
      conv_override = parse_conventions(conv_text);
    } catch (const DescriptorError& e) {
      throw UsageError(std::string("--conventions: ") + e.what());
    }
  }
  std::vector<Problem> problems;
  for (const auto& d : descs) {
    Problem base;
    base.n = 0;
    base.c = 0;
    base.seed = seed;
    problems.push_back(parse_problem(d, base));
  }
  if (!suite.empty())
    for (auto& p : load_suite(suite, seed)) problems.push_back(p);
  if (problems.empty()) throw UsageError("the suite has no problems");
  for (const Problem& p : problems)
    if (!p.split.empty())
      throw UsageError(to_string(p) + ": split= problems are not written (the file protocol has no split statistics)");
  // One problem: --out is the case. Several: one subdirectory each, in order.
  if (problems.size() > 1) std::filesystem::create_directories(out, ec);
  int written = 0;
  for (size_t i = 0; i < problems.size(); ++i) {
    Problem p = problems[i];
    if (conv_override) p.conv = *conv_override;
    char sub[32];
    std::snprintf(sub, sizeof sub, "case%04zu", i + 1);
    const std::string dir = problems.size() == 1 ? out : out + "/" + sub;
    if (estimated_case_bytes(p) > 0.8 * available_memory_bytes()) {
      std::fprintf(stderr, "bncheck gen: %s: does not fit in memory, not written\n", to_string(p).c_str());
      continue;
    }
    const auto w = write_generated_case(dir, p, p.conv);
    if (!w) {
      std::fprintf(stderr, "bncheck gen: %s\n", w.error().c_str());
      return kExitFail;
    }
    std::printf("%s  %s\n", printable(dir).c_str(), to_string(p).c_str());
    ++written;
  }
  std::printf("wrote %d of %zu cases under %s: write the outputs problem.json names, then `bncheck check %s`\n",
              written, problems.size(), printable(out).c_str(), printable(out).c_str());
  return written == static_cast<int>(problems.size()) ? kExitOk : kExitFail;
}

}  // namespace bncheck::cli
