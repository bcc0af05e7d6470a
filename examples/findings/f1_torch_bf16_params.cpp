// F1 (docs/findings.md), standalone in LibTorch's own API: batch norm in training mode
// on bf16 data with bf16 weight, bias and running statistics. Prints how many outputs
// differ from the exact result rounded once to bf16, and how many equal the emulation
// y = bf16(x * alpha + beta'), alpha = w * r and beta' = b - mean * alpha computed in
// f32 from the saved mean and inverse std rounded to bf16: the mechanism of F1.
//
//   build/f1_torch_bf16_params     (built when LibTorch is found)
#include <torch/torch.h>

#include <cstdio>

int main() {
  torch::manual_seed(1);
  const int64_t C = 32;
  const auto bf16 = torch::kBFloat16;
  const torch::Tensor x = torch::randn({4, C, 14, 14}).to(bf16);
  const torch::Tensor w = torch::randn({C}).to(bf16), b = torch::randn({C}).to(bf16);
  torch::Tensor rm = torch::zeros({C}, bf16), rv = torch::ones({C}, bf16);
  const double eps = 1e-5;
  const auto out = at::native_batch_norm(x, w, b, rm, rv, /*training=*/true, /*momentum=*/0.1, eps);
  const torch::Tensor y = std::get<0>(out), save_mean = std::get<1>(out), save_invstd = std::get<2>(out);

  // Exact (to double precision, far below a bf16 ulp), rounded once to bf16.
  const auto v = [](const torch::Tensor& t) { return t.view({1, -1, 1, 1}); };
  const torch::Tensor xd = x.to(torch::kDouble);
  const torch::Tensor mean = xd.mean({0, 2, 3}), var = (xd - v(mean)).pow(2).mean({0, 2, 3});
  const torch::Tensor exact =
      ((xd - v(mean)) * v((var + eps).rsqrt()) * v(w.to(torch::kDouble)) + v(b.to(torch::kDouble))).to(bf16);

  // The emulation: per-channel factors in f32 from the bf16-rounded saved statistics.
  const torch::Tensor m16 = save_mean.to(bf16).to(torch::kFloat), r16 = save_invstd.to(bf16).to(torch::kFloat);
  const torch::Tensor alpha = w.to(torch::kFloat) * r16, shift = b.to(torch::kFloat) - m16 * alpha;
  const torch::Tensor emulated = (x.to(torch::kFloat) * v(alpha) + v(shift)).to(bf16);

  // The same with alpha and beta' held in bf16: not LibTorch's arithmetic.
  const torch::Tensor emulated16 =
      (x.to(torch::kFloat) * v(alpha.to(bf16).to(torch::kFloat)) + v(shift.to(bf16).to(torch::kFloat))).to(bf16);

  const int64_t n = y.numel();
  const int64_t differ = y.ne(exact).sum().item<int64_t>(), match = y.eq(emulated).sum().item<int64_t>();
  std::printf("LibTorch %s, saved statistics in %s\n", TORCH_VERSION, c10::toString(save_mean.scalar_type()));
  std::printf("outputs different from the exact value rounded once to bf16: %lld of %lld\n",
              static_cast<long long>(differ), static_cast<long long>(n));
  std::printf("outputs equal to bf16(x * alpha + beta') with alpha, beta' in f32 from bf16 statistics: %lld of %lld\n",
              static_cast<long long>(match), static_cast<long long>(n));
  std::printf("outputs equal to the same with alpha, beta' held in bf16: %lld of %lld\n",
              static_cast<long long>(y.eq(emulated16).sum().item<int64_t>()), static_cast<long long>(n));
  const torch::Tensor err = (y.to(torch::kDouble) - exact.to(torch::kDouble)).abs();
  std::printf("largest error: %.3g (exact value there %.3g)\n", err.max().item<double>(),
              exact.flatten()[err.flatten().argmax()].item<double>());
  return 0;
}
