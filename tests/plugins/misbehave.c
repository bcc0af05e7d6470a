/*
 * Misbehaving plugins for the isolation tests: the example plugin with one planted
 * misbehaviour, chosen at compile time by MISBEHAVE (see tests/CMakeLists.txt).
 * Each targets forward training; the other entry points stay correct.
 */
#define BNCHECK_EXAMPLE_NO_TABLE
#include "../../examples/plugin/bn_example.c"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define CRASH 1
#define ABORT_ 2
#define HANG 3
#define OOB_NEAR 4
#define OOB_FAR 5
#define UNWRITTEN 6
#define NANS 7
#define ERROR_ 8
#define INPUT_WRITE 9
#define EXIT_ 10
#define LOAD_CRASH 11
#define UNDERRUN 12

static int misbehave_forward_training(const bncheck_problem_t* p, const void* x, const void* gamma, const void* beta,
                                      void* y, void* save_mean, void* save_invstd, void* running_mean,
                                      void* running_var) {
  const int64_t E = p->n * p->c * spatial_size(p);
  const size_t b = p->dtype == BNCHECK_F64 ? 8 : 4;
  int rc = example_forward_training(p, x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var);
  switch (MISBEHAVE) {
    case CRASH: { volatile int* null = NULL; *null = 1; break; }
    case ABORT_: abort();
    case HANG: for (volatile int spin = 1; spin;) {} break;
    case OOB_NEAR: ((unsigned char*)y)[E * b + 5] = 0; break;                 /* inside the canary slack */
    case OOB_FAR: ((unsigned char*)y)[E * b + 8192] = 0; break;               /* onto the guard page */
    case UNDERRUN: ((unsigned char*)y)[-1] = 0; break;
    case NANS: for (int64_t i = 0; i < E; ++i) put(y, p->dtype, i, NAN); break;
    case ERROR_: g_error = "planted failure: out of cheese"; return 7;
    case INPUT_WRITE: ((unsigned char*)x)[0] ^= 1; break;
    case EXIT_: exit(3);
  }
  return rc;
}

#if MISBEHAVE == LOAD_CRASH
__attribute__((constructor)) static void crash_on_load(void) { raise(SIGSEGV); }
#endif

/* UNWRITTEN: a forward that writes statistics but no y. */
static int unwritten_forward_training(const bncheck_problem_t* p, const void* x, const void* gamma, const void* beta,
                                      void* y, void* save_mean, void* save_invstd, void* running_mean,
                                      void* running_var) {
  (void)y;
  static double scratch[1 << 16];
  if (p->n * p->c * spatial_size(p) > (1 << 16)) return 1;
  return example_forward_training(p, x, gamma, beta, scratch, save_mean, save_invstd, running_mean, running_var);
}

static const bncheck_plugin_t kPlugin = {
    BNCHECK_PLUGIN_ABI_VERSION, PLUGIN_NAME, example_supports,
    MISBEHAVE == UNWRITTEN ? unwritten_forward_training : misbehave_forward_training,
    example_forward_inference, example_backward, example_last_error, "misbehaving test plugin"};

const bncheck_plugin_t* bncheck_get_plugin(void) { return &kPlugin; }
