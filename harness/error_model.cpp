// First-order error budgets of an honest batch-norm implementation. The names of the
// terms follow docs/error-model.md, section by section.
#include "harness/error_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "harness/fill_rules.hpp"
#include "harness/parallel.hpp"

namespace bncheck {

double summation_factor(int64_t M) {
  if (M <= 1) return 0;
  const double m1 = static_cast<double>(M - 1);
  return std::min(m1, kLambda * std::sqrt(m1));
}

namespace {

struct Units {
  double ua, uc;  // accumulation and compute unit roundoffs
};

// A channel's statistics in units of 2^e (exact scaling). The analysis is homogeneous
// in the scale of x, so every budget is computed in these units and scaled back at the
// end: no intermediate overflows a double, even where var itself does.
struct Chan {
  int e = 0;
  double mean = 0, var = 0, rms = 0, r = 0, eps = 0;
  // A quantity of x's dimension, scaled; a product with 2^-e rounds as ldexp does.
  double x(double v) const { return std::abs(e) <= 1022 ? v * pow2(-e) : std::ldexp(v, -e); }
  // A quantity of dimension x^power, unscaled.
  double back(double v, int power) const {
    return std::abs(power * e) <= 1022 ? v * pow2(power * e) : std::ldexp(v, power * e);
  }
  static double pow2(int k) {  // |k| <= 1022: a normal double, from its bits
    const uint64_t b = static_cast<uint64_t>(k + 1023) << 52;
    double r;
    std::memcpy(&r, &b, sizeof r);
    return r;
  }
};

Chan scaled(const ChannelRef& cr, double eps) {
  return {cr.exp2, cr.mean_s, cr.var_s, cr.rms_s, cr.invstd_s, std::ldexp(eps, -2 * cr.exp2)};
}

// Section "Statistics": E_mu, E_var (in the channel's units) and the relative error of r.
struct StatErrors {
  double e_mu = 0, e_var = 0, rel_r = 0;
  bool exact_mean = false, exact_var = false;  // the exact-fill rule: no slack at all
};

StatErrors forward_stat_errors(const Problem& p, const Numerics& nx, const Units& u, const Chan& ch) {
  const int64_t M = p.reduction_size();
  const double cM = summation_factor(M);
  const double sigma2 = ch.var, sigma = std::sqrt(ch.var), R = ch.rms;
  StatErrors e;
  // E_mu = c(M) u_acc R + u_acc |mu|                    (sum, then the division by M)
  e.e_mu = cM * u.ua * R + u.ua * std::fabs(ch.mean);
  // E_var = u_acc (c(M) + 3) sigma^2                     (sum of squares; x - mu and the square)
  //       + 2 c(M) u_acc R sigma                         (running-mean drift of one-pass-stable
  //                                                       algorithms: Welford, Chan merges)
  //       + E_mu^2                                       (second order in the mean's error)
  e.e_var = u.ua * (cM + 3) * sigma2 + 2 * cM * u.ua * R * sigma + e.e_mu * e.e_mu;
  if (exact_fill_holds(p) && nx.sum_based_stats) {
    e.e_mu = 0;  // exact fill: sums are exact
    e.exact_mean = true;
    if (M % 2 == 0) {
      e.e_var = 0;
      e.exact_var = true;
    }
  }
  // r = (var + eps)^-1/2: relative error 1/2 (E_var + u_cmp (var + eps)) / (var + eps)
  // from the variance and the addition of eps, plus 2 u_cmp for sqrt and division.
  // (Written as e_var/v so that an infinite v — eps huge in the channel's units — is fine.)
  const double v = sigma2 + ch.eps;
  // v = 0: r is exactly +Inf (IEEE: special outputs, compared exactly) or exactly 0 (a
  // backend's declared convention: y = beta): no relative error to propagate either way.
  e.rel_r = v > 0 ? 0.5 * (e.e_var / v + u.uc) + 2 * u.uc : 0.0;
  // E_var >= var + eps: the first-order bound covers a computed var + eps anywhere in
  // [eps, var + eps + E_var] (an honest two-pass or Welford variance is >= 0). r is
  // then bounded by that range, and not at all when eps = 0: r may be +Inf
  // (undetermined channel, rel_r = +Inf; see "What a check cannot judge").
  if (v > 0 && !(e.e_var < v)) {
    const double above = ch.eps > 0 ? std::sqrt(v / ch.eps) - 1 : HUGE_VAL;
    const double below = 1 - std::sqrt(v / (v + e.e_var));
    e.rel_r = std::max(above, below) + 2 * u.uc;
  }
  return e;
}

// Section "Normalised value": error of xhat_i given errors of the mean and of r
// (x, mu, E_mu in the channel's units; r in their inverse):
//   dxhat_i = r (E_mu + 4 u_cmp (|x_i| + |mu|)) + |xhat_i| rel_r
// 4 u_cmp (|x_i| + |mu|) r covers both the direct form (x - mu) r gamma and the folded
// form x s + (beta - mu s) with s = gamma r that fast implementations use.
double xhat_error(double x, double xhat, double mu, double r, const StatErrors& e, const Units& u) {
  return r * (e.e_mu + 4 * u.uc * (std::fabs(x) + std::fabs(mu))) + std::fabs(xhat) * e.rel_r;
}

// Second-order terms are products of two first-order relative perturbations of xhat,
// each at most rho = rel_r + r E_mu: they add at most 2 rho to a first-order budget.
double second_order(const StatErrors& e, double r) {
  const double rho = e.rel_r + (std::isfinite(r) ? r * e.e_mu : 0.0);
  return std::isfinite(rho) ? 1 + 2 * rho : 1.0;
}

Budget first_order_budget(const Problem& p, const Conventions& conv, const Numerics& nx, const CaseData& d,
                          const Reference& ref, bool output_rounding, int64_t n0, int64_t n1) {
  Budget B;
  auto half_ulp = [output_rounding](double v, Dtype dt) { return output_rounding ? bncheck::half_ulp(v, dt) : 0.0; };
  const Units u{unit_roundoff_bits(nx.accumulation_bits), unit_roundoff_bits(nx.compute_bits)};
  const int64_t C = p.c, N = p.n, S = p.spatial_size(), M = N * S;
  const double cM = summation_factor(M);
  const Dtype pd = p.pdtype, dt = p.dtype;
  auto gamma_of = [&](int64_t c) { return p.affine ? d.gamma.get(c) : 1.0; };
  // y of rows [n0, n1): element i of the tensor is element i - off of ref.y and B.y.
  const size_t off = static_cast<size_t>(n0 * C * S);
  // Channels are independent: each writes its own budgets (harness/parallel.hpp).
  auto for_channels = [&](auto body) {
    parallel_chunks(C, C * M, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) body(c);
    });
  };

  if (p.dir == Direction::fwd_infer) {
    B.y.assign(ref.y.size(), 0);
    for_channels([&](int64_t c) {
      const ChannelRef& cr = ref.channel[c];
      if (!std::isfinite(cr.mean) || !std::isfinite(cr.var)) {
        // Non-finite running statistics: IEEE arithmetic gives special values (compared
        // exactly) or beta (x - rm) * 0 + beta, exact up to its final rounding.
        for (int64_t n = n0; n < n1; ++n)
          for (int64_t s = 0; s < S; ++s) {
            const size_t o = static_cast<size_t>(p.index(n, c, s)) - off;
            B.y[o] = half_ulp(std::fabs(ref.y.hi[o]), dt) + u.uc * std::fabs(ref.y.hi[o]);
          }
        return;
      }
      const Chan ch = scaled(cr, p.eps);
      const double g = gamma_of(c);
      StatErrors e;        // running statistics are exact inputs
      e.rel_r = 3 * u.uc;  // eps addition, sqrt, division
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t s = 0; s < S; ++s) {
          const size_t i = static_cast<size_t>(p.index(n, c, s)), o = i - off;
          const double x = ch.x(d.x.get(i)), xh = (x - ch.mean) * ch.r, y = ref.y.hi[o];
          const double pre =
              std::fabs(g) * xhat_error(x, xh, ch.mean, ch.r, e, u) + u.uc * (std::fabs(g * xh) + std::fabs(y));
          B.y[o] = pre + half_ulp(std::fabs(y) + pre, dt);
        }
    });
    return B;
  }

  B.save_mean.assign(C, 0);
  B.save_stat.assign(C, 0);
  if (p.dir == Direction::fwd_train) {
    B.y.assign(ref.y.size(), 0);
    B.running_mean.assign(C, 0);
    B.running_var.assign(C, 0);
    const double m = p.momentum;
    const double w_new = conv.momentum_dir == MomentumDir::new_stat ? m : 1 - m, w_old = 1 - w_new;
    const double f = conv.running_var == RunningVar::unbiased && M > 1 ? double(M) / double(M - 1) : 1.0;
    for_channels([&](int64_t c) {
      const ChannelRef& cr = ref.channel[c];
      if (cr.poisoned) return;
      const Chan ch = scaled(cr, p.eps);
      const StatErrors e = forward_stat_errors(p, nx, u, ch);
      const double g = gamma_of(c);
      const double e_mu = ch.back(e.e_mu, 1), e_var = ch.back(e.e_var, 2);
      B.save_mean[c] = e.exact_mean ? 0 : e_mu + half_ulp(std::fabs(cr.mean) + e_mu, pd);
      B.save_stat[c] = conv.saved == SavedStat::invstd ? cr.invstd * e.rel_r + half_ulp(cr.invstd * (1 + e.rel_r), pd)
                       : e.exact_var                   ? 0
                                                       : e_var + half_ulp(cr.var + e_var, pd);
      // Running statistics: the statistic's error, then per product term the load of r0 or
      // s into the compute type, the product and the sum (3 roundings; 2 more for the
      // unbiasing factor M/(M-1)), and the momentum's own rounding, which moves the
      // result by u |w| |s - r0|.
      const double rm0 = ch.x(d.running_mean.get(c)), rv0 = std::ldexp(d.running_var.get(c), -2 * ch.e);
      const double pre_m = ch.back(w_new * e.e_mu + 3 * u.uc * (std::fabs(w_old * rm0) + std::fabs(w_new * ch.mean)) +
                                       u.uc * w_new * std::fabs(ch.mean - rm0),
                                   1);
      const double pre_v =
          ch.back(w_new * f * e.e_var + 5 * u.uc * (std::fabs(w_old * rv0) + std::fabs(w_new * f * ch.var)) +
                      u.uc * w_new * std::fabs(f * ch.var - rv0),
                  2);
      B.running_mean[c] = pre_m + half_ulp(std::fabs(ref.running_mean.hi[c]) + pre_m, pd);
      B.running_var[c] = pre_v + half_ulp(std::fabs(ref.running_var.hi[c]) + pre_v, pd);
      const double f2 = second_order(e, ch.r);
      B.save_mean[c] *= f2;
      B.save_stat[c] *= f2;
      B.running_mean[c] *= f2;
      B.running_var[c] *= f2;
      // Undetermined channel: E_var >= var and eps = 0, so an honest implementation may
      // compute var + eps = 0 (f32 Welford at kappa ~ 1/sqrt(u), M = 2: found by the
      // libFuzzer target) and r anywhere up to +Inf. r and y carry no accuracy claim there: their
      // budget is infinite, which compare_tensor reads as "any value, degenerate".
      if (std::isinf(e.rel_r)) {
        if (conv.saved == SavedStat::invstd) B.save_stat[c] = HUGE_VAL;
        for (int64_t n = n0; n < n1; ++n)
          for (int64_t s = 0; s < S; ++s) B.y[static_cast<size_t>(p.index(n, c, s)) - off] = HUGE_VAL;
        return;
      }
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t s = 0; s < S; ++s) {
          const size_t i = static_cast<size_t>(p.index(n, c, s)), o = i - off;
          const double x = ch.x(d.x.get(i)), xh = (x - ch.mean) * ch.r, y = ref.y.hi[o];
          const double pre =
              std::fabs(g) * xhat_error(x, xh, ch.mean, ch.r, e, u) + u.uc * (std::fabs(g * xh) + std::fabs(y));
          B.y[o] = f2 * (pre + half_ulp(std::fabs(y) + pre, dt));
        }
    });
    return B;
  }

  // Backward.
  B.dx.assign(ref.dx.size(), 0);
  if (p.affine) {
    B.dgamma.assign(C, 0);
    B.dbeta.assign(C, 0);
  }
  for_channels([&](int64_t c) {
    const ChannelRef& cr = ref.channel[c];
    if (cr.poisoned) {
      // A non-finite x leaves dbeta = sum dy finite (when dy is): its ordinary budget.
      if (p.affine && std::isfinite(ref.dbeta.hi[c])) {
        double sad = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t s = 0; s < S; ++s) sad += std::fabs(d.dy.get(static_cast<size_t>(p.index(n, c, s))));
        const double e_db = cM * u.ua * sad;
        B.dbeta[c] = e_db + half_ulp(std::fabs(ref.dbeta.hi[c]) + e_db, pd);
      }
      return;
    }
    const Chan ch = scaled(cr, p.eps);
    const double g = gamma_of(c);
    // The saved statistics handed to the backend carry a known error, measured against
    // the exact value as a double-double (for f64 parameters it would vanish in double).
    // Where the exact value is subnormal in double, its low part underflows (the
    // residual is below 2^-1074): the distance is then known only to within one
    // subnormal spacing of double, which is added (found by `bncheck run` on f64 data of
    // spread 1e-312: the saved mean's rounding error read as 0).
    auto exact_distance = [](double got, const RefTensor& t, int64_t i) {
      const double lost =
          std::fabs(t.hi[i]) < std::numeric_limits<double>::min() ? std::numeric_limits<double>::denorm_min() : 0.0;
      return std::fabs((got - t.hi[i]) - t.lo_at(static_cast<size_t>(i))) + lost;
    };
    StatErrors e;
    e.e_mu = ch.x(exact_distance(d.save_mean.get(c), ref.save_mean, c));
    const double saved_err = exact_distance(d.save_stat.get(c), ref.save_stat, c);
    if (conv.saved == SavedStat::invstd)
      e.rel_r = saved_err / cr.invstd + u.uc;
    else
      e.rel_r = 0.5 * (std::ldexp(saved_err, -2 * ch.e) / (ch.var + ch.eps) + u.uc) + 2 * u.uc;
    // E_dbeta = c(M) u_acc sum|dy|
    const double e_dbeta = cM * u.ua * cr.sum_abs_dy;
    // E_dgamma = sum |dy_i| dxhat_i + (c(M) u_acc + u_cmp) sum |dy_i xhat_i|
    double e_dgamma = (cM * u.ua + u.uc) * cr.sum_abs_dy_xhat;
    std::vector<double> dxh(static_cast<size_t>(M));
    for (int64_t n = 0, k = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s, ++k) {
        const size_t i = static_cast<size_t>(p.index(n, c, s));
        const double x = ch.x(d.x.get(i)), xh = (x - ch.mean) * ch.r;
        dxh[k] = xhat_error(x, xh, ch.mean, ch.r, e, u);
        e_dgamma += std::fabs(d.dy.get(i)) * dxh[k];
      }
    const double f2 = second_order(e, ch.r);
    if (p.affine) {
      B.dbeta[c] = e_dbeta + half_ulp(std::fabs(cr.dbeta) + e_dbeta, pd);
      B.dgamma[c] = f2 * (e_dgamma + half_ulp(std::fabs(cr.dgamma) + e_dgamma, pd));
    }
    // dx_i = g r / M (M dy_i - dbeta - xhat_i dgamma):
    //   E_dx_i = |g| r / M (E_dbeta + |xhat_i| E_dgamma + dxhat_i |dgamma| + 4 u_cmp T_i)
    //          + |dx_i| (rel_r + 2 u_cmp) + ulp(dx_i)/2,  T_i = M|dy_i| + |dbeta| + |xhat_i dgamma|
    // (|g| r / M in the channel's units, scaled back by 2^-e: dx has the dimension 1/x.)
    const double k0 = std::fabs(g) * ch.r / static_cast<double>(M);
    // Second order, from the exact expansion with r_saved = r (1 + rho) and
    // xhat_saved = (1 + rho)(xhat - b), b = r E_mu: at most 3 (rho + b)^2 times the
    // magnitudes |xhat| (|dgamma| + |dbeta|) + |dgamma| + |dbeta|. Unlike the factor
    // below, this term does not shrink with |xhat|.
    const double rb = e.rel_r + ch.r * e.e_mu, q2 = 3 * rb * rb;
    for (int64_t n = 0, k = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s, ++k) {
        const size_t i = static_cast<size_t>(p.index(n, c, s));
        const double x = ch.x(d.x.get(i)), xh = (x - ch.mean) * ch.r, dy = d.dy.get(i), dxv = ref.dx.hi[i];
        const double T = static_cast<double>(M) * std::fabs(dy) + std::fabs(cr.dbeta) + std::fabs(xh * cr.dgamma);
        const double second = q2 * ((std::fabs(xh) + 1) * (std::fabs(cr.dgamma) + std::fabs(cr.dbeta)));
        const double pre =
            ch.back(k0 * (e_dbeta + std::fabs(xh) * e_dgamma + dxh[k] * std::fabs(cr.dgamma) + 4 * u.uc * T + second),
                    -1) +
            std::fabs(dxv) * (e.rel_r + 2 * u.uc);
        // The stored value rounds at its own magnitude, at most |dx| + pre.
        B.dx[i] = f2 * (pre + half_ulp(std::fabs(dxv) + pre, dt));
      }
  });
  return B;
}

}  // namespace

Budget compute_budget(const Problem& given, const Conventions& conv, const Numerics& nx, const CaseData& d,
                      const Reference& ref, bool output_rounding, Rows rows) {
  Problem p = given;
  p.eps = effective_eps(given.eps, conv);
  const int64_t n0 = rows.n0, n1 = rows.n1 < 0 ? p.n : rows.n1;
  if (n0 < 0 || n1 < n0 || n1 > p.n || (p.dir == Direction::bwd && (n0 != 0 || n1 != p.n)))
    throw std::invalid_argument("compute_budget: rows out of range (backward takes the whole tensor)");
  Budget B = first_order_budget(p, conv, nx, d, ref, output_rounding, n0, n1);
  // Scaling a budget back from the channel's units rounds it in the subnormal range:
  // one subnormal spacing of the output dtype covers that (and nothing else notices it).
  const double sub = ulp(0.0, p.dtype);
  for (auto* v : {&B.y, &B.save_mean, &B.save_stat, &B.running_mean, &B.running_var, &B.dx, &B.dgamma, &B.dbeta}) {
    const bool elementwise = output_rounding && (v == &B.y || v == &B.dx);
    const int64_t n = static_cast<int64_t>(v->size());
    parallel_chunks(n, n, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        double& b = (*v)[static_cast<size_t>(i)];
        b *= kSecondOrderFactor;
        if (elementwise) b += sub;
      }
    });
  }
  // A backend that declares flush-to-zero may return 0 where the exact result is
  // subnormal (below the smallest normal of the output dtype): the budget allows it.
  if (nx.flush_denormals) {
    auto ftz = [](std::vector<double>& b, const RefTensor& r) {
      if (r.empty()) return;
      const double tiny = std::ldexp(1.0, format_info(r.dtype).emin);
      for (size_t i = 0; i < b.size(); ++i)
        if (std::fabs(r.hi[i]) < tiny) b[i] = std::max(b[i], tiny);
    };
    ftz(B.y, ref.y);
    ftz(B.dx, ref.dx);
  }
  return B;
}

}  // namespace bncheck
