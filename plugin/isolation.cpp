#include "plugin/isolation.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <cfenv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "api/text.hpp"
#include "harness/interrupt.hpp"

namespace bncheck {

namespace {

constexpr unsigned char kCanary = 0xC3;
constexpr int kFaultExit = 97;  // the child's exit code after a caught memory fault

// What the child reports back, in its own shared page.
struct Report {
  int rc;
  int returned;    // 1 once fn returned
  int fp_changed;  // 1 when the call left the floating-point environment changed
  uintptr_t fault_addr;
  int fault_signal;
  int fault_is_write;  // 1 write, 0 read, -1 unknown
  char message[2048];
};
static_assert(sizeof(Report) <= 4096);

size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }
size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }
// Before each buffer: 64 KiB, room for an underrun by a few rows.
size_t leading_guard() { return std::max<size_t>(page_size(), 64 * 1024); }

// The floating-point environment a call must leave as it found it: the rounding mode
// and, on x86, MXCSR's control bits (FTZ, DAZ, rounding, exception masks; the sticky
// exception flags, bits 0-5, are the call's own business).
struct FpState {
  int round;
#if defined(__x86_64__) || defined(__i386__)
  unsigned mxcsr;
#endif
  std::fenv_t env;
  static FpState now() {
    FpState s;
    s.round = std::fegetround();
#if defined(__x86_64__) || defined(__i386__)
    s.mxcsr = _mm_getcsr() & ~0x3Fu;
#endif
    std::fegetenv(&s.env);
    return s;
  }
  bool same_as(const FpState& o) const {
#if defined(__x86_64__) || defined(__i386__)
    if (mxcsr != o.mxcsr) return false;
#endif
    return round == o.round;
  }
  void restore() const {
    std::fesetenv(&env);
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr((_mm_getcsr() & 0x3Fu) | mxcsr);
#endif
  }
};

// One reservation, PROT_NONE: [report page] then per present buffer
// [leading guard][data area][trailing guard]. The data areas (and the report page)
// are shared mappings placed into it, so a child's writes reach the parent; the guards
// stay unmapped holes. A buffer ends within 64 bytes of its trailing guard: the slack
// on both sides holds canaries.
struct Arena {
  struct Slot {
    size_t lead, data_off, bytes, area, trail;
    bool present;
  };
  std::vector<Slot> slots;
  unsigned char* base = nullptr;
  size_t total = 0;
  ~Arena() {
    if (base) munmap(base, total);
  }
};

}  // namespace

size_t trailing_guard_bytes(size_t buffer_bytes) {
  return std::max<size_t>(1u << 20, round_up(buffer_bytes, page_size()));
}

namespace {

Status build_arena(const std::vector<IsolatedBuffer>& bufs, Arena* A) {
  const size_t pg = page_size(), lead = leading_guard();
  size_t off = pg;  // report page
  for (const auto& b : bufs) {
    Arena::Slot s{};
    s.present = b.caller != nullptr;
    if (s.present) {
      s.bytes = b.bytes;
      s.area = round_up(std::max<size_t>(b.bytes + 64, 64), pg);
      s.lead = off;
      s.data_off = off + lead + ((s.area - b.bytes) & ~size_t{63});
      s.trail = off + lead + s.area;
      off = s.trail + trailing_guard_bytes(b.bytes);
    }
    A->slots.push_back(s);
  }
  A->total = off;
  void* r = mmap(nullptr, A->total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED)
    return Status::error(std::string("isolation: cannot reserve the guarded buffers: ") + strerror(errno));
  A->base = static_cast<unsigned char*>(r);
  auto place = [&](size_t at, size_t bytes) {
    return mmap(A->base + at, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
           MAP_FAILED;
  };
  if (!place(0, pg)) return Status::error(std::string("isolation: mmap failed: ") + strerror(errno));
  for (size_t i = 0; i < bufs.size(); ++i) {
    const auto& s = A->slots[i];
    if (!s.present) continue;
    if (!place(s.lead + lead, s.area)) return Status::error(std::string("isolation: mmap failed: ") + strerror(errno));
    std::memset(A->base + s.lead + lead, kCanary, s.area);
    if (s.bytes) std::memcpy(A->base + s.data_off, bufs[i].caller, s.bytes);
  }
  return Status::success();
}

// "byte offset K" relative to a buffer's start, saying how far outside it K lies.
std::string position(long long off, size_t bytes) {
  std::string s = "byte offset " + std::to_string(off);
  const long long n = static_cast<long long>(bytes);
  if (off < 0)
    s += ", " + std::to_string(-off) + " bytes before the start";
  else if (off >= n)
    s += ", " + std::to_string(off - n + 1) + " bytes past the end";
  return s + " (buffer of " + std::to_string(bytes) + " bytes)";
}

// Which buffer an address belongs to. A leading guard belongs to the buffer after it
// (an underrun); the trailing guard, the larger one, to the buffer before it (an
// overrun: the common case). Returns -1 outside every buffer's region.
int locate(const Arena& A, const std::vector<IsolatedBuffer>& bufs, uintptr_t a, std::string* where) {
  const uintptr_t b0 = reinterpret_cast<uintptr_t>(A.base);
  for (size_t i = 0; i < bufs.size(); ++i) {
    const auto& s = A.slots[i];
    if (!s.present) continue;
    const uintptr_t lo = b0 + s.lead, hi = b0 + s.trail + trailing_guard_bytes(s.bytes);
    if (a < lo || a >= hi) continue;
    const uintptr_t d0 = b0 + s.data_off;
    const long long off = static_cast<long long>(a) - static_cast<long long>(d0);
    *where = bufs[i].name + " at " + position(off, s.bytes);
    return static_cast<int>(i);
  }
  return -1;
}

Report* g_report = nullptr;

void fault_handler(int sig, siginfo_t* info, void* uctx) {
  if (g_report) {
    g_report->fault_signal = sig;
    g_report->fault_addr = reinterpret_cast<uintptr_t>(info->si_addr);
    g_report->fault_is_write = -1;
#if defined(__x86_64__)
    const auto* uc = static_cast<const ucontext_t*>(uctx);
    g_report->fault_is_write = (uc->uc_mcontext.gregs[REG_ERR] & 2) ? 1 : 0;
#else
    (void)uctx;
#endif
  }
  _exit(kFaultExit);
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return std::string("SIG") + (abbrev ? abbrev : std::to_string(sig)) + " (" + strsignal(sig) + ")";
}

// exit() during an in-process call: the run ends through the command's finisher.
volatile sig_atomic_t g_in_process_call = 0;
void exit_during_call() {
  if (!g_in_process_call) return;
  g_in_process_call = 0;
  std::fflush(stdout);
  std::fprintf(stderr,
               "bncheck: the plugin called exit() during an in-process call (--no-isolation): the run ends here\n");
  emergency_finish("the plugin called exit() during an in-process call (--no-isolation)");
  std::fflush(nullptr);
  _exit(1);
}

// Runs fn with stdout sent to stderr and the floating-point environment checked.
int guarded_call(const std::function<int(const std::vector<void*>&)>& fn, const std::vector<void*>& ptrs,
                 bool* fp_changed) {
  std::fflush(stdout);
  const int saved_stdout = dup(STDOUT_FILENO);
  dup2(STDERR_FILENO, STDOUT_FILENO);
  const FpState before = FpState::now();
  const int rc = fn(ptrs);
  *fp_changed = !FpState::now().same_as(before);
  if (*fp_changed) before.restore();
  std::fflush(stdout);
  if (saved_stdout >= 0) {
    dup2(saved_stdout, STDOUT_FILENO);
    close(saved_stdout);
  }
  return rc;
}

// After the call: inputs unchanged, canaries intact; then outputs are copied back.
Status check_and_copy_back(const Arena& A, const std::vector<IsolatedBuffer>& bufs) {
  const size_t lead = leading_guard();
  for (size_t i = 0; i < bufs.size(); ++i) {
    const auto& s = A.slots[i];
    if (!s.present || bufs[i].output || !s.bytes) continue;
    const unsigned char* got = A.base + s.data_off;
    const auto* want = static_cast<const unsigned char*>(bufs[i].caller);
    if (std::memcmp(got, want, s.bytes) != 0) {
      size_t k = 0;
      while (got[k] == want[k]) ++k;
      return Status::make(Status::Kind::oob_write, "write into the read-only input " + bufs[i].name +
                                                       " at byte offset " + std::to_string(k) + " (buffer of " +
                                                       std::to_string(s.bytes) + " bytes)");
    }
  }
  // Canaries: writes past the end (or before the start) that stayed inside the slack.
  for (size_t i = 0; i < bufs.size(); ++i) {
    const auto& s = A.slots[i];
    if (!s.present) continue;
    const unsigned char* area = A.base + s.lead + lead;
    const size_t start = s.data_off - (s.lead + lead), end = start + s.bytes;
    for (size_t k = 0; k < s.area; ++k) {
      if ((k >= start && k < end) || area[k] == kCanary) continue;
      const long long off = static_cast<long long>(k) - static_cast<long long>(start);
      return Status::make(Status::Kind::oob_write,
                          "write out of bounds: " + bufs[i].name + " at " + position(off, s.bytes));
    }
  }
  for (size_t i = 0; i < bufs.size(); ++i)
    if (bufs[i].output && A.slots[i].present && A.slots[i].bytes)
      std::memcpy(bufs[i].caller, A.base + A.slots[i].data_off, A.slots[i].bytes);
  return Status::success();
}

Status returned(int rc, bool fp_changed, const std::string& message) {
  if (fp_changed)
    return Status::error(
        "the call left the floating-point environment changed (rounding mode or MXCSR FTZ/DAZ); "
        "bncheck restored it");
  if (rc == 0) return Status::success();
  return Status::error("returned " + std::to_string(rc) + (message.empty() ? "" : ": " + printable(message)));
}

Status run_in_process(Arena& A, const std::vector<IsolatedBuffer>& bufs, const std::vector<void*>& ptrs,
                      const std::function<int(const std::vector<void*>&)>& fn,
                      const std::function<std::string()>& error_message) {
  static const bool registered = std::atexit(exit_during_call) == 0;
  (void)registered;
  g_in_process_call = 1;
  bool fp_changed = false;
  const int rc = guarded_call(fn, ptrs, &fp_changed);
  g_in_process_call = 0;
  Status st = check_and_copy_back(A, bufs);
  if (!st.ok()) return st;
  return returned(rc, fp_changed, rc ? error_message() : std::string());
}

}  // namespace

Status run_isolated(const IsolationOptions& opt, std::vector<IsolatedBuffer> bufs,
                    const std::function<int(const std::vector<void*>&)>& fn,
                    const std::function<std::string()>& error_message) {
  Arena A;
  if (Status st = build_arena(bufs, &A); !st.ok()) return st;
  const size_t lead = leading_guard();
  std::vector<void*> ptrs;
  for (const auto& s : A.slots) ptrs.push_back(s.present ? A.base + s.data_off : nullptr);
  if (!opt.isolate) return run_in_process(A, bufs, ptrs, fn, error_message);

  auto* report = reinterpret_cast<Report*>(A.base);
  std::memset(report, 0, sizeof(Report));
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return Status::error(std::string("isolation: fork failed: ") + strerror(errno));
  if (pid == 0) {
    // Child: its own process group (killed as one), inputs read-only, memory faults
    // reported, then the call.
    setpgid(0, 0);
    for (size_t i = 0; i < bufs.size(); ++i)
      if (A.slots[i].present && !bufs[i].output) mprotect(A.base + A.slots[i].lead + lead, A.slots[i].area, PROT_READ);
    g_report = report;
    static char altstack[64 * 1024];
    stack_t ss{};
    ss.ss_sp = altstack;
    ss.ss_size = sizeof altstack;
    sigaltstack(&ss, nullptr);
    struct sigaction sa {};
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, nullptr);
    sigaction(SIGBUS, &sa, nullptr);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    // A plugin that calls exit() ends the child at once, with its status: the exit
    // handlers the parent registered before the fork (LibTorch's, the sanitizers' leak
    // check, stdio flushing) must not run on the child's copy of its state. on_exit
    // handlers run last-registered first, so this one runs before any of them.
    on_exit([](int status, void*) { _exit(status); }, nullptr);
    bool fp_changed = false;
    const int rc = guarded_call(fn, ptrs, &fp_changed);
    report->rc = rc;
    report->fp_changed = fp_changed;
    report->returned = 1;
    if (rc != 0) {
      const std::string m = error_message();
      std::strncpy(report->message, m.c_str(), sizeof(report->message) - 1);
    }
    _exit(0);
  }
  setpgid(pid, pid);  // also in the parent: no window in which a signal misses the group
  set_isolated_child(pid);
  struct Reap {
    pid_t pid;
    ~Reap() {  // whatever happened, nothing of the call outlives it: grandchildren included
      kill(-pid, SIGKILL);
      set_isolated_child(0);
    }
  } reap{pid};

  // Parent: wait, with a deadline.
  int wstatus = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(opt.timeout_s);
  auto nap = std::chrono::microseconds(50);
  while (true) {
    const pid_t r = waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return Status::error(std::string("isolation: waitpid: ") + strerror(errno));
    const bool late = std::chrono::steady_clock::now() > deadline;
    if (late || interrupted()) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &wstatus, 0);
      if (!late) return Status::make(Status::Kind::crash, "interrupted by signal " + std::to_string(interrupted()));
      char b[64];
      std::snprintf(b, sizeof b, "%g", opt.timeout_s);
      return Status::make(Status::Kind::timeout, std::string("did not return within ") + b + " s (--timeout); killed");
    }
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, std::chrono::microseconds(10000));
  }

  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == kFaultExit && report->fault_signal) {
    std::string where;
    const int i = locate(A, bufs, report->fault_addr, &where);
    const char* rw = report->fault_is_write == 1 ? "write" : report->fault_is_write == 0 ? "read" : "access";
    if (i >= 0 && report->fault_is_write == 1 && !bufs[static_cast<size_t>(i)].output)
      return Status::make(Status::Kind::oob_write, "write into the read-only input " + where);
    if (i >= 0)
      return Status::make(report->fault_is_write == 0 ? Status::Kind::crash : Status::Kind::oob_write,
                          std::string(rw) + " out of bounds: " + where + ", " + signal_name(report->fault_signal));
    char b[32];
    std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(report->fault_addr));
    return Status::make(Status::Kind::crash, signal_name(report->fault_signal) + " on a " + rw + " at " + b);
  }
  if (WIFSIGNALED(wstatus)) return Status::make(Status::Kind::crash, "killed by " + signal_name(WTERMSIG(wstatus)));
  if (!WIFEXITED(wstatus) || !report->returned)
    return Status::make(Status::Kind::crash, "exited with status " + std::to_string(WEXITSTATUS(wstatus)) +
                                                 " without returning (exit() or _exit() called)");
  Status st = check_and_copy_back(A, bufs);
  if (!st.ok()) return st;
  report->message[sizeof(report->message) - 1] = 0;
  return returned(report->rc, report->fp_changed != 0, report->message);
}

}  // namespace bncheck
