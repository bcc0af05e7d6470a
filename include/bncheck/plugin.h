/*
 * bncheck plugin ABI, version 2 — pure C.
 *
 * A plugin is a shared library that exports one function,
 *
 *     const bncheck_plugin_t* bncheck_get_plugin(void);
 *
 * returning a table that lives as long as the library is loaded. bncheck loads it
 * with `bncheck run --plugin PATH.so` (also `list`, and later `props` and `fuzz`),
 * and by default makes every call in a child process of its own process group (killed
 * as a group on timeout, on return and when bncheck is interrupted): a plugin that
 * crashes, hangs, forks or writes out of bounds or into its inputs gets a verdict, not
 * a dead harness. A call must leave the floating-point environment (rounding mode,
 * FTZ/DAZ) as it found it, or the case is an ERROR. What a plugin prints on stdout goes
 * to bncheck's stderr.
 *
 * Tensors. All buffers are dense, in the layout the problem names:
 *   channels-first: x[n][c][d][h][w]     channels-last: x[n][d][h][w][c]
 * with the spatial sizes spatial[0..spatial_rank-1] (outermost first). x, y, dy and
 * dx hold `dtype`; gamma, beta, means, variances, inverse stds, dgamma and dbeta hold
 * `param_dtype`, one value per channel. f16 and bf16 are raw 16-bit patterns (IEEE
 * binary16; the upper half of an IEEE binary32). gamma and beta (and dgamma, dbeta)
 * are NULL when `affine` is 0: then gamma = 1, beta = 0.
 *
 * Conventions. A table of version 2 declares the conventions it follows and the
 * numerics it uses (bncheck_conventions_t, bncheck_numerics_t below); bncheck computes
 * the reference under those conventions and judges the results against the error
 * budget of those numerics, and `bncheck list` prints them. All-zero fields declare
 * PyTorch's and cuDNN's conventions, which are also those of every version-1 table:
 *   mean      = sum(x) / M,  var = sum((x - mean)^2) / M   (biased),  M = n * prod(spatial)
 *   invstd    = 1 / sqrt(var + eps)
 *   y         = gamma * (x - mean) * invstd + beta
 *   training:  save_mean = mean, save_invstd = invstd; when running_mean and
 *              running_var are not NULL they are updated in place:
 *                running_mean = (1 - momentum) * running_mean + momentum * mean
 *                running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)
 *              (M = 1: the unbiased variance is 0/0, NaN)
 *   inference: y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
 *   backward:  from the saved statistics, xhat = (x - save_mean) * save_invstd,
 *                dbeta = sum(dy), dgamma = sum(dy * xhat),
 *                dx = gamma * save_invstd / M * (M * dy - dbeta - xhat * dgamma)
 * The declarations change these as their comments say: with BNCHECK_SAVE_VARIANCE the
 * buffer named save_invstd holds var and backward receives var there (backward then
 * uses invstd = 1 / sqrt(var + eps)).
 *
 * Every function returns 0 on success and non-zero on failure, after which
 * last_error() (may be NULL) describes the failure. supports() returns non-zero
 * when the plugin implements the problem, 0 when it does not; a problem it does not
 * support is reported UNSUPPORTED, never as a pass.
 *
 * The problem names its direction (version 2): supports() can decline training or
 * backward alone. Version-1 plugins never read the field.
 *
 * Split statistics (version 2, minor 1; optional). Distributed (synchronized) BN runs
 * forward training on K ranks: each computes local statistics of its slice of the
 * batch, the K are merged, and each rank normalizes its slice with the merged ones. A
 * problem `split=A:B:...` (batch sizes of consecutive slices, summing to n; 0 and 1
 * allowed) is run that way, and judged against the whole batch's exact outputs:
 *   local_stats(slice, x_k, stats_k)   once per slice, slice->n its batch size (maybe
 *                                      0), x_k its samples; writes 2 doubles per
 *                                      channel, at stats_k[2c] and stats_k[2c + 1], in
 *                                      the form split_kind declares
 *   merge_stats(p, k, counts, stats, merged, save_mean, save_invstd, running_mean,
 *               running_var)           once: counts[j] = slice j's elements per channel,
 *                                      stats = the k local results, slice after slice;
 *                                      writes the forward-training statistics (and
 *                                      updates the running ones) as forward_training
 *                                      does, and 4 doubles per channel, merged[4c..4c+3],
 *                                      for apply_stats (e.g. mean and invstd)
 *   apply_stats(slice, x_k, gamma, beta, merged, y_k)   once per slice: y of its samples
 * bncheck reads neither stats nor merged; it only hands them on. A table without these
 * functions (NULL, or minor 0) has split problems reported UNSUPPORTED.
 *
 * Compatibility. Later versions only append fields, to bncheck_problem_t and to the
 * table. bncheck loads a table of abi_version 1 (reading only version 1's fields, with
 * PyTorch's conventions and f32 numerics) or 2 of any abi_minor: a newer minor's fields,
 * appended past those this header names, are ignored. Other versions are refused.
 * Declared values outside the enumerations below are refused at load, with the field
 * named.
 */
#ifndef BNCHECK_PLUGIN_H
#define BNCHECK_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BNCHECK_PLUGIN_ABI_VERSION 2u
#define BNCHECK_PLUGIN_ABI_MINOR 1u

typedef enum bncheck_dtype_t { BNCHECK_F64 = 0, BNCHECK_F32 = 1, BNCHECK_F16 = 2, BNCHECK_BF16 = 3 } bncheck_dtype_t;

typedef enum bncheck_layout_t {
  BNCHECK_CHANNELS_FIRST = 0, /* N, C, spatial... */
  BNCHECK_CHANNELS_LAST = 1   /* N, spatial..., C */
} bncheck_layout_t;

typedef enum bncheck_direction_t {
  BNCHECK_FORWARD_TRAINING = 0,
  BNCHECK_FORWARD_INFERENCE = 1,
  BNCHECK_BACKWARD = 2
} bncheck_direction_t;

typedef struct bncheck_problem_t {
  int64_t n;            /* batch size, >= 1 (a split slice: >= 0) */
  int64_t c;            /* channels, >= 1 */
  int32_t spatial_rank; /* 0..3 */
  int64_t spatial[3];   /* sizes, outermost first; entries past spatial_rank are 1 */
  int32_t layout;       /* bncheck_layout_t */
  int32_t dtype;        /* bncheck_dtype_t of x, y, dy, dx */
  int32_t param_dtype;  /* bncheck_dtype_t of gamma, beta, statistics, dgamma, dbeta */
  double eps;           /* >= 0 */
  double momentum;      /* in [0, 1] */
  int32_t affine;       /* 1: gamma and beta are given; 0: they are NULL */
  /* version 2 */
  int32_t direction; /* bncheck_direction_t of the call supports() is asked about */
} bncheck_problem_t;

/* Conventions (version 2). Zero is PyTorch's and cuDNN's choice in every field. */
enum {
  BNCHECK_RVAR_UNBIASED = 0, /* running_var from var * M / (M - 1) (PyTorch, cuDNN) */
  BNCHECK_RVAR_BIASED = 1    /* from var (TensorFlow/Keras, ONNX, oneDNN) */
};
enum {
  BNCHECK_MOMENTUM_NEW = 0, /* r = (1 - m) r + m s: momentum weighs the new statistic (PyTorch) */
  BNCHECK_MOMENTUM_OLD = 1  /* r = m r + (1 - m) s: momentum weighs the old value (TF/Keras, ONNX) */
};
enum { BNCHECK_SAVE_INVSTD = 0, BNCHECK_SAVE_VARIANCE = 1 };
enum {
  BNCHECK_EPS_IN_SQRT = 0 /* invstd = 1 / sqrt(var + eps): the only placement this version defines */
};
enum {
  BNCHECK_EPS_DOUBLE = 0, /* eps used as given (a double) */
  BNCHECK_EPS_FLOAT = 1   /* eps used as (float)eps: the reference uses that value too */
};
enum {
  BNCHECK_M1_NAN = 0,   /* M = 1, unbiased running variance: 0 / 0 = NaN */
  BNCHECK_M1_BIASED = 1 /* M = 1: the running variance takes the biased variance (0) instead */
};
enum {
  BNCHECK_ZERO_VAR_IEEE = 0, /* var + eps = 0: invstd = 1 / sqrt(0) = +Inf, NaN outputs */
  BNCHECK_ZERO_VAR_ZERO = 1  /* var + eps = 0: invstd = 0, y = beta (LibTorch's CPU kernel) */
};
typedef struct bncheck_conventions_t {
  int32_t running_var;      /* BNCHECK_RVAR_* */
  int32_t momentum;         /* BNCHECK_MOMENTUM_* */
  int32_t saved_stat;       /* BNCHECK_SAVE_*: what save_invstd holds */
  int32_t no_running_stats; /* 1: training keeps no running statistics (they are not compared) */
  int32_t eps_placement;    /* BNCHECK_EPS_IN_SQRT */
  int32_t eps_dtype;        /* BNCHECK_EPS_* */
  int32_t single_element;   /* BNCHECK_M1_* */
  int32_t zero_var;         /* BNCHECK_ZERO_VAR_* */
} bncheck_conventions_t;

/* Numerics (version 2): what the error budget assumes (docs/error-model.md). */
enum {
  BNCHECK_STATS_UNKNOWN = 0,
  BNCHECK_STATS_TWO_PASS = 1,
  BNCHECK_STATS_WELFORD = 2, /* Welford or Chan updates */
  BNCHECK_STATS_ONE_PASS = 3 /* E[x^2] - E[x]^2 */
};
typedef struct bncheck_numerics_t {
  int32_t
      accumulation_bits; /* significand bits of the reductions: 24 (f32), 53 (f64), 64 (x87); 0: 24, 53 for f64 data */
  int32_t compute_bits;  /* of the elementwise arithmetic, likewise; 0: as accumulation_bits' default */
  int32_t stats_algorithm;  /* BNCHECK_STATS_* */
  int32_t sum_based_stats;  /* 1: mean and variance are plain sums, each divided once by M */
  int32_t folds_inference;  /* 1: inference computes y = x * w + (beta - w * running_mean) */
  int32_t flush_denormals;  /* 1: flushes subnormals (FTZ/DAZ inside the call, restored on return) */
  int32_t fast_math;        /* 1: reassociates or uses approximate functions */
  int32_t nondeterministic; /* 1: results may differ from run to run */
} bncheck_numerics_t;

/* Split statistics: the form of the 2 doubles per channel local_stats writes. */
enum {
  BNCHECK_SPLIT_NONE = 0,     /* no split entry points */
  BNCHECK_SPLIT_MEAN_M2 = 1,  /* (mean, sum of squared deviations) */
  BNCHECK_SPLIT_MEAN_STD = 2, /* (mean, sqrt(M2 / count)): cannot overflow where x does not */
  BNCHECK_SPLIT_SUMS = 3      /* (sum, sum of squares): the variance is E[x^2] - E[x]^2 */
};

typedef struct bncheck_plugin_t {
  uint32_t abi_version; /* BNCHECK_PLUGIN_ABI_VERSION */
  const char* name;     /* backend name: 1-64 of A-Z a-z 0-9 '_' '-' (others are refused) */
  int (*supports)(const bncheck_problem_t* p);
  int (*forward_training)(const bncheck_problem_t* p, const void* x, const void* gamma, const void* beta, void* y,
                          void* save_mean, void* save_invstd, void* running_mean, void* running_var);
  int (*forward_inference)(const bncheck_problem_t* p, const void* x, const void* gamma, const void* beta,
                           const void* running_mean, const void* running_var, void* y);
  int (*backward)(const bncheck_problem_t* p, const void* x, const void* dy, const void* gamma, const void* save_mean,
                  const void* save_invstd, void* dx, void* dgamma, void* dbeta);
  const char* (*last_error)(void);
  const char* description; /* one line: algorithm, accumulation precision, fast-math; may be NULL */
  /* version 2 */
  uint32_t abi_minor; /* BNCHECK_PLUGIN_ABI_MINOR */
  bncheck_conventions_t conventions;
  bncheck_numerics_t numerics;
  /* version 2, minor 1: split statistics (all three functions, or none) */
  int32_t split_kind; /* BNCHECK_SPLIT_* */
  int (*local_stats)(const bncheck_problem_t* slice, const void* x, double* stats);
  int (*merge_stats)(const bncheck_problem_t* p, int64_t k, const int64_t* counts, const double* stats, double* merged,
                     void* save_mean, void* save_invstd, void* running_mean, void* running_var);
  int (*apply_stats)(const bncheck_problem_t* slice, const void* x, const void* gamma, const void* beta,
                     const double* merged, void* y);
} bncheck_plugin_t;

/* The one exported symbol. */
const bncheck_plugin_t* bncheck_get_plugin(void);

#ifdef __cplusplus
}
#endif

#endif /* BNCHECK_PLUGIN_H */
