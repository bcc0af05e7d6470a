// Structure: inference folding, equivariance under permutations, channel independence
// and layout agreement.
#include "properties/support.hpp"

namespace bncheck::props::detail {

// ---- 6. inference folding ------------------------------------------------------------------
Result inference_folding(Backend* b, const Problem& p0, uint64_t) {
  Problem p = p0;
  p.dir = Direction::fwd_infer;
  CaseData d = make_case_data(p);
  if (poisoned(p, d.x)) return Result::skip("non-finite data");
  // The running mean of each channel is one of its x: there, y must be beta exactly.
  std::vector<size_t> at(p.c, SIZE_MAX);
  for (int64_t c = 0; c < p.c; ++c) {
    const size_t i = channel_indices(p, c)[0];
    const double x = d.x.get(i);
    if (round_to(x, p.pdtype) != x) continue;
    d.running_mean.set(c, x);
    at[c] = i;
  }
  const Eval e = evaluate(b, p, d);
  Result r;
  if (failed_to_run(e, &r)) return r;
  if (b && e.verdict == Verdict::fail)
    return fail("eval-mode output is not the affine map gamma/sqrt(rv+eps) (x - rm) + beta within budget: " +
                e.message);
  bool exact = true;
  for (int64_t c = 0; c < p.c; ++c) {
    if (at[c] == SIZE_MAX) continue;
    const double beta = p.affine ? d.beta.get(c) : 0.0;
    const double want = b ? round_to(beta, p.dtype) : beta, got = e.v.at("y")[at[c]];  // reference: exact
    if (got == want || (std::isnan(got) && std::isnan(want))) continue;
    exact = false;
    // A backend that declares the folded form x s + (beta - rm s) owes beta within budget
    // only; the reference, beta to within its export accuracy (its hi, error-model.md).
    if ((e.nx.folds_inference || !b) && std::fabs(got - want) <= e.tol.at("y")[at[c]]) continue;
    return fail("channel " + std::to_string(c) + ": x = running mean gives y = " + fmt(got) +
                ", want beta = " + fmt(want) + (e.nx.folds_inference ? " within budget" : " exactly"));
  }
  if (b) r.notes.push_back(exact ? "exact at x = running mean" : "folded: beta within budget at x = running mean");
  return r;
}

// ---- 7. equivariance and independence ---------------------------------------------------------
Result equivariance_independence(Backend* b, const Problem& p0, uint64_t aux) {
  Problem p = p0;
  const CaseData d = make_case_data(p);
  const Eval e = evaluate(b, p, d);
  Result r;
  if (failed_to_run(e, &r)) return r;
  const int64_t S = p.spatial_size();
  auto with_data = [&](const Problem& q, const std::function<double(const Tensor&, int64_t, int64_t, int64_t)>& f) {
    CaseData x = d;
    for (Tensor* t : {&x.x, &x.dy}) {
      if (t->empty()) continue;
      const Tensor& src = t == &x.x ? d.x : d.dy;
      Tensor out(src.dtype(), src.size());
      for (int64_t n = 0; n < q.n; ++n)
        for (int64_t c = 0; c < q.c; ++c)
          for (int64_t s = 0; s < S; ++s) out.set_bits(q.index(n, c, s), round_to_bits(f(src, n, c, s), src.dtype()));
      *t = std::move(out);
    }
    return x;
  };
  // (a) Permuting the batch (or, for N = 1, the spatial positions) permutes the output.
  {
    std::vector<int64_t> perm(static_cast<size_t>(p.n > 1 ? p.n : S));
    std::iota(perm.begin(), perm.end(), 0);
    uint64_t s = mix(aux);
    for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[(s = mix(s)) % i]);
    const bool batch = p.n > 1;
    auto src = [&](int64_t n, int64_t sp) { return batch ? std::make_pair(perm[n], sp) : std::make_pair(n, perm[sp]); };
    const CaseData dp = with_data(p, [&](const Tensor& t, int64_t n, int64_t c, int64_t sp) {
      const auto [n2, s2] = src(n, sp);
      return t.get(static_cast<size_t>(p.index(n2, c, s2)));
    });
    const Eval ep = evaluate(b, p, dp);
    if (failed_to_run(ep, &r)) return r;
    auto map = [&](size_t i) -> size_t {  // element i of the permuted run came from map(i)
      const int64_t c =
          p.layout == Layout::channels_first ? (static_cast<int64_t>(i) / S) % p.c : static_cast<int64_t>(i) % p.c;
      const int64_t n = static_cast<int64_t>(i) / (S * p.c);
      const int64_t sp =
          p.layout == Layout::channels_first ? static_cast<int64_t>(i) % S : (static_cast<int64_t>(i) / p.c) % S;
      const auto [n2, s2] = src(n, sp);
      return static_cast<size_t>(p.index(n2, c, s2));
    };
    bool bitwise = true;
    for (const char* n : {"y", "dx"})
      if (std::string m = compare(ep, e, n, map, 1.0, &bitwise); !m.empty())
        return fail(std::string(batch ? "batch" : "spatial") + " permutation: " + m);
    if (b) r.notes.push_back(bitwise ? "permutation-exact" : "permutation changes bits");
  }
  // (b) Changing one channel leaves every other channel bit-identical.
  if (p.c > 1) {
    const int64_t c0 = static_cast<int64_t>(aux % static_cast<uint64_t>(p.c));
    const bool poison = (aux >> 5) % 2;
    const CaseData dc = with_data(p, [&](const Tensor& t, int64_t n, int64_t c, int64_t sp) {
      const double v = t.get(static_cast<size_t>(p.index(n, c, sp)));
      if (c != c0) return v;
      if (poison && n == 0 && sp == 0 && &t == &d.x) return std::nan("");
      return 2 * v + 1;
    });
    const Eval ec = evaluate(b, p, dc);
    if (failed_to_run(ec, &r)) return r;
    for (const auto& [name, vals] : e.v) {
      const bool per_channel = vals.size() == static_cast<size_t>(p.c) && name != "y" && name != "dx";
      for (size_t i = 0; i < vals.size(); ++i) {
        const int64_t c = per_channel ? static_cast<int64_t>(i)
                                      : (p.layout == Layout::channels_first ? (static_cast<int64_t>(i) / S) % p.c
                                                                            : static_cast<int64_t>(i) % p.c);
        if (c == c0) continue;
        const double a = vals[i], bb = ec.v.at(name)[i];
        if (!(a == bb || (std::isnan(a) && std::isnan(bb))) || std::signbit(a) != std::signbit(bb))
          return fail("changing channel " + std::to_string(c0) + (poison ? " (one NaN)" : "") + " changed " + name +
                      "[" + std::to_string(i) + "] of channel " + std::to_string(c) + ": " + fmt(a) + " -> " + fmt(bb));
      }
    }
  }
  // (c) Channels-first and channels-last give the same values.
  {
    Problem q = p;
    q.layout = p.layout == Layout::channels_first ? Layout::channels_last : Layout::channels_first;
    const CaseData dq = with_data(q, [&](const Tensor& t, int64_t n, int64_t c, int64_t sp) {
      return t.get(static_cast<size_t>(p.index(n, c, sp)));
    });
    const Eval eq = evaluate(b, q, dq);
    if (failed_to_run(eq, &r)) return r;
    auto map = [&](size_t i) -> size_t {  // q's element i is p's element map(i)
      const int64_t ii = static_cast<int64_t>(i);
      const int64_t c = q.layout == Layout::channels_first ? (ii / S) % q.c : ii % q.c;
      const int64_t n = ii / (S * q.c);
      const int64_t sp = q.layout == Layout::channels_first ? ii % S : (ii / q.c) % S;
      return static_cast<size_t>(p.index(n, c, sp));
    };
    bool bitwise = true;
    for (const char* n : {"y", "dx"})
      if (std::string m = compare(eq, e, n, map, 1.0, &bitwise); !m.empty())
        return fail(std::string("layout ") + to_string(q.layout) + " vs " + to_string(p.layout) + ": " + m);
    for (const char* n : {"save_mean", "save_stat", "running_mean", "running_var", "dgamma", "dbeta"})
      if (std::string m = compare(eq, e, n, identity, 1.0, &bitwise); !m.empty())
        return fail(std::string("layout ") + to_string(q.layout) + " vs " + to_string(p.layout) + ": " + m);
    if (b) r.notes.push_back(bitwise ? "layout-exact" : "layouts differ in bits");
  }
  return r;
}

}  // namespace bncheck::props::detail
