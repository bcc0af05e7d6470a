// A backend in a module (common/backend_module.hpp): known by name from the start,
// loaded with its libraries the first time anything else is asked of it. When the
// module cannot be loaded the backend is unavailable, with dlopen's reason.
#pragma once

#include <memory>
#include <string>

#include "bncheck/backend.hpp"

namespace bncheck {

// file: the module's file name (looked for in $BNCHECK_MODULE_DIR, then beside the
// running program and in its ../lib/bncheck, then in the build and install folders);
// entry: its entry point.
std::unique_ptr<Backend> make_module_backend(std::string name, std::string file, std::string entry);

}  // namespace bncheck
