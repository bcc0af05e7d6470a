#include "harness/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace bncheck {

namespace {

volatile sig_atomic_t g_signal = 0;
volatile sig_atomic_t g_child = 0;

void on_signal(int sig) {
  if (g_signal) _exit(128 + sig);  // a second signal: the user means it
  g_signal = sig;
  const pid_t child = static_cast<pid_t>(g_child);
  if (child > 0) kill(-child, SIGKILL);
}

}  // namespace

void install_interrupt_handlers() {
  static std::atomic<bool> done{false};
  if (done.exchange(true)) return;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int interrupted() { return static_cast<int>(g_signal); }

void set_isolated_child(pid_t pgid) { g_child = static_cast<sig_atomic_t>(pgid); }

namespace {
std::function<void(const std::string&)>& finisher() {
  static std::function<void(const std::string&)> f;
  return f;
}
}  // namespace

void set_emergency_finish(std::function<void(const std::string& why)> finish) { finisher() = std::move(finish); }
void emergency_finish(const std::string& why) {
  if (auto f = std::move(finisher())) f(why);
}

}  // namespace bncheck
