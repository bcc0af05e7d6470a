#include "fuzz/bytes_case.hpp"

#include <cmath>
#include <cstring>

namespace bncheck::fuzz {

std::optional<BytesCase> case_from_bytes(const uint8_t* data, size_t size) {
  if (size < 10) return std::nullopt;
  Problem p;
  p.n = 1 + (data[0] & 7);
  p.layout = (data[0] >> 3) & 1 ? Layout::channels_last : Layout::channels_first;
  p.affine = (data[0] >> 4) & 1;
  p.dir = static_cast<Direction>(((data[0] >> 5) & 3) % 3);
  p.c = 1 + (data[1] & 7);
  p.rank = (data[1] >> 3) & 3;
  static const Dtype pairs[8][2] = {{Dtype::f32, Dtype::f32},   {Dtype::f64, Dtype::f64}, {Dtype::f16, Dtype::f32},
                                    {Dtype::bf16, Dtype::f32},  {Dtype::f32, Dtype::f64}, {Dtype::f16, Dtype::f16},
                                    {Dtype::bf16, Dtype::bf16}, {Dtype::f64, Dtype::f32}};
  p.dtype = pairs[data[1] >> 5][0];
  p.pdtype = pairs[data[1] >> 5][1];
  for (int i = 0; i < 3; ++i) p.spatial[i] = i < p.rank ? 1 + data[2 + i] % 6 : 1;
  const int e = data[5] % 41 - 20;
  const double ratio = std::ldexp(1.0, data[6] % 24);
  static const double eps[] = {1e-5, 0.0, 1e-3, 1.0};
  p.eps = eps[data[7] & 3];
  if (data[7] & 0x80) p.poison = {PoisonKind::nan, 0};
  BytesCase bc{p, make_case_data(p)};
  const uint8_t* bytes = data + 8;
  const size_t nb = (size - 8) / 2;
  for (int64_t c = 0; c < p.c; ++c)
    for (int64_t n = 0; n < p.n; ++n)
      for (int64_t s = 0; s < p.spatial_size(); ++s) {
        // The poisoned element keeps the value make_case_data planted.
        if (p.poison.kind != PoisonKind::none && c == 0 && n == p.n / 2 && s == p.spatial_size() / 2) continue;
        const size_t k = static_cast<size_t>((c * p.n + n) * p.spatial_size() + s) % nb;
        int16_t m;
        std::memcpy(&m, bytes + 2 * k, 2);
        const double v = std::ldexp(static_cast<double>(m) / 32768.0 + ratio * (c % 2 ? -1 : 1), e);
        bc.data.x.set(static_cast<size_t>(p.index(n, c, s)), v);
      }
  return bc;
}

}  // namespace bncheck::fuzz
