#include "cli/options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "api/text.hpp"

namespace bncheck::cli {

namespace {

[[noreturn]] void bad(const std::string& opt, const std::string& v, const std::string& want) {
  throw UsageError(opt + " needs " + want + ", got '" + printable(v, 60) + "'");
}

bool all_digits(const std::string& s, size_t from) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

std::string range_text(int64_t lo, int64_t hi) {
  return "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
}

}  // namespace

std::string Args::value(const std::string& opt) {
  if (!more()) throw UsageError(opt + " needs a value");
  return next();
}
int64_t Args::integer(const std::string& opt, int64_t lo, int64_t hi) { return parse_integer(opt, value(opt), lo, hi); }
uint64_t Args::seed(const std::string& opt) { return parse_seed(opt, value(opt)); }
double Args::number(const std::string& opt, double lo, double hi, bool lo_open) {
  return parse_number(opt, value(opt), lo, hi, lo_open);
}

int64_t parse_integer(const std::string& opt, const std::string& v, int64_t lo, int64_t hi) {
  const bool neg = !v.empty() && v[0] == '-';
  if (!all_digits(v, neg ? 1 : 0) || (neg && lo >= 0)) bad(opt, v, range_text(lo, hi));
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (errno == ERANGE || *end || x < lo || x > hi) bad(opt, v, range_text(lo, hi));
  return x;
}

uint64_t parse_seed(const std::string& opt, const std::string& v) {
  if (!all_digits(v, 0)) bad(opt, v, "an integer from 0 to 18446744073709551615");
  errno = 0;
  char* end = nullptr;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  if (errno == ERANGE || *end) bad(opt, v, "an integer from 0 to 18446744073709551615");
  return x;
}

double parse_number(const std::string& opt, const std::string& v, double lo, double hi, bool lo_open) {
  char b[96];
  std::snprintf(b, sizeof b, "a number %s %g and at most %g", lo_open ? "above" : "of at least", lo, hi);
  if (v.empty() || v.find_first_not_of("0123456789.eE+-") != std::string::npos) bad(opt, v, b);
  errno = 0;
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (*end || errno == ERANGE || !std::isfinite(x) || x < lo || (lo_open && x == lo) || x > hi) bad(opt, v, b);
  return x;
}

void parse_shard(const std::string& opt, const std::string& v, int* shard, int* shards) {
  const size_t slash = v.find('/');
  const std::string want = "I/N with 0 <= I < N";
  if (slash == std::string::npos) bad(opt, v, want);
  const std::string a = v.substr(0, slash), n = v.substr(slash + 1);
  if (!all_digits(a, 0) || !all_digits(n, 0) || a.size() > 10 || n.size() > 10) bad(opt, v, want);
  const long long i = std::atoll(a.c_str()), k = std::atoll(n.c_str());
  if (k < 1 || k > std::numeric_limits<int>::max() || i >= k) bad(opt, v, want);
  *shard = static_cast<int>(i);
  *shards = static_cast<int>(k);
}

}  // namespace bncheck::cli
