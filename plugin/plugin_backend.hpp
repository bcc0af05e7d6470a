// Loads a C plugin (include/bncheck/plugin.h) as a backend.
#pragma once

#include <memory>
#include <string>

#include "api/result.hpp"
#include "bncheck/backend.hpp"
#include "plugin/isolation.hpp"

namespace bncheck {

// The plugin as a backend, or why not: the library cannot be loaded, lacks the symbol,
// has another ABI version or a malformed table, or crashes while loading.
Result<std::unique_ptr<Backend>> load_plugin(const std::string& path, const IsolationOptions& opt);

}  // namespace bncheck
