// The one backend interface. A backend is one file under cpu/, gpu/ or a plugin
// adapter, plus one line in harness/registry.cpp.
//
// Buffers are dense, in the problem's layout and dtypes: x, y, dy, dx in
// problem.dtype; gamma, beta, statistics, dgamma, dbeta in problem.pdtype. gamma and
// beta (and dgamma, dbeta) are null when !problem.affine.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bncheck/problem.hpp"

namespace bncheck {

struct ForwardTrainingArgs {
  const void* x;
  const void* gamma;
  const void* beta;
  void* y;
  void* save_mean;
  void* save_stat;     // inverse std or variance, as Conventions::saved says
  void* running_mean;  // in-out
  void* running_var;   // in-out
};

struct ForwardInferenceArgs {
  const void* x;
  const void* gamma;
  const void* beta;
  const void* running_mean;
  const void* running_var;
  void* y;
};

struct BackwardArgs {
  const void* x;
  const void* dy;
  const void* gamma;
  const void* save_mean;
  const void* save_stat;
  void* dx;
  void* dgamma;
  void* dbeta;
};

// Split statistics (distributed, synchronized BN; Problem::split). Each slice of the
// batch is a dense tensor in the problem's layout (its n is the slice's batch size, 0
// allowed). Its local statistics are two doubles per channel c, at stats[2c] and
// stats[2c + 1], in the form SplitKind declares; the harness passes them to
// merge_stats without reading them.
enum class SplitKind {
  none,      // no split-statistics entry points
  mean_m2,   // (mean, sum of squared deviations M2)
  mean_std,  // (mean, sqrt(M2 / count)): the form that cannot overflow where x does not
  sums       // (sum, sum of squares): the variance as E[x^2] - E[x]^2 after the merge
};
const char* to_string(SplitKind k);

struct LocalStatsArgs {
  const void* x;  // the slice
  double* stats;  // out: 2 C
};

// merge_stats writes kMergedDoubles doubles per channel (at merged[4c]) that
// apply_stats receives unread: e.g. the batch's mean and 1 / sqrt(var + eps), or a
// scaled form of them.
inline constexpr size_t kMergedDoubles = 4;

struct MergeStatsArgs {
  int64_t k;              // number of slices
  const int64_t* counts;  // elements per channel of each slice (its n times the spatial size)
  const double* stats;    // k * 2 C: slice j's local statistics at stats + 2 C j
  double* merged;         // out: kMergedDoubles * C, for apply_stats
  void* save_mean;        // out, as forward training's
  void* save_stat;        // out
  void* running_mean;     // in-out (null: not kept)
  void* running_var;      // in-out
};

struct ApplyStatsArgs {
  const void* x;  // the slice
  const void* gamma;
  const void* beta;
  const double* merged;  // merge_stats' results
  void* y;               // the slice's
};

// Result of a call into a backend. Besides success and a reported error, an isolated
// call (a plugin run in a child process) can crash, hang or write out of bounds.
struct Status {
  enum class Kind { ok, error, crash, timeout, oob_write };
  Kind kind = Kind::ok;
  std::string message;
  bool ok() const { return kind == Kind::ok; }
  static Status success() { return {}; }
  static Status error(std::string m) { return {Kind::error, std::move(m)}; }
  static Status make(Kind k, std::string m) { return {k, std::move(m)}; }
};

struct Support {
  bool supported = true;
  std::string reason;  // why not, when !supported
  Status failure;      // not ok when asking crashed, hung or failed (isolated plugins)
  static Support yes() { return {}; }
  static Support no(std::string why) { return {false, std::move(why), {}}; }
};

// Statistics algorithms, for the report and for the exact-fill rule.
enum class StatsAlgorithm { two_pass, welford, one_pass, unknown };
const char* to_string(StatsAlgorithm a);

// What the error model needs to know about how a backend computes a problem.
// Precisions are given in bits of significand (53 for f64, 24 for f32, 64 for the
// x87 long double); the budget in docs/error-model.md is written in terms of
// u_acc = 2^-accumulation_bits and u_cmp = 2^-compute_bits.
struct Numerics {
  int accumulation_bits = 24;  // precision of reductions (sums, Welford updates)
  int compute_bits = 24;       // precision of elementwise arithmetic
  StatsAlgorithm stats = StatsAlgorithm::unknown;
  // True when statistics are plain sums followed by one division: then the exact
  // fill's mean (and variance, for even M) must come out exact.
  bool sum_based_stats = false;
  bool fast_math = false;        // reported: reassociation or approximate functions
  bool flush_denormals = false;  // reported: FTZ/DAZ
  // Declared run-to-run determinism: the determinism property fails a backend that
  // declares it and is not (GPU atomics may legitimately declare false).
  bool deterministic = true;
  // Inference computes y = x s + (beta - rm s) (one multiply-add per element) instead
  // of (x - rm) s + beta: then x = rm gives beta only within budget, not exactly.
  bool folds_inference = false;
  bool operator==(const Numerics&) const = default;
};

struct Availability {
  bool available = true;
  std::string reason;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // A weak backend (kept for precision studies) runs only when named explicitly.
  virtual bool weak() const { return false; }
  virtual Availability availability() const { return {}; }
  // The command-line options a repro line needs to find this backend again (a plugin:
  // --plugin PATH), as separate words (quoted when printed).
  virtual std::vector<std::string> repro_options() const { return {}; }
  virtual Support supports(const Problem& p) const = 0;
  // The conventions the backend follows for p: the harness compares under these,
  // so a difference of convention is never a numerical failure.
  virtual Conventions conventions(const Problem& p) const { return p.conv; }
  virtual Numerics numerics(const Problem& p) const = 0;

  // Device backends: median seconds per call of the kernels alone (data resident on
  // the device), and the device-to-device copy bandwidth measured in the same run, for
  // `bncheck bench`. Host backends leave this empty (bench times the call itself).
  struct DeviceTiming {
    double seconds_per_call = 0;
    double copy_gbps = 0;
  };
  virtual std::optional<DeviceTiming> time_on_device(const Problem&, int /*warmup*/, int /*reps*/) {
    return std::nullopt;
  }

  virtual Status forward_training(const Problem& p, const ForwardTrainingArgs& a) = 0;
  virtual Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) = 0;
  virtual Status backward(const Problem& p, const BackwardArgs& a) = 0;

  // Split statistics (optional): the slice's problem has the slice's n and no split;
  // merge_stats gets the whole problem. See SplitKind.
  virtual SplitKind split_kind() const { return SplitKind::none; }
  virtual Status local_stats(const Problem& /*slice*/, const LocalStatsArgs&) { return no_split(); }
  virtual Status merge_stats(const Problem& /*p*/, const MergeStatsArgs&) { return no_split(); }
  virtual Status apply_stats(const Problem& /*slice*/, const ApplyStatsArgs&) { return no_split(); }

 private:
  static Status no_split() { return Status::error("this backend has no split-statistics entry points"); }
};

// Every backend compiled into this binary (available or not), in a fixed order.
std::vector<std::unique_ptr<Backend>> make_builtin_backends();

}  // namespace bncheck
