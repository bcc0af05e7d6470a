// Shared by the property families (properties/*.cpp): evaluation of a backend or of
// the reference on a case, exact statistics, elementwise comparison within tolerances.
#pragma once

#include <boost/multiprecision/cpp_bin_float.hpp>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <sstream>

#include "harness/fill_rules.hpp"
#include "harness/rng.hpp"
#include "harness/runner.hpp"
#include "harness/split.hpp"
#include "properties/properties.hpp"
#include "reference/bnorm_ref.hpp"

namespace bncheck::props::detail {

using Real =
    boost::multiprecision::number<boost::multiprecision::cpp_bin_float<256, boost::multiprecision::digit_base_2>,
                                  boost::multiprecision::et_off>;

// The reference exports its results as double-doubles (~2^-106 relative): on the
// reference, properties are checked to 2^-100 relative.
constexpr double kRefRel = 0x1p-100;

inline double to_d(const Real& v) { return ref::to_double(v); }

inline std::string fmt(double v) {
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
  Problem p;  // with the conventions the backend declared
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
constexpr OutputField kOutputs[] = {{"y", &Budget::y, &Reference::y},
                                    {"save_mean", &Budget::save_mean, &Reference::save_mean},
                                    {"save_stat", &Budget::save_stat, &Reference::save_stat},
                                    {"running_mean", &Budget::running_mean, &Reference::running_mean},
                                    {"running_var", &Budget::running_var, &Reference::running_var},
                                    {"dx", &Budget::dx, &Reference::dx},
                                    {"dgamma", &Budget::dgamma, &Reference::dgamma},
                                    {"dbeta", &Budget::dbeta, &Reference::dbeta}};

inline const std::vector<double>* budget_of(const Budget& B, const std::string& n) {
  for (const auto& f : kOutputs)
    if (n == f.name) return &(B.*f.budget);
  return nullptr;
}

inline Eval evaluate(Backend* b, const Problem& given, const CaseData& d) {
  // A property that changed n or the direction of a split problem (--problem split=...)
  // keeps a split that fits it.
  Problem p = given;
  fit_split(p);
  Eval e;
  CaseRunner r(p, d);
  if (!b) {
    e.ran = true;
    e.p = p;
    const Reference& R = r.impl().reference(p.conv);
    // The error model at u = 2^-100, without output rounding: the reference's results
    // are exact to its export as double-doubles (~2^-106).
    Numerics ref_nx;
    ref_nx.accumulation_bits = ref_nx.compute_bits = 100;
    const Budget B = compute_budget(p, p.conv, ref_nx, r.impl().data_for(p.conv), R, false);
    for (const auto& f : kOutputs) {
      const char* n = f.name;
      const RefTensor* t = &(R.*f.ref);
      if (t->empty()) continue;
      e.v[n].assign(t->hi.begin(), t->hi.end());
      // Without its low parts (RefTensor::lo) an elementwise output is exported to within
      // 2^-45 of its value (docs/error-model.md, "Elementwise outputs").
      const double rel = t->lo.empty() ? 0x1p-45 : kRefRel;
      if (t->lo.empty())
        e.lo[n].assign(t->hi.size(), 0.0);
      else
        e.lo[n].assign(t->lo.begin(), t->lo.end());
      auto& tol = e.tol[n];
      const std::vector<double>& bud = *budget_of(B, n);
      for (size_t i = 0; i < t->hi.size(); ++i)
        tol.push_back(std::isfinite(t->hi[i]) ? bud[i] + rel * std::fabs(t->hi[i]) + 1e-300 : 0);
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
  e.nx = case_numerics(*b, e.p);
  if (out.tensors.empty()) return e;
  const Budget B = compute_budget(e.p, e.p.conv, e.nx, r.impl().data_for(e.p.conv), r.impl().reference(e.p.conv));
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

inline bool failed_to_run(const Eval& e, Result* r) {
  if (!e.ran) {
    *r = Result::skip("unsupported: " + e.message);
    return true;
  }
  if (is_failure(e.verdict) && e.verdict != Verdict::fail) {
    r->holds = false;
    r->message = std::string(to_string(e.verdict)) + ": " + e.message;
    return true;
  }
  return false;
}

inline std::vector<size_t> channel_indices(const Problem& p, int64_t c) {
  std::vector<size_t> idx;
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t s = 0; s < p.spatial_size(); ++s) idx.push_back(static_cast<size_t>(p.index(n, c, s)));
  return idx;
}

inline ref::Stats<Real> exact_stats(const Problem& p, const Conventions& conv, const Tensor& x, int64_t c) {
  std::vector<Real> xs;
  for (size_t i : channel_indices(p, c)) xs.push_back(Real(x.get(i)));
  return ref::channel_stats(xs, p.eps, conv);
}

// var + eps = 0: the normalisation is 0/0 (or a declared convention); properties skip it.
inline bool degenerate(const ref::Stats<Real>& st, double eps) { return st.var + Real(eps) == 0; }

inline bool poisoned(const Problem& p, const Tensor& x) {
  for (size_t i = 0; i < static_cast<size_t>(p.elements()); ++i)
    if (!std::isfinite(x.get(i))) return true;
  return false;
}

// Elementwise |A[i] - s*B[map(i)]| <= tolA + |s| tolB over output n. Empty when it holds.
inline std::string compare(const Eval& A, const Eval& B, const std::string& n, const std::function<size_t(size_t)>& map,
                           double s = 1.0, bool* bitwise = nullptr, const std::vector<double>* extra = nullptr) {
  if (!A.has(n) || !B.has(n)) return "";
  const auto& va = A.v.at(n);
  for (size_t i = 0; i < va.size(); ++i) {
    const size_t j = map(i);
    const double a = va[i], b = B.v.at(n)[j];
    const bool same = a == s * b || (std::isnan(a) && std::isnan(b));
    if (bitwise && !same) *bitwise = false;
    if (same && A.lo.at(n)[i] == s * B.lo.at(n)[j]) continue;  // equal values (infinities too) always agree
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

inline size_t identity(size_t i) { return i; }

inline uint64_t mix(uint64_t z) { return splitmix64(z); }

// Rounds v to `bits` significant bits (so that small multiples stay exact).
inline double quantize(double v, int bits) {
  if (v == 0 || !std::isfinite(v)) return v;
  int e;
  const double m = std::frexp(v, &e);
  return std::ldexp(std::nearbyint(std::ldexp(m, bits)), e - bits);
}

inline Result fail(std::string m) {
  Result r;
  r.holds = false;
  r.message = std::move(m);
  return r;
}

// The twelve properties, one family per file.
Result zero_mean_unit_variance(Backend* b, const Problem& p0, uint64_t aux);       // statistics.cpp
Result dmu_cancellation(Backend* b, const Problem& p0, uint64_t aux);              // statistics.cpp
Result scale_invariance(Backend* b, const Problem& p0, uint64_t aux);              // invariance.cpp
Result shift_invariance(Backend* b, const Problem& p0, uint64_t aux);              // invariance.cpp
Result affine_recovery(Backend* b, const Problem& p0, uint64_t aux);               // invariance.cpp
Result sign_symmetry(Backend* b, const Problem& p0, uint64_t aux);                 // invariance.cpp
Result inference_folding(Backend* b, const Problem& p0, uint64_t aux);             // structure.cpp
Result equivariance_independence(Backend* b, const Problem& p0, uint64_t aux);     // structure.cpp
Result running_statistics(Backend* b, const Problem& p0, uint64_t aux);            // training.cpp
Result gradient_central_differences(Backend* b, const Problem& p0, uint64_t aux);  // training.cpp
Result determinism(Backend* b, const Problem& p0, uint64_t aux);                   // training.cpp
Result split_equivalence(Backend* b, const Problem& p0, uint64_t aux);             // split.cpp

}  // namespace bncheck::props::detail
