// Runs a call into untrusted code in a child process, over buffers in shared memory
// that sit between inaccessible guard pages and canary bytes. Inputs are read-only in
// the child. The outcome says whether the call returned, crashed (and on which
// signal), hung, or touched memory outside its buffers (and where).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bncheck/backend.hpp"

namespace bncheck {

struct IsolatedBuffer {
  std::string name;
  void* caller;          // the caller's buffer (copied in; outputs copied back)
  size_t bytes;
  bool output;           // outputs and in-out buffers are writable and copied back
};


struct IsolationOptions {
  bool isolate = true;       // false: call in-process (debugging)
  double timeout_s = 60;     // a call running longer is killed: TIMEOUT
};

// fn receives the buffers' addresses (in the child: the shared copies) in the order
// given and returns the call's return code; on non-zero, error_message() is asked for
// the message. Returns Status with kind ok, error, crash, timeout or oob_write.
Status run_isolated(const IsolationOptions& opt, std::vector<IsolatedBuffer> buffers,
                    const std::function<int(const std::vector<void*>&)>& fn,
                    const std::function<std::string()>& error_message);

}  // namespace bncheck
