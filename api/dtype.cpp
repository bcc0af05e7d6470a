#include "bncheck/dtype.hpp"

namespace bncheck {

std::optional<Dtype> parse_dtype(std::string_view s) {
  if (s == "f64" || s == "double") return Dtype::f64;
  if (s == "f32" || s == "float") return Dtype::f32;
  if (s == "f16" || s == "half") return Dtype::f16;
  if (s == "bf16" || s == "bfloat16") return Dtype::bf16;
  return std::nullopt;
}

uint64_t sentinel_bits(Dtype dt) {
  switch (dt) {
    case Dtype::f64: return 0x7FF5A5A5A5A5A5A5ull;
    case Dtype::f32: return 0x7FA5A5A5u;
    case Dtype::f16: return 0x7D5Au;
    case Dtype::bf16: return 0x7FA5u;
  }
  return 0;
}

}  // namespace bncheck
