// The one way a function inside bncheck says it failed: it returns Result<T>, the
// value or the reason (a printable message). Calls into a backend return Status
// (bncheck/backend.hpp), whose kinds (crash, timeout, out-of-bounds write) become
// verdicts. Exceptions cross only the boundaries where they already become a verdict
// or an exit status: DescriptorError from parsing input (exit 2), std::bad_alloc and
// a backend's exception (the case's SKIPPED or ERROR, harness/runner.cpp).
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace bncheck {

struct Done {};  // Result<Done>: finished, or why not

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor): success converts
  static Result failure(const std::string& why) {
    Result r;
    r.error_ = why;
    return r;
  }
  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  // Why it failed; empty on success.
  const std::string& error() const { return error_; }

 private:
  Result() = default;
  std::optional<T> value_;
  std::string error_;
};

}  // namespace bncheck
