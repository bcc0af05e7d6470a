// The ten properties. Each builds its cases, runs the backend (or takes the
// reference's own results) and checks an invariant within the tolerances of
// docs/error-model.md ("Property budgets"). Sums over outputs are exact (256 bits):
// no float accumulator decides a property.
#include "properties/properties.hpp"

#include <boost/multiprecision/cpp_bin_float.hpp>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <sstream>

#include "harness/fill_rules.hpp"
#include "harness/runner.hpp"
#include "harness/rng.hpp"
#include "reference/bnorm_ref.hpp"

namespace bncheck::props {
namespace {

using Real = boost::multiprecision::number<
    boost::multiprecision::cpp_bin_float<256, boost::multiprecision::digit_base_2>, boost::multiprecision::et_off>;

// The reference exports its results as double-doubles (~2^-106 relative): on the
// reference, properties are checked to 2^-100 relative.
constexpr double kRefRel = 0x1p-100;

double to_d(const Real& v) { return ref::to_double(v); }

std::string fmt(double v) {
  std::ostringstream o;
  o.precision(6);
  o << v;
  return o.str();
}

// One evaluated case: the backend's outputs (or the reference's exact values) and
// the tolerance of each element.
struct Eval {
  bool ran = false;
  Verdict verdict = Verdict::pass;
  std::string message;
  Problem p;        // with the conventions the backend declared
  Numerics nx;
  std::map<std::string, std::vector<double>> v, lo, tol;
  bool has(const std::string& n) const { return v.count(n) > 0; }
  Real at(const std::string& n, size_t i) const { return Real(v.at(n)[i]) + Real(lo.at(n)[i]); }
};

// The outputs by name, in both the budget and the reference.
struct OutputField {
  const char* name;
  std::vector<double> Budget::*budget;
  RefTensor Reference::*ref;
};
constexpr OutputField kOutputs[] = {
    {"y", &Budget::y, &Reference::y}, {"save_mean", &Budget::save_mean, &Reference::save_mean},
    {"save_stat", &Budget::save_stat, &Reference::save_stat}, {"running_mean", &Budget::running_mean, &Reference::running_mean},
    {"running_var", &Budget::running_var, &Reference::running_var}, {"dx", &Budget::dx, &Reference::dx},
    {"dgamma", &Budget::dgamma, &Reference::dgamma}, {"dbeta", &Budget::dbeta, &Reference::dbeta}};

const std::vector<double>* budget_of(const Budget& B, const std::string& n) {
  for (const auto& f : kOutputs)
    if (n == f.name) return &(B.*f.budget);
  return nullptr;
}

Eval evaluate(Backend* b, const Problem& p, const CaseData& d) {
  Eval e;
  CaseRunner r(p, d);
  if (!b) {
    e.ran = true;
    e.p = p;
    const Reference& R = r.reference(p.conv);
    // The error model at u = 2^-100, without output rounding: the reference's results
    // are exact to its export as double-doubles (~2^-106).
    Numerics ref_nx;
    ref_nx.accumulation_bits = ref_nx.compute_bits = 100;
    const Budget B = compute_budget(p, p.conv, ref_nx, r.data_for(p.conv), R, false);
    for (const auto& f : kOutputs) {
      const char* n = f.name;
      const RefTensor* t = &(R.*f.ref);
      if (t->empty()) continue;
      e.v[n] = t->hi;
      e.lo[n] = t->lo;
      auto& tol = e.tol[n];
      const std::vector<double>& bud = *budget_of(B, n);
      for (size_t i = 0; i < t->hi.size(); ++i)
        tol.push_back(std::isfinite(t->hi[i]) ? bud[i] + kRefRel * std::fabs(t->hi[i]) + 1e-300 : 0);
    }
    return e;
  }
  CaseOutputs out;
  const CaseReport rep = r.run(*b, &out);
  e.verdict = rep.verdict;
  e.message = rep.message;
  if (rep.verdict == Verdict::unsupported || rep.verdict == Verdict::unavailable) return e;
  e.ran = true;
  e.p = p;
  e.p.conv = b->conventions(p);
  e.nx = b->numerics(e.p);
  if (out.tensors.empty()) return e;
  const Budget B = compute_budget(e.p, e.p.conv, e.nx, r.data_for(e.p.conv), r.reference(e.p.conv));
  for (const auto& [n, t] : out.tensors) {
    const std::vector<double>* bud = budget_of(B, n);
    if (!bud || bud->empty()) continue;
    auto& vv = e.v[n];
    for (size_t i = 0; i < t.size(); ++i) vv.push_back(t.get(i));
    e.lo[n].assign(vv.size(), 0.0);
    e.tol[n] = *bud;
  }
  return e;
}

bool failed_to_run(const Eval& e, Result* r) {
  if (!e.ran) { *r = Result::skip("unsupported: " + e.message); return true; }
  if (is_failure(e.verdict) && e.verdict != Verdict::fail) {
    r->holds = false;
    r->message = std::string(to_string(e.verdict)) + ": " + e.message;
    return true;
  }
  return false;
}

std::vector<size_t> channel_indices(const Problem& p, int64_t c) {
  std::vector<size_t> idx;
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t s = 0; s < p.spatial_size(); ++s) idx.push_back(static_cast<size_t>(p.index(n, c, s)));
  return idx;
}

ref::Stats<Real> exact_stats(const Problem& p, const Conventions& conv, const Tensor& x, int64_t c) {
  std::vector<Real> xs;
  for (size_t i : channel_indices(p, c)) xs.push_back(Real(x.get(i)));
  return ref::channel_stats(xs, p.eps, conv);
}

// var + eps = 0: the normalisation is 0/0 (or a declared convention); properties skip it.
bool degenerate(const ref::Stats<Real>& st, double eps) { return st.var + Real(eps) == 0; }

bool poisoned(const Problem& p, const Tensor& x) {
  for (size_t i = 0; i < static_cast<size_t>(p.elements()); ++i)
    if (!std::isfinite(x.get(i))) return true;
  return false;
}

// Elementwise |A[i] - s*B[map(i)]| <= tolA + |s| tolB over output n. Empty when it holds.
std::string compare(const Eval& A, const Eval& B, const std::string& n, const std::function<size_t(size_t)>& map,
                    double s = 1.0, bool* bitwise = nullptr, const std::vector<double>* extra = nullptr) {
  if (!A.has(n) || !B.has(n)) return "";
  const auto& va = A.v.at(n);
  for (size_t i = 0; i < va.size(); ++i) {
    const size_t j = map(i);
    const double a = va[i], b = B.v.at(n)[j];
    const bool same = a == s * b || (std::isnan(a) && std::isnan(b));
    if (bitwise && !same) *bitwise = false;
    if (same && A.lo.at(n)[i] == s * B.lo.at(n)[j]) continue;   // equal values (infinities too) always agree
    if (std::isnan(a) || std::isnan(b) || std::isinf(a) || std::isinf(b))
      return n + "[" + std::to_string(i) + "]: " + fmt(a) + " vs " + fmt(s * b);
    const double diff = to_d(abs(A.at(n, i) - Real(s) * B.at(n, j)));
    const double tol = A.tol.at(n)[i] + std::fabs(s) * B.tol.at(n)[j] + (extra ? (*extra)[i] : 0.0);
    if (!(diff <= tol))
      return n + "[" + std::to_string(i) + "]: " + fmt(a) + " vs " + fmt(s * b) + ", difference " + fmt(diff) +
             " > tolerance " + fmt(tol);
  }
  return "";
}

size_t identity(size_t i) { return i; }

uint64_t mix(uint64_t z) { return splitmix64(z); }

// Rounds v to `bits` significant bits (so that small multiples stay exact).
double quantize(double v, int bits) {
  if (v == 0 || !std::isfinite(v)) return v;
  int e;
  const double m = std::frexp(v, &e);
  return std::ldexp(std::nearbyint(std::ldexp(m, bits)), e - bits);
}

Result fail(std::string m) { Result r; r.holds = false; r.message = std::move(m); return r; }

// ---- 1. zero mean, unit variance ---------------------------------------------------
Result zero_mean_unit_variance(Backend* b, const Problem& p0, uint64_t) {
  Problem p = p0;
  p.dir = Direction::fwd_train;
  const CaseData d = make_case_data(p);
  if (poisoned(p, d.x)) return Result::skip("non-finite data");
  const Eval e = evaluate(b, p, d);
  Result r;
  if (failed_to_run(e, &r)) return r;
  for (int64_t c = 0; c < p.c; ++c) {
    const auto st = exact_stats(p, e.p.conv, d.x, c);
    if (degenerate(st, p.eps)) continue;
    const Real g(p.affine ? d.gamma.get(c) : 1.0), be(p.affine ? d.beta.get(c) : 0.0);
    const auto idx = channel_indices(p, c);
    const Real M(static_cast<double>(idx.size()));
    Real sum = 0;
    double tsum = 0, t2 = 0;
    for (size_t i : idx) {
      sum += e.at("y", i);
      tsum += e.tol.at("y")[i];
      t2 += e.tol.at("y")[i] * e.tol.at("y")[i];
    }
    const Real mean = sum / M;
    Real var = 0;
    for (size_t i : idx) var += (e.at("y", i) - mean) * (e.at("y", i) - mean);
    var /= M;
    const Real want_var = g * g * st.var / (st.var + Real(p.eps));
    const double tm = tsum / to_d(M), rms2 = t2 / to_d(M);
    const double tv = 2 * std::sqrt(to_d(want_var) * rms2) + rms2;
    if (!(to_d(abs(mean - be)) <= tm))
      return fail("channel " + std::to_string(c) + ": mean of y " + fmt(to_d(mean)) + ", want beta " + fmt(to_d(be)) +
                  " (tolerance " + fmt(tm) + ")");
    if (!(to_d(abs(var - want_var)) <= tv))
      return fail("channel " + std::to_string(c) + ": variance of y " + fmt(to_d(var)) + ", want gamma^2 var/(var+eps) " +
                  fmt(to_d(want_var)) + " (tolerance " + fmt(tv) + ")");
  }
  return r;
}

// ---- 2. the dmu term cancels: sum dx = 0, sum dx xhat exact --------------------------
Result dmu_cancellation(Backend* b, const Problem& p0, uint64_t) {
  Problem p = p0;
  p.dir = Direction::bwd;
  const CaseData d = make_case_data(p);
  if (poisoned(p, d.x)) return Result::skip("non-finite data");
  if (!b) {
    const double disc = full_chain_backward_discrepancy(p, p.conv, d);
    if (!(disc <= 0x1p-200))
      return fail("full chain rule and simplified backward differ by " + fmt(disc) + " (relative) at 256 bits");
  }
  const Eval e = evaluate(b, p, d);
  Result r;
  if (failed_to_run(e, &r)) return r;
  for (int64_t c = 0; c < p.c; ++c) {
    const auto st = exact_stats(p, e.p.conv, d.x, c);
    if (degenerate(st, p.eps)) continue;
    const Real g(p.affine ? d.gamma.get(c) : 1.0);
    Real sdx = 0, sdxx = 0, dgamma = 0;
    double t1 = 0, t2 = 0;
    for (size_t i : channel_indices(p, c)) {
      const Real xh = ref::xhat(Real(d.x.get(i)), st);
      dgamma += Real(d.dy.get(i)) * xh;
      sdx += e.at("dx", i);
      sdxx += e.at("dx", i) * xh;
      t1 += e.tol.at("dx")[i];
      t2 += e.tol.at("dx")[i] * std::fabs(to_d(xh));
    }
    const Real want = g * st.invstd * dgamma * Real(p.eps) / (st.var + Real(p.eps));
    if (!(to_d(abs(sdx)) <= t1))
      return fail("channel " + std::to_string(c) + ": sum dx = " + fmt(to_d(sdx)) + " (tolerance " + fmt(t1) + ")");
    if (!(to_d(abs(sdxx - want)) <= t2))
      return fail("channel " + std::to_string(c) + ": sum dx*xhat = " + fmt(to_d(sdxx)) + ", want " + fmt(to_d(want)) +
                  " (tolerance " + fmt(t2) + ")");
  }
  return r;
}

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
  for (auto& w : W) w = static_cast<double>(static_cast<int>((s = mix(s)) % 9) - 4) / 8;   // 1/8 grid, exact
  for (auto& u : U) u = static_cast<double>(static_cast<int>((s = mix(s)) % 9) - 4) / 8;
  const int64_t S = p.spatial_size();
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t c = 0; c < p.c; ++c)
      for (int64_t sp = 0; sp < S; ++sp) {
        double x = 0;
        for (int kk = 0; kk < K; ++kk) x += W[c * K + kk] * U[(n * S + sp) * K + kk];   // exact: 1/64 grid, |x| <= 0.75
        d1.x.set(p.index(n, c, sp), x);
      }
  CaseData d2 = d1;
  for (size_t i = 0; i < d1.x.size(); ++i) {
    const double v = a * d1.x.get(i);
    if (round_to(v, p.dtype) != v) return Result::skip("a*x not exact in " + std::string(dtype_name(p.dtype)));
    d2.x.set(i, v);
  }
  p.eps = quantize(p.eps, 20);   // so that a^2 eps is exact for every a used here
  for (int64_t c = 0; c < p.c; ++c)
    if (degenerate(exact_stats(p, p.conv, d1.x, c), p.eps)) return Result::skip("var + eps = 0");
  Problem p2 = p;
  p2.eps = p.eps * a * a;   // BN_eps(x) = BN_{a^2 eps}(a x), exactly
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
    m = compare(e1, e2, "dx", identity, a, &bitwise);   // dx(a x) = dx(x) / a
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
          m = "d(aW)[c=" + std::to_string(c) + ",k=" + std::to_string(kk) + "] = " + fmt(to_d(dwa)) + ", want dW/a = " +
              fmt(to_d(dw1 / Real(a))) + " (tolerance " + fmt(tol) + ")";
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
  const int headroom = bits >= 24 ? 14 : 4;          // shift up to 2^headroom * |x|max
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
  std::vector<double> dg(p.c), db(p.c);   // distance of the stored gamma, beta to the exact ones
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
    return fail("eval-mode output is not the affine map gamma/sqrt(rv+eps) (x - rm) + beta within budget: " + e.message);
  bool exact = true;
  for (int64_t c = 0; c < p.c; ++c) {
    if (at[c] == SIZE_MAX) continue;
    const double beta = p.affine ? d.beta.get(c) : 0.0;
    const double want = b ? round_to(beta, p.dtype) : beta, got = e.v.at("y")[at[c]];   // reference: exact
    if (got == want || (std::isnan(got) && std::isnan(want))) continue;
    exact = false;
    // A backend that declares the folded form x s + (beta - rm s) owes beta within budget only.
    if (e.nx.folds_inference && std::fabs(got - want) <= e.tol.at("y")[at[c]]) continue;
    return fail("channel " + std::to_string(c) + ": x = running mean gives y = " + fmt(got) + ", want beta = " +
                fmt(want) + (e.nx.folds_inference ? " within budget" : " exactly"));
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
    auto map = [&](size_t i) -> size_t {   // element i of the permuted run came from map(i)
      const int64_t c = p.layout == Layout::channels_first ? (static_cast<int64_t>(i) / S) % p.c : static_cast<int64_t>(i) % p.c;
      const int64_t n = static_cast<int64_t>(i) / (S * p.c);
      const int64_t sp = p.layout == Layout::channels_first ? static_cast<int64_t>(i) % S : (static_cast<int64_t>(i) / p.c) % S;
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
          return fail("changing channel " + std::to_string(c0) + (poison ? " (one NaN)" : "") + " changed " + name + "[" +
                      std::to_string(i) + "] of channel " + std::to_string(c) + ": " + fmt(a) + " -> " + fmt(bb));
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
    auto map = [&](size_t i) -> size_t {   // q's element i is p's element map(i)
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

// ---- 8. running statistics ----------------------------------------------------------------------
Result running_statistics(Backend* b, const Problem& p0, uint64_t aux) {
  Result r;
  if (b && !b->conventions(p0).keeps_running) return Result::skip("the backend keeps no running statistics");
  // (a) M = 1 follows the declared policy: y = beta, the unbiased running variance is
  // 0/0 = NaN (biased: (1-m) rv), the same on every backend.
  {
    Problem q = p0;
    q.n = 1;
    q.rank = 0;
    q.spatial = {1, 1, 1};
    q.dir = Direction::fwd_train;
    const CaseData d = make_case_data(q);
    const Eval e = evaluate(b, q, d);
    if (failed_to_run(e, &r)) return r;
    if (e.has("running_var") && e.p.conv.keeps_running) {
      for (int64_t c = 0; c < q.c; ++c) {
        if (e.p.eps == 0) break;
        const double want_y = q.affine ? d.beta.get(c) : 0.0, got = e.v.at("y")[c];
        if (!(std::fabs(got - want_y) <= e.tol.at("y")[c]))
          return fail("M = 1: y = " + fmt(got) + ", want beta = " + fmt(want_y) + " (tolerance " + fmt(e.tol.at("y")[c]) + ")");
        const double rv = e.v.at("running_var")[c];
        const bool unbiased = e.p.conv.running_var == RunningVar::unbiased;
        if (unbiased != std::isnan(rv))
          return fail(std::string("M = 1: running variance ") + fmt(rv) + ", the declared policy is " +
                      (unbiased ? "NaN (0/0)" : "finite"));
      }
    }
  }
  // (b) One step updates the running statistics exactly as the declared convention
  // says: r1 = (1 - w) r0 + w s, within the running-statistics budget.
  {
    Problem q = p0;
    q.dir = Direction::fwd_train;
    const CaseData d = make_case_data(q);
    if (!poisoned(q, d.x) && q.reduction_size() > 1) {
      const Eval e = evaluate(b, q, d);
      if (failed_to_run(e, &r)) return r;
      const Conventions& cv = e.p.conv;
      const Real m(q.momentum);
      const Real w = cv.momentum_dir == MomentumDir::new_stat ? m : Real(1) - m;
      const Real M(static_cast<double>(q.reduction_size()));
      for (int64_t c = 0; c < q.c; ++c) {
        const auto st = exact_stats(q, cv, d.x, c);
        const Real vstat = cv.running_var == RunningVar::unbiased ? st.var * M / (M - 1) : st.var;
        const Real want_m = (Real(1) - w) * Real(d.running_mean.get(c)) + w * st.mean;
        const Real want_v = (Real(1) - w) * Real(d.running_var.get(c)) + w * vstat;
        const double dm = to_d(abs(e.at("running_mean", c) - want_m)), dv = to_d(abs(e.at("running_var", c) - want_v));
        if (!(dm <= e.tol.at("running_mean")[c]) || !(dv <= e.tol.at("running_var")[c]))
          return fail("one step, channel " + std::to_string(c) + ": running mean " + fmt(e.v.at("running_mean")[c]) +
                      " (want " + fmt(to_d(want_m)) + "), running variance " + fmt(e.v.at("running_var")[c]) +
                      " (want " + fmt(to_d(want_v)) + ") under momdir=" + to_string(cv.momentum_dir) +
                      ", rvar=" + to_string(cv.running_var));
      }
    }
  }
  // (c) Repeated steps on batches of one population converge to its statistics.
  Problem p = p0;
  p.dir = Direction::fwd_train;
  if (p.dtype == Dtype::f16 || p.dtype == Dtype::bf16) return r;   // quantised data: other population moments
  if (p.reduction_size() < 2) return r;
  p.fill.kind = FillKind::normal;
  p.fill.spread = p.fill.spread > 0 ? p.fill.spread : 1.0;
  p.fill.mean = std::clamp(p.fill.mean, -4 * p.fill.spread, 4 * p.fill.spread);
  p.momentum = std::max(p.momentum, 0.3);
  const int T = 40;
  CaseData d = make_case_data(p);
  const Conventions conv = b ? b->conventions(p) : p.conv;
  if (!conv.keeps_running) return r;
  const double w = conv.momentum_dir == MomentumDir::new_stat ? p.momentum : 1 - p.momentum;
  if (w <= 0.05) return r;
  const CaseData first = d;
  for (int t = 0; t < T; ++t) {
    Problem q = p;
    q.seed = mix(p.seed + static_cast<uint64_t>(t) * 7919 + aux);
    CaseData step = make_case_data(q);
    step.running_mean = d.running_mean;
    step.running_var = d.running_var;
    const Eval e = evaluate(b, q, step);
    if (failed_to_run(e, &r)) return r;
    for (int64_t c = 0; c < p.c; ++c) {
      d.running_mean.set(c, e.v.at("running_mean")[c]);
      d.running_var.set(c, e.v.at("running_var")[c]);
    }
  }
  const double M = static_cast<double>(p.reduction_size());
  const double ema = std::sqrt(w / (2 - w)), decay = std::pow(1 - w, T);
  for (int64_t c = 0; c < p.c; ++c) {
    const ChannelFill f = channel_fill(p, c);
    const double mu = f.mean, s2 = f.spread * f.spread;
    const double target = conv.running_var == RunningVar::unbiased ? s2 : s2 * (M - 1) / M;
    // 6 standard deviations of the exponential moving average of batch statistics,
    // the decayed start, and 1e-5 relative for the arithmetic of 40 updates.
    const double tol_m = 6 * ema * f.spread / std::sqrt(M) + decay * std::fabs(first.running_mean.get(c) - mu) +
                         1e-5 * (std::fabs(mu) + f.spread);
    const double tol_v = 6 * ema * s2 * std::sqrt(2 / (M - 1)) + decay * std::fabs(first.running_var.get(c) - target) +
                         1e-5 * s2;
    if (!(std::fabs(d.running_mean.get(c) - mu) <= tol_m))
      return fail("after " + std::to_string(T) + " steps, running mean of channel " + std::to_string(c) + " is " +
                  fmt(d.running_mean.get(c)) + ", population mean " + fmt(mu) + " (tolerance " + fmt(tol_m) + ")");
    // The variance of the moving average of sample variances is near-normal only with
    // enough samples behind it (chi-square with few degrees of freedom is skewed).
    if (M >= 64 && !(std::fabs(d.running_var.get(c) - target) <= tol_v))
      return fail("after " + std::to_string(T) + " steps, running variance of channel " + std::to_string(c) + " is " +
                  fmt(d.running_var.get(c)) + ", want " + fmt(target) + " (" + to_string(conv.running_var) +
                  " convention; tolerance " + fmt(tol_v) + ")");
  }
  return r;
}

// ---- 9. gradients against central differences ------------------------------------------------------
Result gradient_central_differences(Backend* b, const Problem& p0, uint64_t) {
  Problem p = p0;
  p.dir = Direction::bwd;
  if (p.elements() > 256) return Result::skip("large: finite differences cost O(M^2) per channel");
  const CaseData d = make_case_data(p);
  if (poisoned(p, d.x)) return Result::skip("non-finite data");
  for (int64_t c = 0; c < p.c; ++c)
    if (exact_stats(p, p.conv, d.x, c).var + Real(p.eps) == 0) return Result::skip("var + eps = 0: not differentiable");
  std::vector<double> fd, fd_lo;
  finite_difference_dx(p, d, &fd, &fd_lo);
  const Eval e = evaluate(b, p, d);
  Result r;
  if (failed_to_run(e, &r)) return r;
  double scale = 0;
  for (double g : fd) scale = std::max(scale, std::fabs(g));
  for (size_t i = 0; i < fd.size(); ++i) {
    // Central differences at 256 bits are good to ~2^-150 relative (see the reference).
    const double tol = e.tol.at("dx")[i] + 0x1p-90 * scale;
    const double diff = to_d(abs(e.at("dx", i) - Real(fd[i]) - Real(fd_lo[i])));
    if (!(diff <= tol))
      return fail("dx[" + std::to_string(i) + "] = " + fmt(e.v.at("dx")[i]) + ", central difference " + fmt(fd[i]) +
                  " (difference " + fmt(diff) + " > tolerance " + fmt(tol) + ")");
  }
  return r;
}

// ---- 10. determinism -----------------------------------------------------------------------------------
Result determinism(Backend* b, const Problem& p, uint64_t) {
  const CaseData d = make_case_data(p);
  const Eval e1 = evaluate(b, p, d), e2 = evaluate(b, p, d);
  Result r;
  if (failed_to_run(e1, &r) || failed_to_run(e2, &r)) return r;
  for (const auto& [n, v1] : e1.v) {
    const auto& v2 = e2.v.at(n);
    for (size_t i = 0; i < v1.size(); ++i)
      if (std::memcmp(&v1[i], &v2[i], sizeof(double)) != 0) {
        r.notes.push_back("not deterministic");
        if (e1.nx.deterministic)
          return fail("declared deterministic, but " + n + "[" + std::to_string(i) + "] was " + fmt(v1[i]) + " then " +
                      fmt(v2[i]));
        return r;
      }
  }
  if (b) r.notes.push_back("deterministic");
  return r;
}

Direction keep(Direction d) { return d; }
Direction train(Direction) { return Direction::fwd_train; }
Direction backward(Direction) { return Direction::bwd; }
Direction infer(Direction) { return Direction::fwd_infer; }
Direction train_or_bwd(Direction d) { return d == Direction::fwd_infer ? Direction::fwd_train : d; }

}  // namespace

Problem effective_problem(const Property& prop, Problem p) {
  p.dir = prop.direction(p.dir);
  return p;
}

const std::vector<Property>& all() {
  static const std::vector<Property> v = {
      {"zero_mean_unit_variance", "training output has mean beta and variance gamma^2 var/(var+eps)", zero_mean_unit_variance, train},
      {"dmu_cancellation", "the dmu term vanishes: sum dx = 0, sum dx*xhat = gamma r dgamma eps/(var+eps)", dmu_cancellation, backward},
      {"scale_invariance", "BN(aWu) = BN(Wu) with eps*a^2; du agree, d(aW) = dW/a; scale-exactness reported", scale_invariance, train_or_bwd},
      {"shift_invariance", "BN(x + b) = BN(x), b per channel and large against sigma", shift_invariance, train_or_bwd},
      {"affine_recovery", "gamma = sqrt(var+eps), beta = mean gives back x", affine_recovery, train},
      {"inference_folding", "eval output is the folded affine map; x = running mean gives beta exactly", inference_folding, infer},
      {"equivariance_independence", "permutations commute, channels are independent, layouts agree", equivariance_independence, keep},
      {"running_statistics", "M = 1 policy; repeated steps converge to the population statistics", running_statistics, train},
      {"gradient_central_differences", "backward against central differences of the 256-bit forward", gradient_central_differences, backward},
      {"determinism", "the same call twice gives bitwise-identical results", determinism, keep},
  };
  return v;
}

const Property* find(const std::string& name) {
  for (const auto& p : all())
    if (name == p.name) return &p;
  return nullptr;
}

}  // namespace bncheck::props
