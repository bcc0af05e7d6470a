/*
 * An example bncheck plugin: batch normalization in plain C, correct and small.
 * Two-pass statistics accumulated in double; f32 and f64 data with f32 or f64
 * parameters, both layouts, 0-3 spatial dimensions. f16/bf16 are declared
 * unsupported (bncheck reports UNSUPPORTED, never a pass). Version 2 of the ABI: the
 * table declares PyTorch's conventions (all zero) and its numerics (double arithmetic).
 * Minor 1: split statistics for distributed BN, exchanged as (mean, M2) and merged
 * with Chan's formula; -DPLANT_UNWEIGHTED_MERGE plants the classic SyncBN bug of
 * averaging the slices' means without their counts.
 *
 * Build:    cc -O2 -std=c11 -shared -fPIC -I include examples/plugin/bn_example.c -o bn_example.so -lm
 * Validate: build/bncheck run --plugin ./bn_example.so --backend bn_example
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "bncheck/plugin.h"

static const char* g_error = "";

/* Files that include this one for its helpers (bn_keras.c) need not use every entry point. */
#if defined(__GNUC__)
#define EXAMPLE_ENTRY static __attribute__((unused))
#else
#define EXAMPLE_ENTRY static
#endif

static int64_t spatial_size(const bncheck_problem_t* p) {
  int64_t s = 1;
  for (int i = 0; i < p->spatial_rank; ++i) s *= p->spatial[i];
  return s;
}

/* Linear index of element (n, c, s) in the problem's layout. */
static int64_t index_of(const bncheck_problem_t* p, int64_t n, int64_t c, int64_t s) {
  const int64_t S = spatial_size(p);
  return p->layout == BNCHECK_CHANNELS_FIRST ? (n * p->c + c) * S + s : (n * S + s) * p->c + c;
}

static double get(const void* buf, int32_t dt, int64_t i) {
  return dt == BNCHECK_F64 ? ((const double*)buf)[i] : (double)((const float*)buf)[i];
}

static void put(void* buf, int32_t dt, int64_t i, double v) {
  if (dt == BNCHECK_F64)
    ((double*)buf)[i] = v;
  else
    ((float*)buf)[i] = (float)v; /* one rounding, to nearest */
}

/* Every direction: p->direction is not consulted. */
static int example_supports(const bncheck_problem_t* p) {
  const int data_ok = p->dtype == BNCHECK_F32 || p->dtype == BNCHECK_F64;
  const int param_ok = p->param_dtype == BNCHECK_F32 || p->param_dtype == BNCHECK_F64;
  return data_ok && param_ok && p->spatial_rank >= 0 && p->spatial_rank <= 3;
}

/* Training under the conventions the flags name: momentum_old (running = m old +
 * (1 - m) new), biased (the running variance from the biased variance), saved_var
 * (the variance saved instead of the inverse std). All zero: PyTorch's. */
typedef struct conventions_t {
  int momentum_old, biased, saved_var;
} conventions_t;
static int training_with(const bncheck_problem_t* p, conventions_t cv, const void* x, const void* gamma,
                         const void* beta, void* y, void* save_mean, void* save_stat, void* running_mean,
                         void* running_var) {
  const int64_t S = spatial_size(p), M = p->n * S;
  if (!example_supports(p)) {
    g_error = "unsupported problem";
    return 1;
  }
  for (int64_t c = 0; c < p->c; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < p->n; ++n)
      for (int64_t s = 0; s < S; ++s) sum += get(x, p->dtype, index_of(p, n, c, s));
    const double mean = sum / (double)M;
    for (int64_t n = 0; n < p->n; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const double d = get(x, p->dtype, index_of(p, n, c, s)) - mean;
        sq += d * d;
      }
    const double var = sq / (double)M, invstd = 1.0 / sqrt(var + p->eps);
    const double g = gamma ? get(gamma, p->param_dtype, c) : 1.0, b = beta ? get(beta, p->param_dtype, c) : 0.0;
    for (int64_t n = 0; n < p->n; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = index_of(p, n, c, s);
        put(y, p->dtype, i, g * ((get(x, p->dtype, i) - mean) * invstd) + b);
      }
    put(save_mean, p->param_dtype, c, mean);
    put(save_stat, p->param_dtype, c, cv.saved_var ? var : invstd);
    if (running_mean && running_var) {
      const double w_new = cv.momentum_old ? 1 - p->momentum : p->momentum, w_old = 1 - w_new;
      const double v = cv.biased ? var : M > 1 ? var * (double)M / (double)(M - 1) : NAN;
      put(running_mean, p->param_dtype, c, w_old * get(running_mean, p->param_dtype, c) + w_new * mean);
      put(running_var, p->param_dtype, c, w_old * get(running_var, p->param_dtype, c) + w_new * v);
    }
  }
  return 0;
}

EXAMPLE_ENTRY int example_forward_training(const bncheck_problem_t* p, const void* x, const void* gamma,
                                           const void* beta, void* y, void* save_mean, void* save_invstd,
                                           void* running_mean, void* running_var) {
  const conventions_t pytorch = {0, 0, 0};
  return training_with(p, pytorch, x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var);
}

EXAMPLE_ENTRY int example_forward_inference(const bncheck_problem_t* p, const void* x, const void* gamma,
                                            const void* beta, const void* running_mean, const void* running_var,
                                            void* y) {
  const int64_t S = spatial_size(p);
  if (!example_supports(p)) {
    g_error = "unsupported problem";
    return 1;
  }
  for (int64_t c = 0; c < p->c; ++c) {
    const double rm = get(running_mean, p->param_dtype, c);
    const double r = 1.0 / sqrt(get(running_var, p->param_dtype, c) + p->eps);
    const double g = gamma ? get(gamma, p->param_dtype, c) : 1.0, b = beta ? get(beta, p->param_dtype, c) : 0.0;
    for (int64_t n = 0; n < p->n; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = index_of(p, n, c, s);
        put(y, p->dtype, i, g * ((get(x, p->dtype, i) - rm) * r) + b);
      }
  }
  return 0;
}

/* Backward from the saved mean and the saved statistic: the inverse std, or (saved_var)
 * the variance, from which invstd = 1 / sqrt(var + eps). */
static int backward_from(const bncheck_problem_t* p, const void* x, const void* dy, const void* gamma,
                         const void* save_mean, const void* save_stat, int saved_var, void* dx, void* dgamma,
                         void* dbeta) {
  const int64_t S = spatial_size(p), M = p->n * S;
  if (!example_supports(p)) {
    g_error = "unsupported problem";
    return 1;
  }
  for (int64_t c = 0; c < p->c; ++c) {
    const double mean = get(save_mean, p->param_dtype, c), v = get(save_stat, p->param_dtype, c);
    const double r = saved_var ? 1.0 / sqrt(v + p->eps) : v;
    const double g = gamma ? get(gamma, p->param_dtype, c) : 1.0;
    double db = 0, dg = 0;
    for (int64_t n = 0; n < p->n; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = index_of(p, n, c, s);
        const double d = get(dy, p->dtype, i);
        db += d;
        dg += d * ((get(x, p->dtype, i) - mean) * r);
      }
    const double k = g * r / (double)M;
    for (int64_t n = 0; n < p->n; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = index_of(p, n, c, s);
        const double xhat = (get(x, p->dtype, i) - mean) * r;
        put(dx, p->dtype, i, k * ((double)M * get(dy, p->dtype, i) - db - xhat * dg));
      }
    if (dgamma) put(dgamma, p->param_dtype, c, dg);
    if (dbeta) put(dbeta, p->param_dtype, c, db);
  }
  return 0;
}

EXAMPLE_ENTRY int example_backward(const bncheck_problem_t* p, const void* x, const void* dy, const void* gamma,
                                   const void* save_mean, const void* save_invstd, void* dx, void* dgamma,
                                   void* dbeta) {
  return backward_from(p, x, dy, gamma, save_mean, save_invstd, 0, dx, dgamma, dbeta);
}

/* Split statistics: the slice's (mean, M2) per channel, two passes in double. */
EXAMPLE_ENTRY int example_local_stats(const bncheck_problem_t* p, const void* x, double* stats) {
  const int64_t S = spatial_size(p), M = p->n * S;
  if (!example_supports(p)) {
    g_error = "unsupported problem";
    return 1;
  }
  for (int64_t c = 0; c < p->c; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < p->n; ++n)
      for (int64_t s = 0; s < S; ++s) sum += get(x, p->dtype, index_of(p, n, c, s));
    const double mean = M > 0 ? sum / (double)M : 0.0;
    for (int64_t n = 0; n < p->n; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const double d = get(x, p->dtype, index_of(p, n, c, s)) - mean;
        sq += d * d;
      }
    stats[2 * c] = mean;
    stats[2 * c + 1] = sq;
  }
  return 0;
}

/* Chan's merge of the k slices' (count, mean, M2), slice after slice; empty slices
 * contribute nothing. merged[4c] = mean, merged[4c + 1] = invstd. */
EXAMPLE_ENTRY int example_merge_stats(const bncheck_problem_t* p, int64_t k, const int64_t* counts, const double* stats,
                                      double* merged, void* save_mean, void* save_invstd, void* running_mean,
                                      void* running_var) {
  const int64_t M = p->n * spatial_size(p);
  for (int64_t c = 0; c < p->c; ++c) {
    double n = 0, mean = 0, m2 = 0;
#ifdef PLANT_UNWEIGHTED_MERGE
    /* The planted bug: the mean of the slices' means, whatever their counts. */
    double mean_sum = 0;
    int64_t nonempty = 0;
    for (int64_t j = 0; j < k; ++j)
      if (counts[j] > 0) {
        mean_sum += stats[2 * p->c * j + 2 * c];
        ++nonempty;
      }
    mean = mean_sum / (double)nonempty;
    for (int64_t j = 0; j < k; ++j) {
      const double d = stats[2 * p->c * j + 2 * c] - mean;
      m2 += stats[2 * p->c * j + 2 * c + 1] + (double)counts[j] * d * d;
      n += (double)counts[j];
    }
#else
    for (int64_t j = 0; j < k; ++j) {
      const double nb = (double)counts[j], mb = stats[2 * p->c * j + 2 * c], m2b = stats[2 * p->c * j + 2 * c + 1];
      if (nb == 0) continue;
      const double total = n + nb, delta = mb - mean;
      mean += delta * (nb / total);
      m2 += m2b + delta * delta * (n * (nb / total));
      n = total;
    }
#endif
    const double var = m2 / n, invstd = 1.0 / sqrt(var + p->eps);
    merged[4 * c] = mean;
    merged[4 * c + 1] = invstd;
    put(save_mean, p->param_dtype, c, mean);
    put(save_invstd, p->param_dtype, c, invstd);
    if (running_mean && running_var) {
      const double v = M > 1 ? var * (double)M / (double)(M - 1) : NAN;
      put(running_mean, p->param_dtype, c,
          (1 - p->momentum) * get(running_mean, p->param_dtype, c) + p->momentum * mean);
      put(running_var, p->param_dtype, c, (1 - p->momentum) * get(running_var, p->param_dtype, c) + p->momentum * v);
    }
  }
  return 0;
}

/* y of the slice from the merged mean and invstd. */
EXAMPLE_ENTRY int example_apply_stats(const bncheck_problem_t* p, const void* x, const void* gamma, const void* beta,
                                      const double* merged, void* y) {
  const int64_t S = spatial_size(p);
  for (int64_t c = 0; c < p->c; ++c) {
    const double mean = merged[4 * c], invstd = merged[4 * c + 1];
    const double g = gamma ? get(gamma, p->param_dtype, c) : 1.0, b = beta ? get(beta, p->param_dtype, c) : 0.0;
    for (int64_t n = 0; n < p->n; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = index_of(p, n, c, s);
        put(y, p->dtype, i, g * ((get(x, p->dtype, i) - mean) * invstd) + b);
      }
  }
  return 0;
}

static const char* example_last_error(void) { return g_error; }

#ifndef BNCHECK_EXAMPLE_NO_TABLE
#ifndef PLUGIN_NAME
#define PLUGIN_NAME "bn_example"
#endif
static const bncheck_plugin_t kPlugin = {
    .abi_version = BNCHECK_PLUGIN_ABI_VERSION,
    .name = PLUGIN_NAME,
    .supports = example_supports,
    .forward_training = example_forward_training,
    .forward_inference = example_forward_inference,
    .backward = example_backward,
    .last_error = example_last_error,
    .description = "example: two-pass, double accumulation and arithmetic, f32/f64 only",
    .abi_minor = BNCHECK_PLUGIN_ABI_MINOR,
    .conventions = {0}, /* PyTorch's: unbiased running variance, momentum on the new statistic, invstd saved */
    .numerics = {.accumulation_bits = 53, .compute_bits = 53, .stats_algorithm = BNCHECK_STATS_TWO_PASS},
    .split_kind = BNCHECK_SPLIT_MEAN_M2,
    .local_stats = example_local_stats,
    .merge_stats = example_merge_stats,
    .apply_stats = example_apply_stats,
};

const bncheck_plugin_t* bncheck_get_plugin(void) { return &kPlugin; }
#endif
