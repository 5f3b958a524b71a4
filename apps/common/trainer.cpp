// run_app: from the command line to the app's job.
#include "apps/common/trainer.h"

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

#include "apps/common/command_line.h"
#include "apps/common/evaluation.h"
#include "apps/common/experiment.h"
#include "apps/common/fit.h"
#include "apps/common/range_test.h"

namespace cyg::app {

int run_app(AppKind kind, int argc, char** argv) {
  const std::string name = std::string("cygnet_") + app_name(kind);
  // A file-size limit (ulimit -f) reached by a write then fails that write (EFBIG), which
  // is reported like a full disk, instead of killing the process mid-checkpoint.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    const CommandLine cl = parse_command_line(kind, argc, argv);
    if (cl.show_help) {
      std::cout << usage(kind);
      return 0;
    }
    if (cl.print_config) {
      std::cout << to_yaml(cl.config);
      return 0;
    }
    Experiment experiment(kind, cl.config);
    switch (kind) {
      case AppKind::LrFind: return range_test(experiment);
      case AppKind::Evaluate: return evaluate_checkpoint(experiment, cl.checkpoint, cl.predictions);
      default: return fit(experiment);
    }
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
    return 1;
  }
}

}  // namespace cyg::app
