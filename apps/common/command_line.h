// The apps' command line: --config FILE.yaml, key.sub=value overrides, resume=<run dir>,
// --print-config, --help, and the evaluate app's flags (--checkpoint, --predictions,
// --confusion, --tta, --top-losses, --top-losses-svg).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/config.h"

namespace cyg::app {

// What the evaluate app is asked for besides printing the loss, the accuracy, each
// class's accuracy and the confusion matrix (apps/common/evaluation.h).
// The points --interpolate takes unless --points says.
constexpr int64_t kInterpolationPoints = 11;

struct EvaluateRequest {
  std::string checkpoint;
  std::string predictions, confusion;  // CSV files to write, where not empty
  // Flip test-time augmentation: also the average of each image and its mirror
  // (average_of_views); the per-class figures, the files and the top losses are then the
  // average's.
  bool tta = false;
  int64_t top_losses = 0;      // images with the highest loss to list (top_losses.h)
  std::string top_losses_svg;  // and to draw, where not empty (16 unless top_losses says)
  std::string confusion_svg;   // the confusion matrix drawn (confusion_plot.h), where not empty
  // Image files (PNG, JPEG) to predict instead of scoring the validation split (fastai's
  // learn.predict): each one's most likely classes; with `predictions`, every image's
  // prediction to that CSV file, and with `tta`, each image averaged with its mirror.
  std::vector<std::string> images;
  // The loss landscape along a line (Goodfellow et al.'s linear interpolation): the
  // weights (1 - t) checkpoint + t interpolate, evaluated at `points` values of t from 0
  // to 1; batchnorm's statistics interpolated too, or recomputed over the training images
  // at each point (recompute_bn, as SWA's update_bn). A CSV and a picture where named.
  std::string interpolate;
  int64_t points = 0;  // 0: not given (kInterpolationPoints)
  bool recompute_bn = false;
  std::string interpolation_csv, interpolation_svg;
};

struct CommandLine {
  RunConfig config;  // resolved and validated (unless show_help)
  bool show_help = false;
  bool print_config = false;
  EvaluateRequest evaluate;  // the evaluate app's flags
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
