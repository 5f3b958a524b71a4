// The training apps' whole main(): the command line, the experiment it sets up, and the
// app's job on it (fit, the range test or evaluation).
#pragma once
#include "apps/common/config.h"

namespace cyg::app {

// Returns the process exit code, printing one clear line on stderr for any error.
int run_app(AppKind kind, int argc, char** argv);

}  // namespace cyg::app
