/*
 * bncheck plugin ABI, version 1 — pure C.
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
 * Conventions of version 1 (PyTorch's and cuDNN's):
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
 *
 * Every function returns 0 on success and non-zero on failure, after which
 * last_error() (may be NULL) describes the failure. supports() returns non-zero
 * when the plugin implements the problem, 0 when it does not; a problem it does not
 * support is reported UNSUPPORTED, never as a pass.
 *
 * Compatibility: bncheck refuses a table whose abi_version differs from the version
 * it was built with. Later versions only append fields.
 */
#ifndef BNCHECK_PLUGIN_H
#define BNCHECK_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BNCHECK_PLUGIN_ABI_VERSION 1u

typedef enum bncheck_dtype_t { BNCHECK_F64 = 0, BNCHECK_F32 = 1, BNCHECK_F16 = 2, BNCHECK_BF16 = 3 } bncheck_dtype_t;

typedef enum bncheck_layout_t {
  BNCHECK_CHANNELS_FIRST = 0, /* N, C, spatial... */
  BNCHECK_CHANNELS_LAST = 1   /* N, spatial..., C */
} bncheck_layout_t;

typedef struct bncheck_problem_t {
  int64_t n;            /* batch size, >= 1 */
  int64_t c;            /* channels, >= 1 */
  int32_t spatial_rank; /* 0..3 */
  int64_t spatial[3];   /* sizes, outermost first; entries past spatial_rank are 1 */
  int32_t layout;       /* bncheck_layout_t */
  int32_t dtype;        /* bncheck_dtype_t of x, y, dy, dx */
  int32_t param_dtype;  /* bncheck_dtype_t of gamma, beta, statistics, dgamma, dbeta */
  double eps;           /* >= 0 */
  double momentum;      /* in [0, 1] */
  int32_t affine;       /* 1: gamma and beta are given; 0: they are NULL */
} bncheck_problem_t;

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
} bncheck_plugin_t;

/* The one exported symbol. */
const bncheck_plugin_t* bncheck_get_plugin(void);

#ifdef __cplusplus
}
#endif

#endif /* BNCHECK_PLUGIN_H */
