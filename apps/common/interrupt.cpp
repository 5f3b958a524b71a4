// The stop-signal handler and the flags it shares with the training loop.
#include "apps/common/interrupt.h"

#include <atomic>
#include <csignal>
#include <cstddef>

namespace cyg::app {

namespace {

std::atomic<bool> g_stop_requested{false};
std::atomic<bool> g_writing_checkpoint{false};

// The signals that ask for a clean stop, and the handlers they had before the outermost
// StopOnInterrupt (instances are made and destroyed on the main thread only).
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGUSR1};
constexpr size_t kStopSignalCount = sizeof kStopSignals / sizeof kStopSignals[0];
void (*g_previous[kStopSignalCount])(int) = {};
int g_depth = 0;

void on_interrupt(int signal_number) {
  // Only a repeated Ctrl-C ends the process at once, by SIGINT's default action.
  if (g_stop_requested.exchange(true) && signal_number == SIGINT && !g_writing_checkpoint) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
}

}  // namespace

StopOnInterrupt::StopOnInterrupt() {
  if (g_depth++ > 0) return;
  g_stop_requested = false;
  for (size_t i = 0; i < kStopSignalCount; ++i) g_previous[i] = std::signal(kStopSignals[i], on_interrupt);
}

StopOnInterrupt::~StopOnInterrupt() {
  if (--g_depth > 0) return;
  for (size_t i = 0; i < kStopSignalCount; ++i) std::signal(kStopSignals[i], g_previous[i]);
}

bool StopOnInterrupt::requested() const { return g_stop_requested; }

CheckpointWriteGuard::CheckpointWriteGuard() { g_writing_checkpoint = true; }
CheckpointWriteGuard::~CheckpointWriteGuard() { g_writing_checkpoint = false; }

}  // namespace cyg::app
