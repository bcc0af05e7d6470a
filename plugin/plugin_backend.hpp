// Loads a C plugin (include/bncheck/plugin.h) as a backend.
#pragma once

#include <memory>
#include <string>

#include "bncheck/backend.hpp"
#include "plugin/isolation.hpp"

namespace bncheck {

// nullptr and *error set when the library cannot be loaded, lacks the symbol, has
// another ABI version, or crashes while loading.
std::unique_ptr<Backend> load_plugin(const std::string& path, const IsolationOptions& opt, std::string* error);

}  // namespace bncheck
