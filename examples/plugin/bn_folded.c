/*
 * An inference-only bncheck plugin in the style of deployment libraries: batch
 * normalization folded into one multiply-add per element,
 *     w = gamma / sqrt(running_var + eps),  b = beta - w * running_mean,  y = x * w + b,
 * in float arithmetic with eps used as a float. Version 2 of the ABI lets it say so:
 * supports() declines training and backward (p->direction), and the table declares
 * the float epsilon, the folded form and f32 numerics, so bncheck judges it under
 * those (docs/error-model.md) instead of raising false alarms.
 *
 * f32 data and parameters, both layouts, 0-3 spatial dimensions.
 * Build:    cc -O2 -std=c11 -shared -fPIC -I include examples/plugin/bn_folded.c -o bn_folded.so -lm
 * Validate: build/bncheck run --plugin ./bn_folded.so --backend bn_folded
 *
 * Compiled with -DPLANT_FOLD_BIAS it carries a planted bug, for bncheck's own tests:
 * every output one ulp up (nextafterf towards +inf).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "bncheck/plugin.h"

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "bn_folded"
#endif

static const char* g_error = "";

static int folded_supports(const bncheck_problem_t* p) {
  return p->direction == BNCHECK_FORWARD_INFERENCE && p->dtype == BNCHECK_F32 && p->param_dtype == BNCHECK_F32 &&
         p->spatial_rank >= 0 && p->spatial_rank <= 3;
}

static int decline(void) {
  g_error = "bn_folded implements inference only";
  return 1;
}

static int folded_forward_training(const bncheck_problem_t* p, const void* x, const void* gamma, const void* beta,
                                   void* y, void* save_mean, void* save_invstd, void* running_mean, void* running_var) {
  (void)p, (void)x, (void)gamma, (void)beta, (void)y, (void)save_mean, (void)save_invstd, (void)running_mean,
      (void)running_var;
  return decline();
}

static int folded_backward(const bncheck_problem_t* p, const void* x, const void* dy, const void* gamma,
                           const void* save_mean, const void* save_invstd, void* dx, void* dgamma, void* dbeta) {
  (void)p, (void)x, (void)dy, (void)gamma, (void)save_mean, (void)save_invstd, (void)dx, (void)dgamma, (void)dbeta;
  return decline();
}

static int folded_forward_inference(const bncheck_problem_t* p, const void* xv, const void* gammav, const void* betav,
                                    const void* rmv, const void* rvv, void* yv) {
  if (!folded_supports(p)) {
    g_error = "unsupported problem";
    return 1;
  }
  const float *x = xv, *gamma = gammav, *beta = betav, *rm = rmv, *rv = rvv;
  float* y = yv;
  int64_t S = 1;
  for (int i = 0; i < p->spatial_rank; ++i) S *= p->spatial[i];
  const float eps = (float)p->eps;
  for (int64_t c = 0; c < p->c; ++c) {
    const float w = (gamma ? gamma[c] : 1.0f) / sqrtf(rv[c] + eps);
    const float b = (beta ? beta[c] : 0.0f) - w * rm[c];
    for (int64_t n = 0; n < p->n; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = p->layout == BNCHECK_CHANNELS_FIRST ? (n * p->c + c) * S + s : (n * S + s) * p->c + c;
        float v = x[i] * w + b;
#ifdef PLANT_FOLD_BIAS
        v = nextafterf(v, INFINITY);
#endif
        y[i] = v;
      }
  }
  return 0;
}

static const char* folded_last_error(void) { return g_error; }

static const bncheck_plugin_t kPlugin = {
    .abi_version = BNCHECK_PLUGIN_ABI_VERSION,
    .name = PLUGIN_NAME,
    .supports = folded_supports,
    .forward_training = folded_forward_training,
    .forward_inference = folded_forward_inference,
    .backward = folded_backward,
    .last_error = folded_last_error,
    .description = "folded inference y = x*w + b in float, float epsilon; inference only",
    .abi_minor = BNCHECK_PLUGIN_ABI_MINOR,
    .conventions = {.eps_dtype = BNCHECK_EPS_FLOAT},
    .numerics = {.accumulation_bits = 24, .compute_bits = 24, .folds_inference = 1},
};

const bncheck_plugin_t* bncheck_get_plugin(void) { return &kPlugin; }
