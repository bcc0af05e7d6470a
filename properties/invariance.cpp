// Invariances: scale (through a linear layer), shift, and affine recovery.
#include "properties/support.hpp"

namespace bncheck::props::detail {

// ---- 3. scale invariance BN(aWu) = BN(Wu) ---------------------------------------------
Result scale_invariance(Backend* b, const Problem& p0, uint64_t aux) {
  Problem p = p0;
  if (p.dir == Direction::fwd_infer) p.dir = Direction::fwd_train;
  const bool narrow = p.dtype == Dtype::f16 || p.dtype == Dtype::bf16;
  const int k = static_cast<int>(aux % 13) - 6;
  const double mults[] = {1.0, 0.75, 1.25, 3.0};
  const double mult = narrow ? 1.0 : mults[(aux / 13) % 4];
  const double a = std::ldexp(mult, k);
  CaseData d1 = make_case_data(p);
  if (poisoned(p, d1.x)) return Result::skip("non-finite data");
  // x = W u, a small linear layer in front of BN (BatchNorm1d: one x per (n, c) when
  // there is no spatial dimension; for spatial problems u varies over positions too).
  const int K = 3;
  std::vector<double> W(static_cast<size_t>(p.c * K)), U(static_cast<size_t>(p.n * p.spatial_size() * K));
  uint64_t s = mix(aux ^ p.seed);
  for (auto& w : W) w = static_cast<double>(static_cast<int>((s = mix(s)) % 9) - 4) / 8;  // 1/8 grid, exact
  for (auto& u : U) u = static_cast<double>(static_cast<int>((s = mix(s)) % 9) - 4) / 8;
  const int64_t S = p.spatial_size();
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t c = 0; c < p.c; ++c)
      for (int64_t sp = 0; sp < S; ++sp) {
        double x = 0;
        for (int kk = 0; kk < K; ++kk) x += W[c * K + kk] * U[(n * S + sp) * K + kk];  // exact: 1/64 grid, |x| <= 0.75
        d1.x.set(p.index(n, c, sp), x);
      }
  CaseData d2 = d1;
  for (size_t i = 0; i < d1.x.size(); ++i) {
    const double v = a * d1.x.get(i);
    if (round_to(v, p.dtype) != v) return Result::skip("a*x not exact in " + std::string(dtype_name(p.dtype)));
    d2.x.set(i, v);
  }
  p.eps = quantize(p.eps, 20);  // so that a^2 eps is exact for every a used here
  for (int64_t c = 0; c < p.c; ++c)
    if (degenerate(exact_stats(p, p.conv, d1.x, c), p.eps)) return Result::skip("var + eps = 0");
  Problem p2 = p;
  p2.eps = p.eps * a * a;  // BN_eps(x) = BN_{a^2 eps}(a x), exactly
  const Eval e1 = evaluate(b, p, d1), e2 = evaluate(b, p2, d2);
  Result r;
  if (failed_to_run(e1, &r) || failed_to_run(e2, &r)) return r;
  // a^2 eps rounded in double perturbs eps by de = |fl(a^2 eps)/a^2 - eps|: y moves by
  // at most 1/2 |gamma xhat| de / (var + eps) (first order; doubled for safety).
  std::vector<double> extra(d1.x.size(), 0.0);
  const double de = to_d(abs(Real(p2.eps) / (Real(a) * Real(a)) - Real(p.eps)));
  if (de > 0)
    for (int64_t c = 0; c < p.c; ++c) {
      const auto st = exact_stats(p, p.conv, d1.x, c);
      if (degenerate(st, p.eps)) continue;
      const double g = p.affine ? std::fabs(d1.gamma.get(c)) : 1.0;
      for (size_t i : channel_indices(p, c))
        extra[i] = g * std::fabs(to_d(ref::xhat(Real(d1.x.get(i)), st))) * de / to_d(st.var + Real(p.eps));
    }
  bool bitwise = true;
  std::string m = compare(e1, e2, "y", identity, 1.0, &bitwise, &extra);
  if (m.empty() && p.dir == Direction::bwd) {
    m = compare(e1, e2, "dx", identity, a, &bitwise);  // dx(a x) = dx(x) / a
    if (m.empty()) m = compare(e1, e2, "dgamma", identity, 1.0, &bitwise);
    if (m.empty()) m = compare(e1, e2, "dbeta", identity, 1.0, &bitwise);
    // Through the linear layer: du = W^T dx and d(aW) = dx(a) u^T.
    for (int kk = 0; m.empty() && kk < K; ++kk)
      for (int64_t n = 0; m.empty() && n < p.n; ++n)
        for (int64_t sp = 0; m.empty() && sp < S; ++sp) {
          Real du1 = 0, du2 = 0;
          double tol = 0;
          for (int64_t c = 0; c < p.c; ++c) {
            const size_t i = static_cast<size_t>(p.index(n, c, sp));
            const double w = W[c * K + kk];
            du1 += Real(w) * e1.at("dx", i);
            du2 += Real(a * w) * e2.at("dx", i);
            tol += std::fabs(w) * (e1.tol.at("dx")[i] + a * e2.tol.at("dx")[i]);
          }
          if (!(to_d(abs(du1 - du2)) <= tol))
            m = "du[n=" + std::to_string(n) + ",k=" + std::to_string(kk) + "]: " + fmt(to_d(du1)) + " vs " +
                fmt(to_d(du2)) + " (tolerance " + fmt(tol) + ")";
        }
    for (int64_t c = 0; m.empty() && c < p.c; ++c)
      for (int kk = 0; m.empty() && kk < K; ++kk) {
        Real dw1 = 0, dwa = 0;
        double tol = 0;
        for (int64_t n = 0; n < p.n; ++n)
          for (int64_t sp = 0; sp < S; ++sp) {
            const size_t i = static_cast<size_t>(p.index(n, c, sp));
            const double u = U[(n * S + sp) * K + kk];
            dw1 += Real(u) * e1.at("dx", i);
            dwa += Real(u) * e2.at("dx", i);
            tol += std::fabs(u) * (e1.tol.at("dx")[i] / a + e2.tol.at("dx")[i]);
          }
        if (!(to_d(abs(dwa - dw1 / Real(a))) <= tol))
          m = "d(aW)[c=" + std::to_string(c) + ",k=" + std::to_string(kk) + "] = " + fmt(to_d(dwa)) +
              ", want dW/a = " + fmt(to_d(dw1 / Real(a))) + " (tolerance " + fmt(tol) + ")";
      }
  }
  if (!m.empty()) return fail("a = " + fmt(a) + ", eps scaled to " + fmt(p2.eps) + ": " + m);
  if (mult == 1.0 && b) r.notes.push_back(bitwise ? "scale-exact" : "not scale-exact");
  return r;
}

// ---- 4. shift invariance BN(x + b) = BN(x) ----------------------------------------------
Result shift_invariance(Backend* b, const Problem& p0, uint64_t aux) {
  Problem p = p0;
  if (p.dir == Direction::fwd_infer) p.dir = Direction::fwd_train;
  CaseData d1 = make_case_data(p);
  if (poisoned(p, d1.x)) return Result::skip("non-finite data");
  const int bits = format_info(p.dtype).p;
  // x on a grid leaving headroom, so that x + shift is exact.
  double xmax = 0;
  for (size_t i = 0; i < d1.x.size(); ++i) xmax = std::max(xmax, std::fabs(d1.x.get(i)));
  if (xmax == 0) return Result::skip("zero data");
  int ex;
  std::frexp(xmax, &ex);
  const int headroom = bits >= 24 ? 14 : 4;  // shift up to 2^headroom * |x|max
  const double grid = std::ldexp(1.0, ex - (bits - headroom));
  for (size_t i = 0; i < d1.x.size(); ++i) d1.x.set(i, std::nearbyint(d1.x.get(i) / grid) * grid);
  CaseData d2 = d1;
  const double ratios[] = {1, 8, 100, 1000};
  for (int64_t c = 0; c < p.c; ++c) {
    const double ratio = ratios[(aux + static_cast<uint64_t>(c)) % (bits >= 24 ? 4 : 2)];
    const double sigma = std::max(channel_fill(p, c).spread, grid);
    const double shift = std::nearbyint(ratio * sigma * ((aux >> 3) % 2 ? -1 : 1) / grid) * grid;
    for (size_t i : channel_indices(p, c)) {
      const double v = d1.x.get(i) + shift;
      if (round_to(v, p.dtype) != v) return Result::skip("x + shift not exact");
      d2.x.set(i, v);
    }
  }
  const Eval e1 = evaluate(b, p, d1), e2 = evaluate(b, p, d2);
  Result r;
  if (failed_to_run(e1, &r) || failed_to_run(e2, &r)) return r;
  for (const char* n : {"y", "dx", "dgamma", "dbeta"})
    if (std::string m = compare(e1, e2, n, identity); !m.empty()) return fail("shifted data: " + m);
  return r;
}

// ---- 5. affine recovery ------------------------------------------------------------------
Result affine_recovery(Backend* b, const Problem& p0, uint64_t) {
  Problem p = p0;
  p.dir = Direction::fwd_train;
  p.affine = true;
  CaseData d = make_case_data(p);
  if (poisoned(p, d.x)) return Result::skip("non-finite data");
  std::vector<double> dg(p.c), db(p.c);  // distance of the stored gamma, beta to the exact ones
  for (int64_t c = 0; c < p.c; ++c) {
    const auto st = exact_stats(p, p.conv, d.x, c);
    const Real g = sqrt(st.var + Real(p.eps));
    d.gamma.set_bits(c, round_to_bits(g, p.pdtype));
    d.beta.set_bits(c, round_to_bits(st.mean, p.pdtype));
    dg[c] = to_d(abs(Real(d.gamma.get(c)) - g));
    db[c] = to_d(abs(Real(d.beta.get(c)) - st.mean));
  }
  const Eval e = evaluate(b, p, d);
  Result r;
  if (failed_to_run(e, &r)) return r;
  for (int64_t c = 0; c < p.c; ++c) {
    const auto st = exact_stats(p, e.p.conv, d.x, c);
    if (degenerate(st, p.eps)) continue;
    for (size_t i : channel_indices(p, c)) {
      const double xh = std::fabs(to_d(ref::xhat(Real(d.x.get(i)), st)));
      // y - x = (gamma_stored - gamma*) xhat + (beta_stored - mean) exactly; 2^-40 covers
      // the double arithmetic of this bound.
      const double tol = e.tol.at("y")[i] + (dg[c] * xh + db[c]) * (1 + 0x1p-40) + kRefRel * std::fabs(d.x.get(i));
      const double diff = to_d(abs(e.at("y", i) - Real(d.x.get(i))));
      if (!(diff <= tol))
        return fail("y[" + std::to_string(i) + "] = " + fmt(e.v.at("y")[i]) + ", want x = " + fmt(d.x.get(i)) +
                    " (difference " + fmt(diff) + " > tolerance " + fmt(tol) + ")");
    }
  }
  return r;
}

// ---- sign symmetry BN(-x; -beta, -rm) = -BN(x; beta, rm) ----------------------------------
// Rounding to nearest is odd, fl(-a op b) = -fl(a op b) for + - * / and fused
// multiply-add, and the variance, sqrt and the inverse std see only |x - mean|: a
// deterministic implementation of round-to-nearest arithmetic gives exactly negated
// y, save_mean, running_mean and dgamma and exactly the same save_stat, running_var,
// dx and dbeta (dy unchanged). So the comparison is bitwise, with no tolerance; what it
// catches is any rounding that leans one way (a bias of an ulp, rounding up, a
// truncating conversion of a signed value). The reference is held to its own export
// accuracy.
Result sign_symmetry(Backend* b, const Problem& p, uint64_t) {
  if (b && !b->numerics(p).deterministic) return Result::skip("declared nondeterministic");
  const CaseData d1 = make_case_data(p);
  if (poisoned(p, d1.x)) return Result::skip("non-finite data");
  CaseData d2 = d1;
  auto negate = [](Tensor& t) {
    for (size_t i = 0; i < t.size(); ++i) t.set(i, -t.get(i));
  };
  negate(d2.x);
  if (!d2.beta.empty()) negate(d2.beta);
  if (!d2.running_mean.empty()) negate(d2.running_mean);
  const Eval e1 = evaluate(b, p, d1), e2 = evaluate(b, p, d2);
  Result r;
  if (failed_to_run(e1, &r) || failed_to_run(e2, &r)) return r;
  for (const char* n : {"y", "save_mean", "save_stat", "running_mean", "running_var", "dx", "dgamma", "dbeta"}) {
    if (!e1.has(n) || !e2.has(n)) continue;
    const std::string name = n;
    const double s = name == "y" || name == "save_mean" || name == "running_mean" || name == "dgamma" ? -1.0 : 1.0;
    if (!b) {
      const std::string m = compare(e1, e2, name, identity, s);
      if (!m.empty()) return fail("BN(x) against the sign of BN(-x): " + m);
      continue;
    }
    const auto &v1 = e1.v.at(name), &v2 = e2.v.at(name);
    for (size_t i = 0; i < v1.size(); ++i)
      if (!(v1[i] == s * v2[i] || (std::isnan(v1[i]) && std::isnan(v2[i]))))
        return fail(name + "[" + std::to_string(i) + "] = " + fmt(v1[i]) + " for x, but " + fmt(v2[i]) +
                    (s < 0 ? " for -x (want its negation exactly: round-to-nearest is odd)"
                           : " for -x (want it unchanged exactly)"));
  }
  if (b) r.notes.push_back("exactly symmetric");
  return r;
}

}  // namespace bncheck::props::detail
