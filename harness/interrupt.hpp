// SIGINT and SIGTERM end a run cleanly: the signal kills the plugin call in flight
// (its whole process group), the command stops before its next case, writes what it
// has (a JSON marked incomplete, the summary) and exits 128 + the signal (130, 143).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

namespace bncheck {

// Installs the handlers (once). A second signal of either kind ends bncheck at once.
void install_interrupt_handlers();
// The signal that interrupted the run, 0 when none.
int interrupted();
// The process group of the plugin call in flight (0: none), killed on a signal.
void set_isolated_child(pid_t pgid);

// What a command writes when the run must end where it stands (a plugin called exit()
// during an in-process call): its results so far, marked incomplete, and the summary.
void set_emergency_finish(std::function<void(const std::string& why)> finish);
void emergency_finish(const std::string& why);

}  // namespace bncheck
