#include "bncheck/dtype.hpp"

namespace bncheck {

std::optional<Dtype> parse_dtype(std::string_view s) {
  if (s == "f64" || s == "double") return Dtype::f64;
  if (s == "f32" || s == "float") return Dtype::f32;
  if (s == "f16" || s == "half") return Dtype::f16;
  if (s == "bf16" || s == "bfloat16") return Dtype::bf16;
  return std::nullopt;
}

double bits_to_double(uint64_t bits, Dtype dt) {
  switch (dt) {
    case Dtype::f64: {
      double d;
      std::memcpy(&d, &bits, 8);
      return d;
    }
    case Dtype::f32: {
      uint32_t b = static_cast<uint32_t>(bits);
      float f;
      std::memcpy(&f, &b, 4);
      return f;
    }
    case Dtype::bf16: {
      uint32_t b = static_cast<uint32_t>(bits & 0xFFFF) << 16;
      float f;
      std::memcpy(&f, &b, 4);
      return f;
    }
    case Dtype::f16: {
      const uint32_t h = static_cast<uint32_t>(bits & 0xFFFF);
      const double sign = (h & 0x8000) ? -1.0 : 1.0;
      const int e = (h >> 10) & 0x1F;
      const int m = h & 0x3FF;
      if (e == 0x1F) return m ? std::numeric_limits<double>::quiet_NaN() : sign * HUGE_VAL;
      if (e == 0) return sign * std::ldexp(static_cast<double>(m), -24);
      return sign * std::ldexp(static_cast<double>(m | 0x400), e - 25);
    }
  }
  return 0;
}

uint64_t load_bits(const void* p, Dtype dt, size_t i) {
  switch (format_info(dt).bytes) {
    case 8: {
      uint64_t b;
      std::memcpy(&b, static_cast<const char*>(p) + 8 * i, 8);
      return b;
    }
    case 4: {
      uint32_t b;
      std::memcpy(&b, static_cast<const char*>(p) + 4 * i, 4);
      return b;
    }
    default: {
      uint16_t b;
      std::memcpy(&b, static_cast<const char*>(p) + 2 * i, 2);
      return b;
    }
  }
}

void store_bits(void* p, Dtype dt, size_t i, uint64_t bits) {
  switch (format_info(dt).bytes) {
    case 8: std::memcpy(static_cast<char*>(p) + 8 * i, &bits, 8); break;
    case 4: {
      uint32_t b = static_cast<uint32_t>(bits);
      std::memcpy(static_cast<char*>(p) + 4 * i, &b, 4);
      break;
    }
    default: {
      uint16_t b = static_cast<uint16_t>(bits);
      std::memcpy(static_cast<char*>(p) + 2 * i, &b, 2);
      break;
    }
  }
}

double load_as_double(const void* p, Dtype dt, size_t i) { return bits_to_double(load_bits(p, dt, i), dt); }

void store_rounded(void* p, Dtype dt, size_t i, double v) { store_bits(p, dt, i, round_to_bits(v, dt)); }

double ulp(double v, Dtype dt) {
  if (!std::isfinite(v)) return std::numeric_limits<double>::quiet_NaN();
  const FormatInfo F = format_info(dt);
  int e = F.emin;
  if (v != 0) {
    uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    const int biased = static_cast<int>((b >> 52) & 0x7ffu);
    int fe1 = biased - 1023;  // the exponent of a normal double, read from its bits
    if (biased == 0) {        // subnormal double
      int fe;
      (void)std::frexp(v, &fe);
      fe1 = fe - 1;
    }
    e = std::max(fe1, F.emin);
  }
  const int k = e - (F.p - 1);
  if (k < -1022) return std::ldexp(1.0, k);
  const uint64_t r = static_cast<uint64_t>(k + 1023) << 52;  // 2^k, normal
  double u;
  std::memcpy(&u, &r, sizeof u);
  return u;
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
