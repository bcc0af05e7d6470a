// The arbitrary-precision reference: exact (to 2^-256 relative) BN results, each
// rounded once to its output dtype, plus the exact value as a double-double for
// measuring errors.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "bncheck/case_data.hpp"
#include "bncheck/problem.hpp"

namespace bncheck {

// A std::allocator that leaves new elements default-initialised, i.e. unfilled: the
// reference writes every element of its outputs, and filling them first (12 bytes an
// element, on one thread) cost a third of the fast path's time on large tensors.
template <class T>
struct NoFillAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = NoFillAllocator<U>;
  };
  NoFillAllocator() = default;
  template <class U>
  NoFillAllocator(const NoFillAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  // 64-byte aligned (a cache line): the fast path streams whole vectors into them.
  T* allocate(size_t n) { return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, size_t) noexcept { ::operator delete (p, std::align_val_t{64}); }
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... A>
  void construct(U* p, A&&... a) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
  }
};
template <class T>
using RefVector = std::vector<T, NoFillAllocator<T>>;

struct RefTensor {
  Dtype dtype = Dtype::f32;
  // Correctly rounded to dtype, as stored bits: 4 bytes an element below f64.
  class Bits {
   public:
    // n elements, unfilled: every one is set by the reference.
    void assign(size_t n, Dtype dt) {
      wide_ = dt == Dtype::f64;
      w_.clear();
      n_.clear();
      w_.resize(wide_ ? n : 0);
      n_.resize(wide_ ? 0 : n);
    }
    uint64_t operator[](size_t i) const { return wide_ ? w_[i] : n_[i]; }
    void set(size_t i, uint64_t b) {
      if (wide_)
        w_[i] = b;
      else
        n_[i] = static_cast<uint32_t>(b);
    }
    size_t size() const { return wide_ ? w_.size() : n_.size(); }
    bool empty() const { return size() == 0; }
    uint64_t* wide_data() { return w_.data(); }
    uint32_t* narrow_data() { return n_.data(); }
    bool operator==(const Bits&) const = default;

   private:
    bool wide_ = false;
    RefVector<uint64_t> w_;
    RefVector<uint32_t> n_;
  };
  Bits rounded;
  // The exact value ~= hi + lo, hi the nearest double, |lo| <= ulp(hi)/2. For the
  // elementwise outputs of f32, f16 and bf16 data lo is empty (read as 0) and hi is the
  // exact value to within 2^-45 of itself (the fast path's fused multiply-add tier):
  // an error is measured to within 2^-21 of an f32 ulp, and 8 bytes an element go
  // (docs/error-model.md, "Elementwise outputs").
  RefVector<double> hi, lo;
  double lo_at(size_t i) const { return lo.empty() ? 0.0 : lo[i]; }
  // Per element (empty when all 0): kAnyNonFinite where IEEE arithmetic gives a
  // non-finite result whose kind (NaN, +-Inf) depends on the order of evaluation;
  // kAnyValue at a singular point (var + eps = 0: 0/0), where an honest variance error
  // of any size turns NaN into a finite value.
  static constexpr uint8_t kAnyNonFinite = 1, kAnyValue = 2;
  std::vector<uint8_t> any_nonfinite;
  // Allocates the marks on the first one, under one lock for every RefTensor: marks are
  // rare, and workers that mark elements of one tensor (the fast path's channels) do not
  // race for its allocation. Reading the marks while others may still set them is not.
  void mark(size_t i, uint8_t how) {
    const std::lock_guard<std::mutex> hold(marks_lock());
    if (any_nonfinite.empty()) any_nonfinite.assign(size(), 0);
    any_nonfinite[i] = how;
  }
  static std::mutex& marks_lock() {
    static std::mutex m;
    return m;
  }
  size_t size() const { return rounded.size(); }
  double rounded_value(size_t i) const { return bits_to_double(rounded[i], dtype); }
  bool empty() const { return rounded.empty(); }
};

// Per-channel exact quantities (as doubles) that the error model needs.
struct ChannelRef {
  double mean = 0, var = 0, invstd = 0;  // batch statistics (fwd_train, bwd)
  double rms = 0;                        // sqrt(mean^2 + var) = sigma * kappa
  double sum_abs_x = 0;
  double dbeta = 0, dgamma = 0;  // backward
  double sum_abs_dy = 0, sum_abs_dy_xhat = 0;
  bool poisoned = false;  // a non-finite input in the channel (IEEE special values)
  // The same statistics in units of 2^exp2 (exp2 the exponent of rms), finite even
  // where var overflows a double: the error model works in these units.
  int exp2 = 0;
  double mean_s = 0, var_s = 0, rms_s = 0, invstd_s = 0;
};

// Which path produced a reference's elementwise outputs (y or dx): the fast path's
// rounding test, or the 256-bit evaluation (for a whole channel, or one element whose
// rounding the fast path could not decide).
struct ReferencePath {
  uint64_t elements_fast = 0, elements_slow = 0, channels_slow = 0;
  uint64_t channels_exact_statistics = 0;  // statistics at 256 bits from exact sums, elements through the tiers
};

struct Reference {
  RefTensor y, save_mean, save_stat, running_mean, running_var;  // forward
  RefTensor dx, dgamma, dbeta;                                   // backward
  std::vector<ChannelRef> channel;
  ReferencePath path;
};

// Reference at 256 bits (Boost.Multiprecision cpp_bin_float), under conventions conv.
// For backward, the statistics are recomputed exactly from x; save_mean/save_stat
// are filled too (rounded to pdtype) so the harness can hand them to the backend.
// The slow path: the oracle of the fast one.
Reference compute_reference(const Problem& p, const Conventions& conv, const CaseData& d);

// The same outputs by the fast path (docs/error-model.md, "The fast reference"): exact
// per-channel sums in integer bins, the statistics from them at 256 bits, each
// elementwise output in double-double with a proven error bound, kept when every value
// within the bound rounds to the same value of its dtype, else evaluated at 256 bits.
// Bitwise the rounded outputs of compute_reference.
Reference compute_reference_fast(const Problem& p, const Conventions& conv, const CaseData& d);

// The fast path's reference of a tensor too large to hold its elementwise outputs whole
// (a streamed check; forward directions): the constructor gathers every channel's exact
// sums in one pass over x, rows_per_pass rows at a time (for training); rows(n0, n1)
// then gives the reference of rows [n0, n1): y of (n1 - n0) C S elements in the layout
// of a problem of n1 - n0 rows, every per-channel output and ChannelRef whole. Each
// output is bitwise the one compute_reference_fast gives. d must outlive it.
// Throws std::runtime_error from rows() where a channel needs the 256-bit path over the
// whole channel (non-finite values, var + eps = 0, statistics beyond the double-double
// bounds), and std::invalid_argument for backward.
class RowReference {
 public:
  RowReference(const Problem& p, const Conventions& conv, const CaseData& d, int64_t rows_per_pass);
  ~RowReference();
  RowReference(const RowReference&) = delete;
  RowReference& operator=(const RowReference&) = delete;
  Reference rows(int64_t n0, int64_t n1) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Threads of the fast path (`--threads`; 0: every core). Channels go to threads as they
// free up; the result is the same for any count.
void set_reference_threads(int n);
int reference_threads();

// The path the harness uses (compute_reference_fast unless set to slow: `--reference`).
enum class ReferenceMode { fast, slow };
void set_reference_mode(ReferenceMode m);
ReferenceMode reference_mode();
Reference compute_reference_selected(const Problem& p, const Conventions& conv, const CaseData& d);

// Backward written with the full chain rule, keeping the term
// dl/dvar * sum(-2 (x_i - mu)) / M inside dl/dmu (which vanishes mathematically),
// against the simplified form: the largest |full - simplified| / max|dx| over all
// elements, computed at 256 bits. p.dir must be bwd.
double full_chain_backward_discrepancy(const Problem& p, const Conventions& conv, const CaseData& d);

// dL/dx for L = sum(dy * y(x)) by central differences of the 256-bit forward
// (training mode), step h = 2^-80 * (|x_i| + sigma): truncation O(h^2) ~ 2^-160,
// cancellation ~ 2^-256 / h ~ 2^-176 (relative). Returns the gradient as a
// double-double: hi + lo.
void finite_difference_dx(const Problem& p, const CaseData& d, std::vector<double>* hi, std::vector<double>* lo);

// Exact sum of doubles (at 512 bits), rounded once to double.
double exact_sum(const std::vector<double>& v);

// Same at 512 bits through MPFR, for the self-consistency test (when MPFR is found).
bool have_mpfr_reference();
Reference compute_reference_mpfr512(const Problem& p, const Conventions& conv, const CaseData& d);
Reference compute_reference_bin512(const Problem& p, const Conventions& conv, const CaseData& d);

}  // namespace bncheck
