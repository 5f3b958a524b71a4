// The stop-signal handler and the flags it shares with the training loop.
#include "apps/common/interrupt.h"

#include <atomic>
#include <csignal>

namespace cyg::app {

namespace {

std::atomic<bool> g_stop_requested{false};
std::atomic<bool> g_writing_checkpoint{false};

// The signals that ask for a clean stop, in the order of StopOnInterrupt::previous_.
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGUSR1};

void on_interrupt(int signal_number) {
  if (g_stop_requested.exchange(true) && !g_writing_checkpoint) {
    // The second one: the signal's own default action (the process ends by it).
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
  }
}

}  // namespace

StopOnInterrupt::StopOnInterrupt() {
  static_assert(sizeof kStopSignals / sizeof kStopSignals[0] == kStopSignalCount);
  g_stop_requested = false;
  for (size_t i = 0; i < kStopSignalCount; ++i) previous_[i] = std::signal(kStopSignals[i], on_interrupt);
}

StopOnInterrupt::~StopOnInterrupt() {
  for (size_t i = 0; i < kStopSignalCount; ++i) std::signal(kStopSignals[i], previous_[i]);
}

bool StopOnInterrupt::requested() const { return g_stop_requested; }

CheckpointWriteGuard::CheckpointWriteGuard() { g_writing_checkpoint = true; }
CheckpointWriteGuard::~CheckpointWriteGuard() { g_writing_checkpoint = false; }

}  // namespace cyg::app
