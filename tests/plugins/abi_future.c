/*
 * The example plugin under a table of a later minor version of ABI 2: fields appended
 * past those include/bncheck/plugin.h names (bncheck must load it and ignore them), or,
 * with -DBAD_DECLARATION, a convention value no version defines (bncheck must refuse it
 * at load, naming the field), or, with -DMINOR_ZERO, a table of minor 0 whose bytes past
 * minor 0's fields are garbage (bncheck must not read them: minor 0 has no split
 * statistics).
 */
#define BNCHECK_EXAMPLE_NO_TABLE
#include "../../examples/plugin/bn_example.c"

struct future_table {
  bncheck_plugin_t v2;
  /* A later minor's fields. */
  int64_t reserved[8];
  const char* (*future_function)(void);
};

static const char* future(void) { return "a later minor's function"; }

static const struct future_table kTable = {
    .v2 =
        {
            .abi_version = BNCHECK_PLUGIN_ABI_VERSION,
            .name = PLUGIN_NAME,
            .supports = example_supports,
            .forward_training = example_forward_training,
            .forward_inference = example_forward_inference,
            .backward = example_backward,
            .last_error = example_last_error,
#ifdef MINOR_ZERO
            .description = "example plugin, table of ABI 2 minor 0",
            .abi_minor = 0,
            .split_kind = 77, /* not minor 0's: never read */
            .local_stats = (int (*)(const bncheck_problem_t*, const void*, double*))1,
#else
            .description = "example plugin, table of ABI 2 minor 9",
            .abi_minor = 9,
#endif
#ifdef BAD_DECLARATION
            .conventions = {.momentum = 7},
#endif
        },
    .reserved = {1, 2, 3, 4, 5, 6, 7, 8},
    .future_function = future,
};

const bncheck_plugin_t* bncheck_get_plugin(void) { return &kTable.v2; }
