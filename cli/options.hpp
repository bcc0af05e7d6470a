// Typed command-line options, one module for every command: integers and seeds are
// parsed as 64-bit integers (never through a double), range-checked; a value that is
// not a number, or is out of range, is a usage error naming the option.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace bncheck::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The words after the command, consumed left to right.
class Args {
 public:
  explicit Args(std::vector<std::string> v) : v_(std::move(v)) {}
  bool more() const { return i_ < v_.size(); }
  const std::string& next() { return v_[i_++]; }
  // The value of option opt (the next word); a usage error when there is none.
  std::string value(const std::string& opt);
  // Decimal integer in [lo, hi]: no sign unless lo < 0, no fraction, no exponent.
  int64_t integer(const std::string& opt, int64_t lo, int64_t hi);
  uint64_t seed(const std::string& opt);  // any 64-bit unsigned integer
  // Finite decimal number in [lo, hi] (lo excluded when lo_open).
  double number(const std::string& opt, double lo, double hi, bool lo_open = false);

 private:
  std::vector<std::string> v_;
  size_t i_ = 0;
};

int64_t parse_integer(const std::string& opt, const std::string& v, int64_t lo, int64_t hi);
uint64_t parse_seed(const std::string& opt, const std::string& v);
double parse_number(const std::string& opt, const std::string& v, double lo, double hi, bool lo_open = false);
// "I/N" with 0 <= I < N <= 2^31-1, digits only.
void parse_shard(const std::string& opt, const std::string& v, int* shard, int* shards);

}  // namespace bncheck::cli
