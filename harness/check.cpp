#include "harness/check.hpp"

#include <algorithm>
#include <cmath>

namespace bncheck {

TensorReport compare_tensor(const std::string& name, const RefTensor& ref, const Tensor& got,
                            const std::vector<double>& budget) {
  TensorReport r;
  r.name = name;
  r.count = ref.size();
  r.guards_ok = got.guards_intact(&r.guard_offset);
  const uint64_t sentinel = sentinel_bits(got.dtype());
  // Errors in ULPs as floats (24 bits: the report prints three digits), 4 bytes an element.
  std::vector<float> ulps;
  ulps.reserve(r.count);
  double worst_key = -1;
  for (size_t i = 0; i < r.count; ++i) {
    const double want = ref.rounded_value(i), hi = ref.hi[i], lo = ref.lo_at(i);
    const double g = got.get(i);
    // An infinite budget (an undetermined channel, docs/error-model.md) admits any value.
    const bool any_value =
        (!ref.any_nonfinite.empty() && ref.any_nonfinite[i] == RefTensor::kAnyValue) || std::isinf(budget[i]);
    if (want == 0 || std::isnan(want) || any_value) ++r.degenerate;
    double err = 0, ratio = 0;
    bool bad = false;
    if (got.bits(i) == sentinel) {
      ++r.unwritten;
      bad = true;
      err = ratio = HUGE_VAL;
    } else if (any_value) {
      err = ratio = 0;  // singular point: every value is defensible
    } else if (!ref.any_nonfinite.empty() && ref.any_nonfinite[i] == RefTensor::kAnyNonFinite) {
      bad = std::isfinite(g);  // any non-finite value (order-dependent kind)
      err = ratio = bad ? HUGE_VAL : 0;
    } else if (std::isnan(hi)) {
      bad = !std::isnan(g);  // NaN must stay NaN
      err = ratio = bad ? HUGE_VAL : 0;
    } else if (std::isinf(hi) || std::isinf(want)) {
      // Exact infinity, or a finite value that rounds to infinity in the output dtype:
      // the same infinity is right; a finite value is judged by its error below.
      if (g == want) {
        err = ratio = 0;
      } else if (!std::isfinite(g)) {
        bad = true;
        err = ratio = HUGE_VAL;
      } else {
        err = std::isinf(hi) ? HUGE_VAL : std::fabs((g - hi) - lo);
        ratio = err / budget[i];
        bad = !(ratio <= 1);
      }
    } else if (!std::isfinite(g)) {
      bad = true;
      err = ratio = HUGE_VAL;
    } else {
      err = std::fabs((g - hi) - lo);
      ratio = budget[i] > 0 ? err / budget[i] : (err == 0 ? 0 : HUGE_VAL);
      bad = !(ratio <= 1);
    }
    if (bad) ++r.failures;
    const double u = ulp(std::isfinite(want) ? want : hi, ref.dtype);
    const double eu = std::isfinite(u) ? err / u : (err == 0 ? 0 : HUGE_VAL);
    ulps.push_back(static_cast<float>(eu));
    // Rank by ratio, then by ULPs: the worst element is the one furthest past its budget.
    const double key = std::isnan(ratio) ? HUGE_VAL : ratio;
    if (key > worst_key) {
      worst_key = key;
      r.worst = i;
      r.worst_ref = want;
      r.worst_got = g;
      r.worst_err = err;
      r.worst_budget = budget[i];
    }
    r.max_ratio = std::max(r.max_ratio, key);
  }
  if (!ulps.empty()) {
    r.max_ulp = *std::max_element(ulps.begin(), ulps.end());
    auto mid = ulps.begin() + static_cast<long>(ulps.size() / 2);
    std::nth_element(ulps.begin(), mid, ulps.end());
    r.median_ulp = *mid;
  }
  return r;
}

Verdict decide(std::vector<TensorReport>& tensors, const std::string& main_output, std::string* message) {
  for (const auto& t : tensors)
    if (!t.guards_ok) {
      *message = t.name + ": write out of bounds at byte offset " + std::to_string(t.guard_offset) +
                 " (relative to the start of the buffer)";
      return Verdict::oob_write;
    }
  for (const auto& t : tensors)
    if (t.unwritten) {
      *message =
          t.name + ": " + std::to_string(t.unwritten) + " of " + std::to_string(t.count) + " elements left unwritten";
      return Verdict::unwritten;
    }
  for (const auto& t : tensors)
    if (t.failures) {
      *message =
          t.name + ": " + std::to_string(t.failures) + " of " + std::to_string(t.count) + " elements beyond budget";
      return Verdict::fail;
    }
  for (const auto& t : tensors)
    if (t.name == main_output && t.count &&
        static_cast<double>(t.degenerate) > kMistrustFraction * static_cast<double>(t.count)) {
      *message = t.name + ": " + std::to_string(t.degenerate) + " of " + std::to_string(t.count) +
                 " reference values are zero, NaN or not determined by the inputs";
      return Verdict::mistrusted;
    }
  return Verdict::pass;
}

}  // namespace bncheck
