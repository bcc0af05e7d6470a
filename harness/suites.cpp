#include "harness/suites.hpp"

#include <fstream>
#include <sstream>

namespace bncheck {

std::vector<std::string> expand_alternatives(const std::string& line) {
  const size_t open = line.find('{');
  if (open == std::string::npos) return {line};
  const size_t close = line.find('}', open);
  if (close == std::string::npos) throw DescriptorError("unclosed '{' in '" + line + "'");
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
  base.n = 0;   // n and c are required on every line
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
      throw DescriptorError(origin + ":" + std::to_string(lineno) + ": " + e.what());
    }
  }
  return out;
}

std::vector<Problem> load_suite(const std::string& name_or_path, uint64_t seed) {
  for (const auto& s : builtin_suites())
    if (s.name == name_or_path) return parse_suite(s.text, s.name, seed);
  std::ifstream f(name_or_path);
  if (!f) {
    std::string names;
    for (const auto& s : builtin_suites()) names += (names.empty() ? "" : ", ") + s.name;
    throw DescriptorError("no suite named '" + name_or_path + "' (built in: " + names + ") and no such file");
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_suite(ss.str(), name_or_path, seed);
}

Baseline::Entry* Baseline::find(const std::string& backend, const Problem& p) {
  const std::string desc = to_string(p);
  for (auto& e : entries)
    if (e.backend == backend && e.problem == desc) return &e;
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
    std::string desc;
    if (!(ls >> desc >> e.finding))
      throw DescriptorError(origin + ":" + std::to_string(lineno) + ": expected BACKEND DESCRIPTOR FINDING");
    try {
      e.problem = to_string(parse_problem(desc));   // canonical form
    } catch (const DescriptorError& err) {
      throw DescriptorError(origin + ":" + std::to_string(lineno) + ": " + err.what());
    }
    b.entries.push_back(e);
  }
  return b;
}

}  // namespace bncheck
