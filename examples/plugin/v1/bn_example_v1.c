/*
 * The example plugin as version 1 of the ABI had it, built against that version's
 * header (examples/plugin/v1/bncheck/plugin.h, kept as it was): bncheck still loads
 * it, with version 1's PyTorch conventions. New plugins use ../bn_example.c.
 *
 * An example bncheck plugin: batch normalization in plain C, correct and small.
 * Two-pass statistics accumulated in double; f32 and f64 data with f32 or f64
 * parameters, both layouts, 0-3 spatial dimensions. f16/bf16 are declared
 * unsupported (bncheck reports UNSUPPORTED, never a pass).
 *
 * Build:    cc -O2 -std=c11 -shared -fPIC -I examples/plugin/v1 examples/plugin/v1/bn_example_v1.c -o bn_example_v1.so -lm
 * Validate: build/bncheck run --plugin ./bn_example_v1.so --backend bn_example_v1
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "bncheck/plugin.h"

static const char* g_error = "";

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

static int example_supports(const bncheck_problem_t* p) {
  const int data_ok = p->dtype == BNCHECK_F32 || p->dtype == BNCHECK_F64;
  const int param_ok = p->param_dtype == BNCHECK_F32 || p->param_dtype == BNCHECK_F64;
  return data_ok && param_ok && p->spatial_rank >= 0 && p->spatial_rank <= 3;
}

static int example_forward_training(const bncheck_problem_t* p, const void* x, const void* gamma, const void* beta,
                                    void* y, void* save_mean, void* save_invstd, void* running_mean,
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
    put(save_invstd, p->param_dtype, c, invstd);
    if (running_mean && running_var) {
      const double m = p->momentum, unbiased = M > 1 ? var * (double)M / (double)(M - 1) : NAN;
      put(running_mean, p->param_dtype, c, (1 - m) * get(running_mean, p->param_dtype, c) + m * mean);
      put(running_var, p->param_dtype, c, (1 - m) * get(running_var, p->param_dtype, c) + m * unbiased);
    }
  }
  return 0;
}

static int example_forward_inference(const bncheck_problem_t* p, const void* x, const void* gamma, const void* beta,
                                     const void* running_mean, const void* running_var, void* y) {
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

static int example_backward(const bncheck_problem_t* p, const void* x, const void* dy, const void* gamma,
                            const void* save_mean, const void* save_invstd, void* dx, void* dgamma, void* dbeta) {
  const int64_t S = spatial_size(p), M = p->n * S;
  if (!example_supports(p)) {
    g_error = "unsupported problem";
    return 1;
  }
  for (int64_t c = 0; c < p->c; ++c) {
    const double mean = get(save_mean, p->param_dtype, c), r = get(save_invstd, p->param_dtype, c);
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

static const char* example_last_error(void) { return g_error; }

#ifndef BNCHECK_EXAMPLE_NO_TABLE
static const bncheck_plugin_t kPlugin = {
    BNCHECK_PLUGIN_ABI_VERSION, "bn_example_v1",
    example_supports,           example_forward_training,
    example_forward_inference,  example_backward,
    example_last_error,         "example: two-pass, double accumulation and arithmetic, f32/f64 only"};

const bncheck_plugin_t* bncheck_get_plugin(void) { return &kPlugin; }
#endif
