/*
 * Misbehaving plugins for the isolation tests: the example plugin with one planted
 * misbehaviour, chosen at compile time by MISBEHAVE (see tests/CMakeLists.txt).
 * Each targets forward training; the other entry points stay correct.
 */
#define BNCHECK_EXAMPLE_NO_TABLE
#include "../../examples/plugin/bn_example.c"

#include <fenv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xmmintrin.h>

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
#define OOB_100K 13   /* a write 100,000 bytes past the end of y */
#define ROUND_UP 14   /* leaves the rounding mode at FE_UPWARD */
#define FTZ_DAZ 15    /* leaves MXCSR's FTZ and DAZ set */
#define EXIT_ZERO 16  /* exit(0) */
#define FORK_PAUSE 17 /* forks a child that waits forever, then returns */
#define FORK_HANG 18  /* forks a child that waits forever, then hangs */
#define STDOUT_ 19    /* prints on stdout */
#define BAD_BYTES 20  /* fails with a message of invalid UTF-8 and terminal escapes */
#define OK 21         /* behaves; only its name is hostile (HOSTILE_NAME) */
#define PERTURB 22    /* y off by BNCHECK_PLANT_SCALE x 2^-24 */

#define NAME_INJECT 1
#define NAME_TRAVERSAL 2
#define NAME_EMPTY 3
#define NAME_CONTROL 4
#if defined(HOSTILE_NAME)
#if HOSTILE_NAME == NAME_INJECT
#define PLUGIN_NAME "x;touch /tmp/PWNED;#"
#elif HOSTILE_NAME == NAME_TRAVERSAL
#define PLUGIN_NAME "../../../ESCAPED_DIR"
#elif HOSTILE_NAME == NAME_EMPTY
#define PLUGIN_NAME ""
#else
#define PLUGIN_NAME "bad\x1b[31mname"
#endif
#endif

static int misbehave_forward_training(const bncheck_problem_t* p, const void* x, const void* gamma, const void* beta,
                                      void* y, void* save_mean, void* save_invstd, void* running_mean,
                                      void* running_var) {
  const int64_t E = p->n * p->c * spatial_size(p);
  const size_t b = p->dtype == BNCHECK_F64 ? 8 : 4;
  int rc = example_forward_training(p, x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var);
  switch (MISBEHAVE) {
    case CRASH: {
      volatile int* null = NULL;
      *null = 1;
      break;
    }
    case ABORT_: abort();
    case HANG:
      for (volatile int spin = 1; spin;) {}
      break;
    case OOB_NEAR: ((unsigned char*)y)[E * b + 5] = 0; break;   /* inside the canary slack */
    case OOB_FAR: ((unsigned char*)y)[E * b + 8192] = 0; break; /* onto the guard page */
    case UNDERRUN: ((unsigned char*)y)[-1] = 0; break;
    case NANS:
      for (int64_t i = 0; i < E; ++i) put(y, p->dtype, i, NAN);
      break;
    case ERROR_: g_error = "planted failure: out of cheese"; return 7;
    case INPUT_WRITE: ((unsigned char*)x)[0] ^= 1; break;
    case EXIT_: exit(3);
    case OOB_100K: ((unsigned char*)y)[E * b + 100000] = 0; break;
    case ROUND_UP: fesetround(FE_UPWARD); break;
    case FTZ_DAZ: _mm_setcsr(_mm_getcsr() | 0x8040); break;
    case EXIT_ZERO: exit(0);
    case FORK_PAUSE:
      if (fork() == 0) {
        for (;;) pause();
      }
      break;
    case FORK_HANG:
      if (fork() == 0) {
        for (;;) pause();
      }
      for (;;) pause();
      break;
    case STDOUT_:
      printf("PLUGIN-STDOUT-NOISE\n");
      fflush(stdout);
      break;
    case BAD_BYTES: g_error = "bad \xff\xfe bytes \x1b[2J\x1b]0;pwned\x07 end"; return 9;
    case PERTURB: {
      const char* s = getenv("BNCHECK_PLANT_SCALE");
      const double k = (s ? atof(s) : 1.0) * ldexp(1.0, -24);
      for (int64_t i = 0; i < E; ++i) {
        const double f = 1 + (i % 2 ? -k : k);
        if (p->dtype == BNCHECK_F64)
          ((double*)y)[i] *= f;
        else
          ((float*)y)[i] = (float)(((float*)y)[i] * f);
      }
      break;
    }
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
    .abi_version = BNCHECK_PLUGIN_ABI_VERSION,
    .name = PLUGIN_NAME,
    .supports = example_supports,
    .forward_training = MISBEHAVE == UNWRITTEN ? unwritten_forward_training : misbehave_forward_training,
    .forward_inference = example_forward_inference,
    .backward = example_backward,
    .last_error = example_last_error,
    .description = "misbehaving test plugin",
    .abi_minor = BNCHECK_PLUGIN_ABI_MINOR,
};

const bncheck_plugin_t* bncheck_get_plugin(void) { return &kPlugin; }
