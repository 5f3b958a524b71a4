// The training loop of baseline and onecycle. Per step: the schedule sets lr and
// momentum, train_step runs, the step is recorded; at each epoch's end: validation, the
// run directory's tables, plots and summary, and checkpoints. Resumes a stopped run and
// stops cleanly on Ctrl-C.
#pragma once
#include "apps/common/experiment.h"

namespace cyg::app {

// Returns the exit code (kInterruptedExit after Ctrl-C). An error still leaves the run
// directory telling what happened before it is rethrown.
int fit(Experiment& experiment);

}  // namespace cyg::app
