// A small JSON reader (RFC 8259 values; numbers as double), for the files bncheck
// itself writes and reads back: case.json of saved cases.
#pragma once

#include "api/result.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bncheck::json {

struct Value {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Value> items;
  std::map<std::string, Value> fields;
  // The member named key of an object, or nullptr.
  const Value* get(const std::string& key) const;
  // The string member named key, or std::nullopt.
  std::optional<std::string> get_string(const std::string& key) const;
};

// Parses text; malformed input fails with the position and why.
Result<Value> parse(std::string_view text);

}  // namespace bncheck::json
