// The SIGINT handler and the flags it shares with the training loop.
#include "apps/common/interrupt.h"

#include <atomic>
#include <csignal>

namespace cyg::app {

namespace {

std::atomic<bool> g_stop_requested{false};
std::atomic<bool> g_writing_checkpoint{false};

void on_interrupt(int) {
  if (g_stop_requested.exchange(true) && !g_writing_checkpoint) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
}

}  // namespace

StopOnInterrupt::StopOnInterrupt() {
  g_stop_requested = false;
  previous_ = std::signal(SIGINT, on_interrupt);
  previous_usr1_ = std::signal(SIGUSR1, on_interrupt);
}

StopOnInterrupt::~StopOnInterrupt() {
  std::signal(SIGINT, previous_);
  std::signal(SIGUSR1, previous_usr1_);
}

bool StopOnInterrupt::requested() const { return g_stop_requested; }

CheckpointWriteGuard::CheckpointWriteGuard() { g_writing_checkpoint = true; }
CheckpointWriteGuard::~CheckpointWriteGuard() { g_writing_checkpoint = false; }

}  // namespace cyg::app
