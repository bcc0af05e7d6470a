/*
 * A bncheck plugin following TensorFlow/Keras conventions, declared through version 2
 * of the ABI:
 *   running_mean = momentum * running_mean + (1 - momentum) * mean   (momentum weighs the old value)
 *   running_var  = momentum * running_var  + (1 - momentum) * var    (biased variance)
 *   training saves the variance (not its inverse square root) for backward.
 * The arithmetic is the example plugin's (bn_example.c: two-pass, double). bncheck
 * computes the reference under the declared conventions; a plugin that mixes them
 * (declares one and does another) fails.
 *
 * Build:    cc -O2 -std=c11 -shared -fPIC -I include examples/plugin/bn_keras.c -o bn_keras.so -lm
 * Validate: build/bncheck run --plugin ./bn_keras.so --backend bn_keras
 *
 * Planted bugs, for bncheck's own tests: -DPLANT_MIX=1 weighs the new statistic by
 * momentum (PyTorch's meaning), 2 updates with the unbiased variance, 3 saves the
 * inverse std; each while still declaring Keras's conventions.
 */
#define BNCHECK_EXAMPLE_NO_TABLE
#include "bn_example.c"

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "bn_keras"
#endif
#ifndef PLANT_MIX
#define PLANT_MIX 0
#endif

static int keras_forward_training(const bncheck_problem_t* p, const void* x, const void* gamma, const void* beta,
                                  void* y, void* save_mean, void* save_var, void* running_mean, void* running_var) {
  const conventions_t keras = {PLANT_MIX != 1, PLANT_MIX != 2, PLANT_MIX != 3};
  return training_with(p, keras, x, gamma, beta, y, save_mean, save_var, running_mean, running_var);
}

/* Backward from the saved variance: invstd = 1 / sqrt(var + eps) (bn_example.c). */
static int keras_backward(const bncheck_problem_t* p, const void* x, const void* dy, const void* gamma,
                          const void* save_mean, const void* save_var, void* dx, void* dgamma, void* dbeta) {
  return backward_from(p, x, dy, gamma, save_mean, save_var, 1, dx, dgamma, dbeta);
}

static const bncheck_plugin_t kPlugin = {
    .abi_version = BNCHECK_PLUGIN_ABI_VERSION,
    .name = PLUGIN_NAME,
    .supports = example_supports,
    .forward_training = keras_forward_training,
    .forward_inference = example_forward_inference,
    .backward = keras_backward,
    .last_error = example_last_error,
    .description = "Keras conventions: momentum weighs the old value, biased running variance, variance saved",
    .abi_minor = BNCHECK_PLUGIN_ABI_MINOR,
    .conventions = {.running_var = BNCHECK_RVAR_BIASED,
                    .momentum = BNCHECK_MOMENTUM_OLD,
                    .saved_stat = BNCHECK_SAVE_VARIANCE},
    .numerics = {.accumulation_bits = 53, .compute_bits = 53, .stats_algorithm = BNCHECK_STATS_TWO_PASS},
};

const bncheck_plugin_t* bncheck_get_plugin(void) { return &kPlugin; }
