// The entry point of a backend built as a module: a shared object that bncheck loads
// the first time the backend is used (harness/module_backend.cpp), so that a command
// which does not use the backend does not load its libraries. One plain C symbol that
// returns a new backend (never unloaded, so its code outlives every call).
#pragma once

#include <memory>

#include "bncheck/backend.hpp"

#define BNCHECK_BACKEND_MODULE(entry, factory)                                                 \
  extern "C" __attribute__((visibility("default"))) ::bncheck::Backend* entry();  /* NOLINT */ \
  extern "C" __attribute__((visibility("default"))) ::bncheck::Backend* entry() { /* NOLINT */ \
    return factory().release();                                                                \
  }
