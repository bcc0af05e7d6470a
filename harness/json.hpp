// A minimal JSON writer for machine-readable reports (no dependency).
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "api/text.hpp"

namespace bncheck::json {

class Writer {
 public:
  Writer& begin_object() {
    sep();
    s_ += '{';
    first_.push_back(true);
    return *this;
  }
  Writer& end_object() {
    s_ += '}';
    first_.pop_back();
    return *this;
  }
  Writer& begin_array() {
    sep();
    s_ += '[';
    first_.push_back(true);
    return *this;
  }
  Writer& end_array() {
    s_ += ']';
    first_.pop_back();
    return *this;
  }
  Writer& key(const std::string& k) {
    sep();
    quote(k);
    s_ += ':';
    after_key_ = true;
    return *this;
  }
  Writer& value(const std::string& v) {
    sep();
    quote(v);
    return *this;
  }
  Writer& value(const char* v) { return value(std::string(v)); }
  Writer& value(bool v) {
    sep();
    s_ += v ? "true" : "false";
    return *this;
  }
  Writer& value(double v) {
    sep();
    if (!std::isfinite(v)) {
      s_ += std::isnan(v) ? "\"nan\"" : (v > 0 ? "\"inf\"" : "\"-inf\"");
      return *this;
    }
    char b[32];
    std::snprintf(b, sizeof b, "%.17g", v);
    s_ += b;
    return *this;
  }
  Writer& value(long long v) {
    sep();
    s_ += std::to_string(v);
    return *this;
  }
  Writer& value(unsigned long long v) {
    sep();
    s_ += std::to_string(v);
    return *this;
  }
  Writer& value(int v) { return value(static_cast<long long>(v)); }
  Writer& value(size_t v) { return value(static_cast<unsigned long long>(v)); }
  const std::string& str() const { return s_; }

 private:
  void sep() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) s_ += ',';
      first_.back() = false;
    }
  }
  void quote(const std::string& v) {
    // Strings from plugins and inputs may hold any bytes: the file stays valid UTF-8
    // (invalid bytes become U+FFFD) and every control character is escaped.
    s_ += '"';
    for (char c : valid_utf8(v)) {
      if (c == '"' || c == '\\') {
        s_ += '\\';
        s_ += c;
      } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", c);
        s_ += b;
      } else
        s_ += c;
    }
    s_ += '"';
  }
  std::string s_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

}  // namespace bncheck::json
