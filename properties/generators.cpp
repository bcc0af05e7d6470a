#include "properties/generators.hpp"

namespace bncheck::props {

rc::Gen<Problem> gen_problem() {
  using namespace rc;
  auto shape = gen::tuple(
      gen::weightedOneOf<int>({{8, gen::inRange(1, 5)}, {3, gen::inRange(5, 17)}, {1, gen::inRange(17, 65)}}),
      gen::weightedOneOf<int>({{8, gen::inRange(1, 6)}, {2, gen::inRange(6, 34)}, {1, gen::element(33, 37, 65)}}),
      gen::inRange(0, 4), gen::inRange(1, 8), gen::inRange(1, 8), gen::inRange(1, 8), gen::arbitrary<bool>());
  auto numerics = gen::tuple(gen::inRange(0, 6), gen::inRange(0, 5), gen::inRange(0, 4), gen::arbitrary<bool>());
  auto data = gen::tuple(gen::inRange(0, 10), gen::inRange(0, 6), gen::inRange(0, 4), gen::inRange(0u, 1u << 20),
                         gen::inRange(0, 3));
  return gen::apply(
      [](const std::tuple<int, int, int, int, int, int, bool>& sh, const std::tuple<int, int, int, bool>& nu,
         const std::tuple<int, int, int, unsigned, int>& da) {
        Problem p;
        const auto [n, c, rank, s0, s1, s2, cl] = sh;
        const auto [dtp, epsi, momi, affine] = nu;
        const auto [filli, ratioi, convi, seed, dir] = da;
        p.n = n;
        p.c = c;
        p.rank = rank;
        p.spatial = {s0, s1, s2};
        for (int i = rank; i < 3; ++i) p.spatial[i] = 1;
        p.layout = cl ? Layout::channels_last : Layout::channels_first;
        const Dtype pairs[][2] = {{Dtype::f32, Dtype::f32},  {Dtype::f64, Dtype::f64}, {Dtype::f16, Dtype::f32},
                                  {Dtype::bf16, Dtype::f32}, {Dtype::f32, Dtype::f64}, {Dtype::f16, Dtype::f16}};
        p.dtype = pairs[dtp][0];
        p.pdtype = pairs[dtp][1];
        const double eps[] = {1e-5, 0.0, 1e-3, 0.1, 1.0};
        p.eps = eps[epsi];
        const double mom[] = {0.1, 0.0, 0.5, 1.0};
        p.momentum = mom[momi];
        p.affine = affine;
        const double ratio[] = {0, 1, 10, 100, 1e3, 1e4};
        const bool narrow = p.dtype == Dtype::f16 || p.dtype == Dtype::bf16;
        p.fill.mean = narrow ? std::min(ratio[ratioi], 10.0) : ratio[ratioi];
        p.fill.spread = 1;
        p.fill.kind = filli <= 6 ? FillKind::normal : filli <= 8 ? FillKind::uniform : FillKind::exact;
        if (p.fill.kind == FillKind::exact) {
          p.fill.mean = 3;
          p.fill.spread = 0.25;
        }
        if (convi == 3) p.conv = {RunningVar::biased, MomentumDir::old_stat, SavedStat::variance};
        p.seed = seed;
        p.dir = dir == 0 ? Direction::fwd_train : dir == 1 ? Direction::bwd : Direction::fwd_infer;
        while (p.elements() > kMaxGeneratedElements) {
          if (p.n > 1)
            p.n = (p.n + 1) / 2;
          else if (p.rank > 0)
            p.spatial[--p.rank] = 1;
          else
            p.c = (p.c + 1) / 2;
        }
        return p;
      },
      shape, numerics, data);
}

}  // namespace bncheck::props
