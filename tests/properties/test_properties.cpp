// The properties as RapidCheck properties over every backend and the reference, and,
// for each property, a planted wrong implementation that it catches (with shrinking).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cmath>

#include "bncheck/rapidcheck.hpp"
#include "harness/suites.hpp"
#include "properties/driver.hpp"
#include "properties/generators.hpp"

using namespace bncheck;

namespace {

const Baseline& baseline() {
  static const Baseline b = parse_baseline(builtin_baseline(), "known-failures.baseline");
  return b;
}

std::vector<std::unique_ptr<Backend>>& backends() {
  static auto b = make_builtin_backends();
  return b;
}

// One generated case of `name` on the reference and every non-weak backend.
void holds_everywhere(const char* name, const Problem& generated, uint64_t aux) {
  const props::Property& prop = *props::find(name);
  const Problem p = props::effective_problem(prop, generated);
  RC_LOG() << "problem: " << to_string(p) << "  aux: " << aux << "\n";
  const props::Result ref = prop.check(nullptr, p, aux);
  if (ref.applicable && !ref.holds) RC_FAIL("reference: " + ref.message);
  for (auto& b : backends()) {
    if (b->weak() || !b->availability().available) continue;
    const props::Result r = prop.check(b.get(), p, aux);
    if (!r.applicable || r.holds) continue;
    if (Baseline copy = baseline(); copy.find(b->name(), p)) continue;  // documented in docs/findings.md
    RC_FAIL(b->name() + ": " + r.message + "\n  repro: bncheck props --backend " + b->name() + " --property " + name +
            " --problem '" + to_string(p) + "' --aux " + std::to_string(aux));
  }
}

}  // namespace

RC_GTEST_PROP(Properties, ZeroMeanUnitVariance, (const Problem& p, uint64_t aux)) {
  holds_everywhere("zero_mean_unit_variance", p, aux);
}
RC_GTEST_PROP(Properties, DmuCancellation, (const Problem& p, uint64_t aux)) {
  holds_everywhere("dmu_cancellation", p, aux);
}
RC_GTEST_PROP(Properties, ScaleInvariance, (const Problem& p, uint64_t aux)) {
  holds_everywhere("scale_invariance", p, aux);
}
RC_GTEST_PROP(Properties, ShiftInvariance, (const Problem& p, uint64_t aux)) {
  holds_everywhere("shift_invariance", p, aux);
}
RC_GTEST_PROP(Properties, AffineRecovery, (const Problem& p, uint64_t aux)) {
  holds_everywhere("affine_recovery", p, aux);
}
RC_GTEST_PROP(Properties, SignSymmetry, (const Problem& p, uint64_t aux)) { holds_everywhere("sign_symmetry", p, aux); }
RC_GTEST_PROP(Properties, InferenceFolding, (const Problem& p, uint64_t aux)) {
  holds_everywhere("inference_folding", p, aux);
}
RC_GTEST_PROP(Properties, EquivarianceIndependence, (const Problem& p, uint64_t aux)) {
  holds_everywhere("equivariance_independence", p, aux);
}
RC_GTEST_PROP(Properties, RunningStatistics, (const Problem& p, uint64_t aux)) {
  holds_everywhere("running_statistics", p, aux);
}
RC_GTEST_PROP(Properties, GradientCentralDifferences, (const Problem& p, uint64_t aux)) {
  holds_everywhere("gradient_central_differences", p, aux);
}
RC_GTEST_PROP(Properties, Determinism, (const Problem& p, uint64_t aux)) { holds_everywhere("determinism", p, aux); }
RC_GTEST_PROP(Properties, SplitEquivalence, (const Problem& p, uint64_t aux)) {
  holds_everywhere("split_equivalence", p, aux);
}

// ---- planted faults ------------------------------------------------------------------

namespace {

enum class Plant {
  eps_outside_sqrt,
  no_dmu_term,
  unscaled_epsilon,
  cl_stride_off_by_one,
  wrong_momentum_direction,
  beta_inside,
  undeclared_folding,
  nondeterministic,
  gradient_scaled,
  ulp_up,
  unweighted_merge,
};

// A plain two-pass batch norm in long double for f32/f64 data, with one planted fault.
class PlantedBN final : public Backend {
 public:
  explicit PlantedBN(Plant f) : f_(f) {}
  std::string name() const override { return "planted"; }
  std::string description() const override { return "planted fault"; }
  Support supports(const Problem& p) const override {
    const bool ok =
        (p.dtype == Dtype::f32 || p.dtype == Dtype::f64) && (p.pdtype == Dtype::f32 || p.pdtype == Dtype::f64);
    return ok ? Support::yes() : Support::no("f32/f64 only");
  }
  Numerics numerics(const Problem& p) const override {
    Numerics n;
    n.accumulation_bits = n.compute_bits = p.dtype == Dtype::f64 ? 53 : 24;
    return n;
  }
  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    const int64_t M = p.reduction_size();
    for (int64_t c = 0; c < p.c; ++c) {
      const auto idx = indices(p, c);
      long double sum = 0, sq = 0;
      for (size_t i : idx) sum += x_at(p, a.x, i);
      const long double mean = sum / M;
      for (size_t i : idx) sq += (x_at(p, a.x, i) - mean) * (x_at(p, a.x, i) - mean);
      const long double var = sq / M;
      long double r = 1 / std::sqrt(var + p.eps);
      if (f_ == Plant::eps_outside_sqrt) r = 1 / (std::sqrt(var) + p.eps);
      if (f_ == Plant::unscaled_epsilon) r = 1 / std::sqrt(var + p.eps + 1e-6L);
      const long double g = a.gamma ? load_as_double(a.gamma, p.pdtype, c) : 1,
                        b = a.beta ? load_as_double(a.beta, p.pdtype, c) : 0;
      for (size_t i : idx) {
        const long double xh = (x_at(p, a.x, i) - mean) * r;
        store_rounded(a.y, p.dtype, i, static_cast<double>(f_ == Plant::beta_inside ? g * (xh + b) : g * xh + b));
      }
      if (f_ == Plant::ulp_up)
        for (size_t i : idx) {
          const double y = load_as_double(a.y, p.dtype, i);
          store_rounded(a.y, p.dtype, i, y + ulp(y, p.dtype));
        }
      if (f_ == Plant::nondeterministic && (++calls_ % 2)) {
        const double y0 = load_as_double(a.y, p.dtype, idx[0]);
        store_rounded(a.y, p.dtype, idx[0], y0 + ulp(y0, p.dtype));
      }
      store_rounded(a.save_mean, p.pdtype, c, static_cast<double>(mean));
      store_rounded(a.save_stat, p.pdtype, c, static_cast<double>(p.conv.saved == SavedStat::invstd ? r : var));
      long double w = p.conv.momentum_dir == MomentumDir::new_stat ? p.momentum : 1 - p.momentum;
      if (f_ == Plant::wrong_momentum_direction) w = 1 - w;
      const long double vs = p.conv.running_var == RunningVar::unbiased ? (M > 1 ? var * M / (M - 1) : NAN) : var;
      store_rounded(a.running_mean, p.pdtype, c,
                    static_cast<double>((1 - w) * load_as_double(a.running_mean, p.pdtype, c) + w * mean));
      store_rounded(a.running_var, p.pdtype, c,
                    static_cast<double>((1 - w) * load_as_double(a.running_var, p.pdtype, c) + w * vs));
    }
    return Status::success();
  }
  Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) override {
    for (int64_t c = 0; c < p.c; ++c) {
      const double rm = load_as_double(a.running_mean, p.pdtype, c), rv = load_as_double(a.running_var, p.pdtype, c);
      const double g = a.gamma ? load_as_double(a.gamma, p.pdtype, c) : 1,
                   b = a.beta ? load_as_double(a.beta, p.pdtype, c) : 0;
      const float s = static_cast<float>(g / std::sqrt(rv + p.eps)), t = static_cast<float>(b - rm * s);
      for (size_t i : indices(p, c)) {
        const double x = x_at(p, a.x, i);
        // The folded form, in f32, while numerics() does not declare folds_inference.
        store_rounded(a.y, p.dtype, i,
                      f_ == Plant::undeclared_folding
                          ? static_cast<double>(static_cast<float>(x) * s + t)
                          : static_cast<double>((x - rm) * (g / std::sqrt(rv + p.eps)) + b));
      }
    }
    return Status::success();
  }
  // Split statistics: (mean, M2) per slice, Chan's merge; the planted fault averages the
  // slices' means without their counts.
  SplitKind split_kind() const override { return SplitKind::mean_m2; }
  Status local_stats(const Problem& p, const LocalStatsArgs& a) override {
    for (int64_t c = 0; c < p.c; ++c) {
      const auto idx = indices(p, c);
      long double sum = 0, sq = 0;
      for (size_t i : idx) sum += x_at(p, a.x, i);
      const long double mean = idx.empty() ? 0 : sum / static_cast<long double>(idx.size());
      for (size_t i : idx) sq += (x_at(p, a.x, i) - mean) * (x_at(p, a.x, i) - mean);
      a.stats[2 * c] = static_cast<double>(mean);
      a.stats[2 * c + 1] = static_cast<double>(sq);
    }
    return Status::success();
  }
  Status merge_stats(const Problem& p, const MergeStatsArgs& a) override {
    const size_t C = static_cast<size_t>(p.c);
    for (size_t c = 0; c < C; ++c) {
      long double n = 0, mean = 0, m2 = 0, mean_sum = 0, nonempty = 0;
      for (int64_t k = 0; k < a.k; ++k) {
        const long double nb = static_cast<long double>(a.counts[k]);
        const long double mb = a.stats[2 * C * static_cast<size_t>(k) + 2 * c];
        const long double m2b = a.stats[2 * C * static_cast<size_t>(k) + 2 * c + 1];
        if (nb == 0) continue;
        mean_sum += mb, nonempty += 1;
        const long double total = n + nb, delta = mb - mean;
        mean += delta * nb / total;
        m2 += m2b + delta * delta * n * nb / total;
        n = total;
      }
      if (f_ == Plant::unweighted_merge) mean = mean_sum / nonempty;
      const long double var = m2 / n, r = 1 / std::sqrt(var + p.eps);
      a.merged[kMergedDoubles * c] = static_cast<double>(mean);
      a.merged[kMergedDoubles * c + 1] = static_cast<double>(r);
      const auto ic = static_cast<int64_t>(c);
      store_rounded(a.save_mean, p.pdtype, ic, static_cast<double>(mean));
      store_rounded(a.save_stat, p.pdtype, ic, static_cast<double>(p.conv.saved == SavedStat::invstd ? r : var));
      const long double w = p.conv.momentum_dir == MomentumDir::new_stat ? p.momentum : 1 - p.momentum;
      const long double vs = p.conv.running_var == RunningVar::unbiased ? (n > 1 ? var * n / (n - 1) : NAN) : var;
      store_rounded(a.running_mean, p.pdtype, ic,
                    static_cast<double>((1 - w) * load_as_double(a.running_mean, p.pdtype, ic) + w * mean));
      store_rounded(a.running_var, p.pdtype, ic,
                    static_cast<double>((1 - w) * load_as_double(a.running_var, p.pdtype, ic) + w * vs));
    }
    return Status::success();
  }
  Status apply_stats(const Problem& p, const ApplyStatsArgs& a) override {
    for (int64_t c = 0; c < p.c; ++c) {
      const double mean = a.merged[kMergedDoubles * static_cast<size_t>(c)];
      const double r = a.merged[kMergedDoubles * static_cast<size_t>(c) + 1];
      const long double g = a.gamma ? load_as_double(a.gamma, p.pdtype, c) : 1,
                        b = a.beta ? load_as_double(a.beta, p.pdtype, c) : 0;
      for (size_t i : indices(p, c))
        store_rounded(a.y, p.dtype, i, static_cast<double>(g * ((x_at(p, a.x, i) - mean) * r) + b));
    }
    return Status::success();
  }

  Status backward(const Problem& p, const BackwardArgs& a) override {
    const long double M = static_cast<long double>(p.reduction_size());
    for (int64_t c = 0; c < p.c; ++c) {
      const long double mean = load_as_double(a.save_mean, p.pdtype, c);
      const long double st = load_as_double(a.save_stat, p.pdtype, c);
      const long double r = p.conv.saved == SavedStat::invstd ? st : 1 / std::sqrt(st + p.eps);
      const long double g = a.gamma ? load_as_double(a.gamma, p.pdtype, c) : 1;
      long double db = 0, dg = 0;
      const auto idx = indices(p, c);
      for (size_t i : idx) {
        db += load_as_double(a.dy, p.dtype, i);
        dg += load_as_double(a.dy, p.dtype, i) * (x_at(p, a.x, i) - mean) * r;
      }
      for (size_t i : idx) {
        const long double xh = (x_at(p, a.x, i) - mean) * r, dy = load_as_double(a.dy, p.dtype, i);
        long double dx = g * r / M * (M * dy - (f_ == Plant::no_dmu_term ? 0 : db) - xh * dg);
        if (f_ == Plant::gradient_scaled) dx *= 1 + 1e-3L;
        store_rounded(a.dx, p.dtype, i, static_cast<double>(dx));
      }
      if (a.dgamma) store_rounded(a.dgamma, p.pdtype, c, static_cast<double>(dg));
      if (a.dbeta) store_rounded(a.dbeta, p.pdtype, c, static_cast<double>(db));
    }
    return Status::success();
  }

 private:
  static std::vector<size_t> indices(const Problem& p, int64_t c) {
    std::vector<size_t> v;
    for (int64_t n = 0; n < p.n; ++n)
      for (int64_t s = 0; s < p.spatial_size(); ++s) v.push_back(static_cast<size_t>(p.index(n, c, s)));
    return v;
  }
  // x[i], read with the planted channels-last stride error: one element further.
  long double x_at(const Problem& p, const void* x, size_t i) const {
    if (f_ == Plant::cl_stride_off_by_one && p.layout == Layout::channels_last)
      i = (i + 1) % static_cast<size_t>(p.elements());
    return load_as_double(x, p.dtype, i);
  }
  Plant f_;
  int calls_ = 0;
};

props::Campaign catch_with(const char* property, Backend& b) {
  return props::run_property(*props::find(property), &b, 200, 7);
}

}  // namespace

struct PlantedCase {
  const char* property;
  Plant plant;
  const char* what;
};

class PlantedFault : public ::testing::TestWithParam<PlantedCase> {};

TEST_P(PlantedFault, IsCaughtAndShrunk) {
  PlantedBN b(GetParam().plant);
  const props::Campaign c = catch_with(GetParam().property, b);
  ASSERT_TRUE(c.failed) << GetParam().property << " missed " << GetParam().what << " in " << c.applicable << " cases";
  EXPECT_FALSE(c.message.empty());
  EXPECT_LE(c.minimal.elements(), 512) << "shrinking left " << to_string(c.minimal);
  // The same property holds for the correct implementation on the minimal case.
  auto good = make_builtin_backends();
  const props::Result r = props::find(GetParam().property)->check(good[0].get(), c.minimal, c.aux);
  EXPECT_TRUE(!r.applicable || r.holds) << "cpu_two_pass fails too: " << r.message;
}

INSTANTIATE_TEST_SUITE_P(
    Properties, PlantedFault,
    ::testing::Values(PlantedCase{"zero_mean_unit_variance", Plant::eps_outside_sqrt, "eps outside the square root"},
                      PlantedCase{"dmu_cancellation", Plant::no_dmu_term, "a backward without the dmu term"},
                      PlantedCase{"scale_invariance", Plant::unscaled_epsilon, "a scale that is not exact"},
                      PlantedCase{"equivariance_independence", Plant::cl_stride_off_by_one,
                                  "a channels-last stride off by one"},
                      PlantedCase{"running_statistics", Plant::wrong_momentum_direction, "a wrong momentum direction"},
                      PlantedCase{"affine_recovery", Plant::beta_inside, "beta applied before gamma"},
                      PlantedCase{"sign_symmetry", Plant::ulp_up, "every output one ulp up"},
                      PlantedCase{"inference_folding", Plant::undeclared_folding, "an undeclared folded inference"},
                      PlantedCase{"determinism", Plant::nondeterministic, "a result that changes between calls"},
                      PlantedCase{"gradient_central_differences", Plant::gradient_scaled, "a gradient off by 1e-3"},
                      PlantedCase{"split_equivalence", Plant::unweighted_merge,
                                  "a merge that averages the slices' means without their counts"}),
    [](const auto& info) { return std::string(info.param.property); });

// Shift invariance catches a real backend: the textbook one-pass variance cancels
// catastrophically once the shift is large against sigma.
TEST(PlantedFaultShift, OnePassBaselineFailsShiftInvariance) {
  std::unique_ptr<Backend> weak;
  for (auto& b : make_builtin_backends())
    if (b->name() == "cpu_one_pass_naive") weak = std::move(b);
  const props::Campaign c = catch_with("shift_invariance", *weak);
  EXPECT_TRUE(c.failed) << "the one-pass baseline passed shift invariance in " << c.applicable << " cases";
}

// The public API (bncheck/properties.hpp, bncheck/rapidcheck.hpp) on one of our backends:
// BNCHECK_RC_PROPERTIES names every property `bncheck props --list` has.
TEST(PublicProperties, TheMacroListsEveryProperty) {
  const std::vector<std::string> listed{"zero_mean_unit_variance",
                                        "dmu_cancellation",
                                        "scale_invariance",
                                        "shift_invariance",
                                        "affine_recovery",
                                        "sign_symmetry",
                                        "inference_folding",
                                        "equivariance_independence",
                                        "running_statistics",
                                        "gradient_central_differences",
                                        "determinism",
                                        "split_equivalence"};
  EXPECT_EQ(property_names(), listed) << "update BNCHECK_RC_PROPERTIES in include/bncheck/rapidcheck.hpp";
  EXPECT_THROW(check_property("no_such_property", nullptr, Problem{}, 0), std::invalid_argument);
}

Backend& two_pass() {
  static auto b = [] {
    for (auto& x : make_builtin_backends())
      if (x->name() == "cpu_two_pass") return std::move(x);
    return std::unique_ptr<Backend>();
  }();
  return *b;
}

BNCHECK_RC_PROPERTIES(PublicProperties, two_pass())
