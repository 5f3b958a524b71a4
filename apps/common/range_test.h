// The LR range test (lr_find): lr sweeps from lr_find.start_lr to lr_find.end_lr, one
// training step each, while the loss is recorded, until the smoothed loss diverges.
// The model and optimizer are then put back as they were; the suggested learning
// rates go to the log, summary.json and lr_find.svg.
#pragma once
#include "apps/common/experiment.h"

namespace cyg::app {

// Returns the exit code (kInterruptedExit after Ctrl-C, with the sweep so far reported).
int range_test(Experiment& experiment);

}  // namespace cyg::app
