#include "harness/suites.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/text.hpp"

namespace bncheck {

namespace {
// A suite line expands to the product of its {a|b} groups: bounded, so that a short
// hostile line cannot expand until memory runs out.
constexpr size_t kMaxExpansion = 100000;
}  // namespace

std::vector<std::string> expand_alternatives(const std::string& line) {
  size_t count = 1;
  for (size_t open = line.find('{'); open != std::string::npos; open = line.find('{', open + 1)) {
    const size_t close = line.find('}', open);
    if (close == std::string::npos) break;
    count *= 1 + static_cast<size_t>(
                     std::count(line.begin() + static_cast<long>(open), line.begin() + static_cast<long>(close), '|'));
    if (count > kMaxExpansion)
      throw DescriptorError("'" + printable(line, 120) + "' expands to more than " + std::to_string(kMaxExpansion) +
                            " problems");
  }
  const size_t open = line.find('{');
  if (open == std::string::npos) return {line};
  const size_t close = line.find('}', open);
  if (close == std::string::npos) throw DescriptorError("unclosed '{' in '" + printable(line, 120) + "'");
  std::vector<std::string> out;
  const std::string head = line.substr(0, open), body = line.substr(open + 1, close - open - 1);
  const std::vector<std::string> tails = expand_alternatives(line.substr(close + 1));
  size_t start = 0;
  while (true) {
    const size_t bar = body.find('|', start);
    const std::string alt = body.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
    for (const auto& t : tails) out.push_back(head + alt + t);
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return out;
}

std::vector<Problem> parse_suite(const std::string& text, const std::string& origin, uint64_t seed) {
  std::vector<Problem> out;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  Problem base;
  base.n = 0;  // n and c are required on every line
  base.c = 0;
  base.seed = seed;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto h = line.find('#'); h != std::string::npos) line.resize(h);
    std::string clean;
    for (char ch : line)
      if (ch != ' ' && ch != '\t' && ch != '\r') clean += ch;
    if (clean.empty()) continue;
    try {
      for (const auto& desc : expand_alternatives(clean)) out.push_back(parse_problem(desc, base));
    } catch (const DescriptorError& e) {
      throw DescriptorError(printable(origin) + ":" + std::to_string(lineno) + ": " + e.what());
    }
    if (out.size() > 10 * kMaxExpansion)
      throw DescriptorError(printable(origin) + ": more than " + std::to_string(10 * kMaxExpansion) + " problems");
  }
  return out;
}

std::vector<Problem> load_suite(const std::string& name_or_path, uint64_t seed) {
  for (const auto& s : builtin_suites())
    if (s.name == name_or_path) return parse_suite(s.text, s.name, seed);
  if (std::filesystem::is_directory(name_or_path))
    throw DescriptorError("suite '" + printable(name_or_path) + "' is a directory, not a file of descriptors");
  std::ifstream f(name_or_path);
  if (!f) {
    std::string names;
    for (const auto& s : builtin_suites()) names += (names.empty() ? "" : ", ") + s.name;
    throw DescriptorError("no suite named '" + printable(name_or_path) + "' (built in: " + names +
                          ") and no such file");
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_suite(ss.str(), name_or_path, seed);
}

namespace {
// The canonical tokens of p, plus rank=N (the number of spatial dimensions).
std::vector<std::string> tokens_of(const Problem& p) {
  std::vector<std::string> t;
  std::stringstream ss(to_string(p));
  std::string tok;
  while (std::getline(ss, tok, ',')) t.push_back(tok);
  t.push_back("rank=" + std::to_string(p.rank));
  return t;
}
}  // namespace

Baseline::Entry* Baseline::find(const std::string& backend, const Problem& p) {
  const std::vector<std::string> have = tokens_of(p);
  for (auto& e : entries) {
    if (e.backend != backend) continue;
    bool all = true;
    std::stringstream ss(e.problem);
    std::string tok;
    while (all && std::getline(ss, tok, ',')) all = std::find(have.begin(), have.end(), tok) != have.end();
    if (all) return &e;
  }
  return nullptr;
}

Baseline parse_baseline(const std::string& text, const std::string& origin) {
  Baseline b;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto h = line.find('#'); h != std::string::npos) line.resize(h);
    std::istringstream ls(line);
    Baseline::Entry e;
    if (!(ls >> e.backend)) continue;
    std::string pattern;
    if (!(ls >> pattern >> e.finding))
      throw DescriptorError(printable(origin) + ":" + std::to_string(lineno) + ": expected BACKEND PATTERN FINDING");
    // Each key=value token must be one of the problem's canonical tokens (or rank=N):
    // normalise the values by parsing them on top of a default problem.
    std::stringstream ss(pattern);
    std::string tok, canon;
    while (std::getline(ss, tok, ',')) {
      if (tok.rfind("rank=", 0) == 0) {
        canon += (canon.empty() ? "" : ",") + tok;
        continue;
      }
      try {
        const std::string key = tok.substr(0, tok.find('='));
        Problem q;  // n=1,c=1 by default
        q = parse_problem(tok, q);
        for (const auto& t : tokens_of(q))
          if (t.rfind(key + "=", 0) == 0) canon += (canon.empty() ? "" : ",") + t;
      } catch (const DescriptorError& err) {
        throw DescriptorError(printable(origin) + ":" + std::to_string(lineno) + ": " + err.what());
      }
    }
    e.problem = canon;
    b.entries.push_back(e);
  }
  return b;
}

}  // namespace bncheck
