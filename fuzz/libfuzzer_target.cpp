// Coverage-guided fuzz target (libFuzzer, with AddressSanitizer and UBSan): bytes
// become a small problem and its data; our CPU backends run against the reference and
// the target aborts on a disagreement beyond budget (or the sanitizers on undefined
// behaviour). Build: ci/fuzz.sh. Input layout:
//   byte 0  n-1 (low 3 bits), layout (bit 3), affine (bit 4), dir (bits 5-6)
//   byte 1  c-1 (low 3 bits), rank (bits 3-4), dtype pair (bits 5-7)
//   byte 2-4 spatial sizes (1 + b % 6)
//   byte 5  exponent of the data's scale (b % 41 - 20); byte 6: mean/std ratio 2^(b % 24)
//   byte 7  eps choice, poison (bit 7)
//   rest    the data: 2 bytes per element (a signed 16-bit mantissa), repeated cyclically
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "bncheck/backend.hpp"
#include "harness/runner.hpp"

using namespace bncheck;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 10) return 0;
  static auto backends = make_builtin_backends();
  Problem p;
  p.n = 1 + (data[0] & 7);
  p.layout = (data[0] >> 3) & 1 ? Layout::channels_last : Layout::channels_first;
  p.affine = (data[0] >> 4) & 1;
  p.dir = static_cast<Direction>(((data[0] >> 5) & 3) % 3);
  p.c = 1 + (data[1] & 7);
  p.rank = (data[1] >> 3) & 3;
  static const Dtype pairs[8][2] = {{Dtype::f32, Dtype::f32}, {Dtype::f64, Dtype::f64}, {Dtype::f16, Dtype::f32},
                                    {Dtype::bf16, Dtype::f32}, {Dtype::f32, Dtype::f64}, {Dtype::f16, Dtype::f16},
                                    {Dtype::bf16, Dtype::bf16}, {Dtype::f64, Dtype::f32}};
  p.dtype = pairs[data[1] >> 5][0];
  p.pdtype = pairs[data[1] >> 5][1];
  for (int i = 0; i < 3; ++i) p.spatial[i] = i < p.rank ? 1 + data[2 + i] % 6 : 1;
  const int e = data[5] % 41 - 20;
  const double ratio = std::ldexp(1.0, data[6] % 24);
  static const double eps[] = {1e-5, 0.0, 1e-3, 1.0};
  p.eps = eps[data[7] & 3];
  if (data[7] & 0x80) p.poison = {PoisonKind::nan, 0};
  CaseData d = make_case_data(p);
  const uint8_t* bytes = data + 8;
  const size_t nb = (size - 8) / 2;
  for (int64_t c = 0; c < p.c; ++c)
    for (int64_t n = 0; n < p.n; ++n)
      for (int64_t s = 0; s < p.spatial_size(); ++s) {
        const size_t k = static_cast<size_t>((c * p.n + n) * p.spatial_size() + s) % nb;
        int16_t m;
        std::memcpy(&m, bytes + 2 * k, 2);
        const double v = std::ldexp(static_cast<double>(m) / 32768.0 + ratio * (c % 2 ? -1 : 1), e);
        const size_t i = static_cast<size_t>(p.index(n, c, s));
        if (p.poison.kind != PoisonKind::none && c == 0 && n == p.n / 2 && s == p.spatial_size() / 2) continue;
        d.x.set(i, v);
      }
  CaseRunner runner(p, std::move(d));
  for (auto& b : backends) {
    if (b->weak()) continue;
    const CaseReport r = runner.run(*b);
    if (is_failure(r.verdict)) {
      std::fprintf(stderr, "bncheck libfuzzer: %s %s on %s: %s\n", to_string(r.verdict), b->name().c_str(),
                   to_string(p).c_str(), r.message.c_str());
      std::abort();
    }
  }
  return 0;
}
