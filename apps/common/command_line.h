// The training apps' command line: --config FILE.yaml, key.sub=value overrides,
// resume=<run dir>, --print-config, --help, and for evaluate --checkpoint and
// --predictions.
#pragma once
#include <string>

#include "apps/common/config.h"

namespace cyg::app {

struct CommandLine {
  RunConfig config;  // resolved and validated (unless show_help)
  bool show_help = false;
  bool print_config = false;
  std::string checkpoint, predictions, confusion;  // evaluate
  bool tta = false;                                // evaluate --tta
  int64_t top_losses = 0;                          // evaluate --top-losses N
  std::string top_losses_svg;                      // evaluate --top-losses-svg FILE
};

// Stops at --help (show_help, nothing else read). Errors are cyg::Error naming the
// argument or key at fault.
CommandLine parse_command_line(AppKind kind, int argc, char** argv);

// How this process was started (argv[0], as typed: build/apps/cygnet_onecycle, or the
// bare name when found on PATH), so that a printed command runs from where the user
// stands; "cygnet_<app>" before parse_command_line has run.
std::string invoked_as(AppKind kind);

// --help's text: the usage lines, what the app does, and every config key.
std::string usage(AppKind kind);

}  // namespace cyg::app
