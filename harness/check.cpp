#include "harness/check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "harness/parallel.hpp"

namespace bncheck {

namespace {

// The element loop of compare_tensor for one output dtype, its loads typed.
// Elements [i0, i1) of ref (element i + shift of got) into r (its counts, worst element
// and largest ratio) and ulps[i].
template <Dtype DT>
void compare_elements(const RefTensor& ref, const Tensor& got, size_t shift, const std::vector<double>& budget,
                      size_t i0, size_t i1, TensorReport& r, float* ulps) {
  using Stored =
      std::conditional_t<DT == Dtype::f64, uint64_t, std::conditional_t<DT == Dtype::f32, uint32_t, uint16_t>>;
  const auto* gp = static_cast<const Stored*>(got.data()) + shift;
  const uint64_t sentinel = sentinel_bits(DT);
  const bool marks = !ref.any_nonfinite.empty(), lows = !ref.lo.empty();
  double worst_key = -1;
  for (size_t i = i0; i < i1; ++i) {
    const double want = bits_to_double(ref.rounded[i], DT), hi = ref.hi[i], lo = lows ? ref.lo[i] : 0.0;
    const uint64_t gb = gp[i];
    const double g = bits_to_double(gb, DT);
    const uint8_t mark = marks ? ref.any_nonfinite[i] : 0;
    // An infinite budget (an undetermined channel, docs/error-model.md) admits any value.
    const bool any_value = mark == RefTensor::kAnyValue || std::isinf(budget[i]);
    if (want == 0 || std::isnan(want) || any_value) ++r.degenerate;
    double err = 0, ratio = 0;
    bool bad = false;
    if (gb == sentinel) {
      ++r.unwritten;
      bad = true;
      err = ratio = HUGE_VAL;
    } else if (any_value) {
      err = ratio = 0;  // singular point: every value is defensible
    } else if (mark == RefTensor::kAnyNonFinite) {
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
    const double u = ulp(std::isfinite(want) ? want : hi, DT);
    const double eu = std::isfinite(u) ? err / u : (err == 0 ? 0 : HUGE_VAL);
    ulps[i] = static_cast<float>(eu);
    // Rank by ratio, then by ULPs: the worst element is the one furthest past its budget.
    const double key = std::isnan(ratio) ? HUGE_VAL : ratio;
    if (key > worst_key) {
      worst_key = key;
      r.worst = i + shift;
      r.worst_ref = want;
      r.worst_got = g;
      r.worst_err = err;
      r.worst_budget = budget[i];
    }
    r.max_ratio = std::max(r.max_ratio, key);
  }
}

// ref's elements against got from element shift on, into r (counts, worst element,
// largest ratio: r's own first) and ulps: in parts on the reference's threads, each into
// its own partial report, merged in the order of the elements: the same report for any
// number of threads (the worst element is the first of the largest ratio).
void compare_part(const RefTensor& ref, const Tensor& got, size_t shift, const std::vector<double>& budget,
                  TensorReport& r, bool first, float* ulps) {
  const int64_t n = static_cast<int64_t>(ref.size()), piece = int64_t{1} << 14;
  std::vector<TensorReport> parts(static_cast<size_t>((n + piece - 1) / piece));
  parallel_chunks(static_cast<int64_t>(parts.size()), n, [&](int64_t p0, int64_t p1) {
    for (int64_t k = p0; k < p1; ++k) {
      const size_t i0 = static_cast<size_t>(k * piece), i1 = static_cast<size_t>(std::min(n, (k + 1) * piece));
      TensorReport& part = parts[static_cast<size_t>(k)];
      switch (ref.dtype) {
        case Dtype::f64: compare_elements<Dtype::f64>(ref, got, shift, budget, i0, i1, part, ulps); break;
        case Dtype::f32: compare_elements<Dtype::f32>(ref, got, shift, budget, i0, i1, part, ulps); break;
        case Dtype::f16: compare_elements<Dtype::f16>(ref, got, shift, budget, i0, i1, part, ulps); break;
        case Dtype::bf16: compare_elements<Dtype::bf16>(ref, got, shift, budget, i0, i1, part, ulps); break;
      }
    }
  });
  bool any = !first;
  for (const TensorReport& part : parts) {
    r.degenerate += part.degenerate;
    r.unwritten += part.unwritten;
    r.failures += part.failures;
    if (!any || part.max_ratio > r.max_ratio) {
      r.max_ratio = part.max_ratio;
      r.worst = part.worst;
      r.worst_ref = part.worst_ref;
      r.worst_got = part.worst_got;
      r.worst_err = part.worst_err;
      r.worst_budget = part.worst_budget;
    }
    any = true;
  }
}

// The start of a report on got: its name, count and guards; false where got's dtype
// is not the reference's (every element fails).
bool start_report(TensorReport& r, const std::string& name, const Tensor& got, Dtype want, size_t count) {
  r.name = name;
  r.count = count;
  r.guards_ok = got.guards_intact(&r.guard_offset);
  if (got.dtype() == want && got.size() == count) return true;  // the runner allocates outputs in the reference's dtype
  r.failures = r.count;
  r.max_ratio = HUGE_VAL;
  return false;
}

}  // namespace

TensorReport compare_tensor(const std::string& name, const RefTensor& ref, const Tensor& got,
                            const std::vector<double>& budget) {
  TensorReport r;
  if (!start_report(r, name, got, ref.dtype, ref.size())) return r;
  // Errors in ULPs as floats (24 bits: the report prints three digits), 4 bytes an element.
  std::vector<float> ulps(r.count);
  compare_part(ref, got, 0, budget, r, true, ulps.data());
  if (!ulps.empty()) {
    r.max_ulp = *std::max_element(ulps.begin(), ulps.end());
    auto mid = ulps.begin() + static_cast<long>(ulps.size() / 2);
    std::nth_element(ulps.begin(), mid, ulps.end());
    r.median_ulp = *mid;
  }
  return r;
}

TensorComparison::TensorComparison(const std::string& name, const Tensor& got, Dtype want, size_t count)
    : got_(got), ok_(start_report(r_, name, got, want, count)) {
  if (ok_) histogram_.assign(size_t{1} << (31 - kDroppedBits), 0);
}

void TensorComparison::add(const RefTensor& ref, const std::vector<double>& budget) {
  if (!ok_) return;
  if (ref.dtype != got_.dtype() || done_ + ref.size() > r_.count || budget.size() != ref.size())
    throw std::invalid_argument("TensorComparison::add: a part that does not fit the tensor");
  std::vector<float> ulps(ref.size());
  compare_part(ref, got_, done_, budget, r_, done_ == 0, ulps.data());
  for (const float u : ulps) {
    uint32_t b;
    std::memcpy(&b, &u, sizeof b);
    b &= 0x7fffffffu;  // errors are not negative (nor -0)
    ++histogram_[b >> kDroppedBits];
    if (b > max_bits_) max_bits_ = b;
  }
  done_ += ref.size();
}

TensorReport TensorComparison::report() const {
  TensorReport r = r_;
  if (!ok_) return r;
  if (done_ != r.count)
    throw std::logic_error("TensorComparison::report: " + std::to_string(r.count - done_) + " elements never compared");
  auto value = [](uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return static_cast<double>(f);
  };
  if (done_) {
    r.max_ulp = value(max_bits_);
    const size_t rank = done_ / 2;  // the element nth_element puts in the middle
    size_t seen = 0;
    for (size_t b = 0; b < histogram_.size(); ++b) {
      seen += histogram_[b];
      if (seen > rank) {
        r.median_ulp = value(static_cast<uint32_t>(b) << kDroppedBits);
        break;
      }
    }
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
