#include "bncheck/tensor.hpp"

#include <cstring>

namespace bncheck {

Tensor::Tensor(Dtype dt, size_t n) : dt_(dt), n_(n) {
  if (n == 0) return;
  buf_.assign(2 * kGuardBytes + bytes(), 0);
  std::memset(buf_.data(), kGuardByte, kGuardBytes);
  std::memset(buf_.data() + kGuardBytes + bytes(), kGuardByte, kGuardBytes);
}

void Tensor::fill_sentinel() {
  const uint64_t s = sentinel_bits(dt_);
  for (size_t i = 0; i < n_; ++i) set_bits(i, s);
}

size_t Tensor::count_sentinel() const {
  const uint64_t s = sentinel_bits(dt_);
  size_t k = 0;
  for (size_t i = 0; i < n_; ++i) k += bits(i) == s;
  return k;
}

bool Tensor::guards_intact(long long* first_bad_offset) const {
  if (n_ == 0) return true;
  for (size_t i = 0; i < kGuardBytes; ++i)
    if (buf_[i] != kGuardByte) {
      if (first_bad_offset) *first_bad_offset = static_cast<long long>(i) - static_cast<long long>(kGuardBytes);
      return false;
    }
  const size_t end = kGuardBytes + bytes();
  for (size_t i = 0; i < kGuardBytes; ++i)
    if (buf_[end + i] != kGuardByte) {
      if (first_bad_offset) *first_bad_offset = static_cast<long long>(bytes()) + static_cast<long long>(i);
      return false;
    }
  return true;
}

}  // namespace bncheck
