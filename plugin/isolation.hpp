// Runs a call into untrusted code over buffers that sit between inaccessible guard
// regions and canary bytes, by default in a child process of its own process group.
// The outcome says whether the call returned, crashed (and on which signal), hung, or
// touched memory outside its buffers (and which buffer it overran, by how much).
//
// In both modes: inputs are compared after the call (a write into one is
// OUT-OF-BOUNDS-WRITE), canaries catch small overruns, the floating-point environment
// (rounding mode, MXCSR FTZ/DAZ) is checked (a call that leaves it changed is an
// ERROR, and it is restored), and what the call prints on stdout goes to stderr, so
// that the report stays clean. In-process (--no-isolation) a crash or a far overrun
// takes bncheck down; exit() inside the call ends the run through emergency_finish()
// (harness/interrupt.hpp); a timeout cannot be enforced.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bncheck/backend.hpp"

namespace bncheck {

struct IsolatedBuffer {
  std::string name;
  void* caller;  // the caller's buffer (copied in; outputs copied back); nullptr stays nullptr
  size_t bytes;
  bool output;  // outputs and in-out buffers are writable and copied back
};

struct IsolationOptions {
  bool isolate = true;       // false: call in-process (debugging)
  double timeout_s = 60;     // a call running longer is killed with its process group: TIMEOUT
  bool timeout_set = false;  // --timeout given (refused in-process)
};

// fn receives the buffers' addresses (the guarded copies) in the order given and
// returns the call's return code; on non-zero, error_message() is asked for the
// message. Returns Status with kind ok, error, crash, timeout or oob_write.
Status run_isolated(const IsolationOptions& opt, std::vector<IsolatedBuffer> buffers,
                    const std::function<int(const std::vector<void*>&)>& fn,
                    const std::function<std::string()>& error_message);

// How far past its end a write into an output buffer is caught by a guard region
// rather than the canaries: at least this many bytes, and at least the buffer's size.
size_t trailing_guard_bytes(size_t buffer_bytes);

}  // namespace bncheck
