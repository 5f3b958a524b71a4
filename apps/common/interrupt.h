// Clean stops on Ctrl-C: while a StopOnInterrupt lives, the first Ctrl-C asks the loop
// to stop after the step in progress; a second ends the process at once, unless a
// checkpoint is being written (a half-written pair could not be resumed). SIGUSR1 is a
// Ctrl-C too: mpirun forwards it to every rank (a Ctrl-C on mpirun ends the job at once),
// and Slurm's scancel --signal=USR1 sends it to a job's tasks.
#pragma once

namespace cyg::app {

// The exit code of a run stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
constexpr int kInterruptedExit = 130;

class StopOnInterrupt {
 public:
  StopOnInterrupt();   // clears any earlier request and installs the handler
  ~StopOnInterrupt();  // puts the previous handler back
  StopOnInterrupt(const StopOnInterrupt&) = delete;
  StopOnInterrupt& operator=(const StopOnInterrupt&) = delete;

  bool requested() const;

 private:
  void (*previous_)(int);
  void (*previous_usr1_)(int);
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
