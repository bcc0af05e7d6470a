#include "harness/isolation.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

namespace bncheck {

namespace {

constexpr unsigned char kCanary = 0xC3;
constexpr int kFaultExit = 97;   // the child's exit code after a caught memory fault

// What the child reports back, in its own shared page.
struct Report {
  int rc;
  int returned;          // 1 once fn returned
  uintptr_t fault_addr;
  int fault_signal;
  int fault_is_write;    // 1 write, 0 read, -1 unknown
  char message[2048];
};

size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }
// Inaccessible guard regions on both sides of each buffer: 64 KiB, so that an overrun
// by a few rows still lands in the guard of the buffer it overran.
size_t guard_size() { return std::max<size_t>(page_size(), 64 * 1024); }
size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

// One mapping: [report page] then, per buffer, [guard][data pages][guard]. The buffer
// ends within 64 bytes of its trailing guard page; the slack on both sides holds canaries.
struct ArenaLayout {
  struct Slot { size_t region, data_off, bytes, area; };
  std::vector<Slot> slots;
  size_t total = 0;
};

ArenaLayout plan(const std::vector<IsolatedBuffer>& bufs) {
  const size_t pg = page_size(), gd = guard_size();
  ArenaLayout L;
  size_t off = pg;   // report page
  for (const auto& b : bufs) {
    ArenaLayout::Slot s;
    s.bytes = b.bytes;
    s.area = round_up(std::max<size_t>(b.bytes + 64, 64), pg);
    s.region = off;
    s.data_off = off + gd + ((s.area - b.bytes) & ~size_t{63});
    L.slots.push_back(s);
    off += gd + s.area + gd;
  }
  L.total = off;
  return L;
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

}  // namespace

Status run_isolated(const IsolationOptions& opt, std::vector<IsolatedBuffer> bufs,
                    const std::function<int(const std::vector<void*>&)>& fn,
                    const std::function<std::string()>& error_message) {
  if (!opt.isolate) {
    std::vector<void*> ptrs;
    for (auto& b : bufs) ptrs.push_back(b.caller);
    const int rc = fn(ptrs);
    if (rc == 0) return Status::success();
    std::string m = error_message();
    return Status::error("returned " + std::to_string(rc) + (m.empty() ? "" : ": " + m));
  }

  const size_t gd = guard_size();
  const ArenaLayout L = plan(bufs);
  void* base_v = mmap(nullptr, L.total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (base_v == MAP_FAILED) return Status::error(std::string("isolation: mmap failed: ") + strerror(errno));
  auto* base = static_cast<unsigned char*>(base_v);
  struct Unmap { void* p; size_t n; ~Unmap() { munmap(p, n); } } unmap{base_v, L.total};
  auto* report = reinterpret_cast<Report*>(base);
  std::memset(report, 0, sizeof(Report));
  std::vector<void*> ptrs;
  for (size_t i = 0; i < bufs.size(); ++i) {
    const auto& s = L.slots[i];
    std::memset(base + s.region + gd, kCanary, s.area);
    if (bufs[i].caller && s.bytes) std::memcpy(base + s.data_off, bufs[i].caller, s.bytes);
    ptrs.push_back(bufs[i].caller ? base + s.data_off : nullptr);
    mprotect(base + s.region, gd, PROT_NONE);
    mprotect(base + s.region + gd + s.area, gd, PROT_NONE);
  }

  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return Status::error(std::string("isolation: fork failed: ") + strerror(errno));
  if (pid == 0) {
    // Child: inputs read-only, memory faults reported, then the call.
    for (size_t i = 0; i < bufs.size(); ++i)
      if (!bufs[i].output) mprotect(base + L.slots[i].region + gd, L.slots[i].area, PROT_READ);
    g_report = report;
    static char altstack[64 * 1024];
    stack_t ss{};
    ss.ss_sp = altstack;
    ss.ss_size = sizeof altstack;
    sigaltstack(&ss, nullptr);
    struct sigaction sa{};
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, nullptr);
    sigaction(SIGBUS, &sa, nullptr);
    const int rc = fn(ptrs);
    report->rc = rc;
    report->returned = 1;
    if (rc != 0) {
      const std::string m = error_message();
      std::strncpy(report->message, m.c_str(), sizeof(report->message) - 1);
    }
    _exit(0);
  }

  // Parent: wait, with a deadline.
  int wstatus = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(opt.timeout_s);
  auto nap = std::chrono::microseconds(50);
  while (true) {
    const pid_t r = waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return Status::error(std::string("isolation: waitpid: ") + strerror(errno));
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &wstatus, 0);
      char b[64];
      std::snprintf(b, sizeof b, "%g", opt.timeout_s);
      return Status::make(Status::Kind::timeout, std::string("did not return within ") + b + " s (--timeout); killed");
    }
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, std::chrono::microseconds(10000));
  }

  // Which buffer does an address belong to (including its guards)?
  auto locate = [&](uintptr_t a, std::string* where) {
    const uintptr_t b0 = reinterpret_cast<uintptr_t>(base);
    for (size_t i = 0; i < bufs.size(); ++i) {
      const auto& s = L.slots[i];
      const uintptr_t lo = b0 + s.region, hi = lo + gd + s.area + gd;
      if (a >= lo && a < hi) {
        const long long off = static_cast<long long>(a) - static_cast<long long>(b0 + s.data_off);
        *where = bufs[i].name + " at byte offset " + std::to_string(off) + " (buffer of " + std::to_string(s.bytes) +
                 " bytes)";
        return static_cast<int>(i);
      }
    }
    return -1;
  };

  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == kFaultExit && report->fault_signal) {
    std::string where;
    const int i = locate(report->fault_addr, &where);
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
  // Canaries: writes past the end (or before the start) that stayed inside the slack.
  for (size_t i = 0; i < bufs.size(); ++i) {
    const auto& s = L.slots[i];
    const unsigned char* area = base + s.region + gd;
    const size_t start = s.data_off - (s.region + gd), end = start + s.bytes;
    for (size_t k = 0; k < s.area; ++k) {
      if (k >= start && k < end) continue;
      if (area[k] != kCanary) {
        const long long off = static_cast<long long>(k) - static_cast<long long>(start);
        return Status::make(Status::Kind::oob_write, "write out of bounds: " + bufs[i].name + " at byte offset " +
                                                         std::to_string(off) + " (buffer of " +
                                                         std::to_string(s.bytes) + " bytes)");
      }
    }
  }
  for (size_t i = 0; i < bufs.size(); ++i)
    if (bufs[i].output && bufs[i].caller && L.slots[i].bytes)
      std::memcpy(bufs[i].caller, base + L.slots[i].data_off, L.slots[i].bytes);
  if (report->rc != 0)
    return Status::error("returned " + std::to_string(report->rc) + (report->message[0] ? std::string(": ") + report->message : ""));
  return Status::success();
}

}  // namespace bncheck
