// Clean stops on Ctrl-C: while a StopOnInterrupt lives, the first Ctrl-C asks the loop
// to stop after the step in progress; a second ends the process at once, unless a
// checkpoint is being written (a half-written pair could not be resumed). SIGTERM and
// SIGUSR1 are a Ctrl-C too: SIGTERM is what kill, docker stop and Slurm (at a job's time
// limit, or scancel) send first; mpirun forwards SIGUSR1 to every rank (a Ctrl-C on
// mpirun ends the job at once), and Slurm sends it ahead of the time limit with
// --signal=USR1@SECONDS. A run stopped by any of them exits with kInterruptedExit.
#pragma once
#include <cstddef>

namespace cyg::app {

// The exit code of a run stopped cleanly, by whichever signal (128 + SIGINT, as a shell
// reports a Ctrl-C): the run can be resumed.
constexpr int kInterruptedExit = 130;

class StopOnInterrupt {
 public:
  StopOnInterrupt();   // clears any earlier request and installs the handler
  ~StopOnInterrupt();  // puts the previous handler back
  StopOnInterrupt(const StopOnInterrupt&) = delete;
  StopOnInterrupt& operator=(const StopOnInterrupt&) = delete;

  bool requested() const;

 private:
  static constexpr size_t kStopSignalCount = 3;  // SIGINT, SIGTERM, SIGUSR1
  void (*previous_[kStopSignalCount])(int);
};

// Holds off the immediate exit of a second Ctrl-C while it lives.
class CheckpointWriteGuard {
 public:
  CheckpointWriteGuard();
  ~CheckpointWriteGuard();
  CheckpointWriteGuard(const CheckpointWriteGuard&) = delete;
  CheckpointWriteGuard& operator=(const CheckpointWriteGuard&) = delete;
};

}  // namespace cyg::app
