// What the apps share: the command line (--config FILE, key=value overrides,
// --print-config, --help), the experiment set-up from a RunConfig (data, model,
// optimizer, schedule, run directory), the training loop with per-step and per-epoch
// records, evaluation, checkpoints, resume, the LR range test, and clean stops.
#pragma once
#include "apps/common/config.h"

namespace cyg::app {

// The whole of an app's main(): returns the process exit code, printing one clear line
// on stderr for any error.
int run_app(AppKind kind, int argc, char** argv);

}  // namespace cyg::app
