// Clean stops on a signal: while a StopOnInterrupt lives, the first SIGINT (Ctrl-C),
// SIGTERM or SIGUSR1 asks the loop to stop after the step in progress, with a
// checkpoint. SIGTERM is what kill, docker stop and Slurm (at a job's time limit, or
// scancel) send; mpirun forwards SIGUSR1 to every rank (a Ctrl-C on mpirun ends the job
// at once), and Slurm sends it ahead of a time limit with --signal=USR1@SECONDS. A run so
// stopped exits with kInterruptedExit.
//
// A second Ctrl-C ends the process at once, unless a checkpoint is being written (a
// half-written pair could not be resumed): that is someone at the keyboard who does not
// want to wait. A repeated SIGTERM or SIGUSR1 does not: launchers deliver them twice
// (Slurm signals every process of a job, and mpirun, itself signalled, forwards the
// signal to its ranks too), and SIGKILL is what a launcher sends when it stops waiting.
//
// Instances nest: the app holds one from its start (a signal during its set-up stops the
// run at its first step), the loops their own. The outermost clears an earlier request
// and installs the handlers; it puts the previous handlers back when it goes.
#pragma once

namespace cyg::app {

// The exit code of a run stopped cleanly, by whichever signal (128 + SIGINT, as a shell
// reports a Ctrl-C): the run can be resumed.
constexpr int kInterruptedExit = 130;

class StopOnInterrupt {
 public:
  StopOnInterrupt();
  ~StopOnInterrupt();
  StopOnInterrupt(const StopOnInterrupt&) = delete;
  StopOnInterrupt& operator=(const StopOnInterrupt&) = delete;

  bool requested() const;
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
