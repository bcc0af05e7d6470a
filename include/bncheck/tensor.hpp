// A dense buffer of one dtype between two guard regions. Guards and a sentinel
// pre-fill let the harness see writes out of bounds and outputs left unwritten.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "bncheck/dtype.hpp"

namespace bncheck {

class Tensor {
 public:
  static constexpr size_t kGuardBytes = 64;
  static constexpr unsigned char kGuardByte = 0xA5;

  Tensor() = default;
  Tensor(Dtype dt, size_t n);  // zero-filled, guards set

  Dtype dtype() const { return dt_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * static_cast<size_t>(format_info(dt_).bytes); }
  bool empty() const { return n_ == 0; }
  void* data() { return n_ ? buf_.data() + kGuardBytes : nullptr; }
  const void* data() const { return n_ ? buf_.data() + kGuardBytes : nullptr; }

  double get(size_t i) const { return load_as_double(data(), dt_, i); }
  void set(size_t i, double v) { store_rounded(data(), dt_, i, v); }  // rounds to nearest even
  uint64_t bits(size_t i) const { return load_bits(data(), dt_, i); }
  void set_bits(size_t i, uint64_t b) { store_bits(data(), dt_, i, b); }

  void fill_sentinel();           // every element := sentinel_bits(dtype)
  size_t count_sentinel() const;  // elements still holding the sentinel
  // Offset in bytes, relative to the start of the data, of the first guard byte that
  // changed (negative: before the data), or nothing when the guards are intact.
  bool guards_intact(long long* first_bad_offset = nullptr) const;

 private:
  Dtype dt_ = Dtype::f32;
  size_t n_ = 0;
  std::vector<unsigned char> buf_;
};

}  // namespace bncheck
