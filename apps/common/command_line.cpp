// Reading the command line into a validated RunConfig.
#include "apps/common/command_line.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "apps/common/lr_max_from.h"
#include "apps/common/top_losses.h"
#include "engine/atomic_file.h"
#include "kernels/error.h"

namespace cyg::app {

namespace {

// The arguments as given, before any file is read.
struct Arguments {
  std::string config_file;
  std::vector<std::string> overrides;
};


bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

std::string describe(AppKind kind) {
  switch (kind) {
    case AppKind::Baseline: return "Trains with Adam at a constant learning rate (the seed report's baseline).\n";
    case AppKind::OneCycle:
      return "Trains with the 1cycle policy (lr up and down, momentum down and up, then annealing).\n";
    case AppKind::LrFind:
      return "The LR range test: lr grows over one epoch while the loss is recorded; suggests an lr.\n";
    case AppKind::Evaluate:
      return "Loss and accuracy of a checkpoint on the validation split, each class's accuracy, precision,\n"
             "recall and F1 (scikit-learn's classification_report) and the confusion matrix; optionally each\n"
             "image's prediction and logits (--predictions) and the matrix (--confusion) as CSV files, and the\n"
             "matrix as a picture (--confusion-svg, fastai's plot_confusion_matrix: each cell shaded by its\n"
             "share of the true class, up to 40 classes). --tta adds flip test-time augmentation: each image's\n"
             "class probabilities averaged with its mirror's; the per-class figures and the files are then those\n"
             "of the average (the logits written are the log of the averaged probabilities). --top-losses N\n"
             "lists the N images with the highest loss (fastai's plot_top_losses), and --top-losses-svg draws\n"
             "them (16 unless --top-losses says). --image FILE (PNG or JPEG, as many as wanted; a folder: its\n"
             "image files) predicts those images instead (fastai's learn.predict): each made like the dataset's\n"
             "(its channels and size) and listed with its three most likely classes; with --predictions, every\n"
             "image's path, class, probability and logits go to that CSV file (fastai's get_preds on a test_dl;\n"
             "the first 20 are listed), and --tta averages each image with its mirror. --interpolate B.safetensors\n"
             "evaluates the weights on the line from the checkpoint (t = 0) to B (t = 1) at --points values\n"
             "of t (11), batchnorm's statistics interpolated or, with --recompute-bn, recomputed over the\n"
             "training images at each point (Goodfellow et al.'s linear interpolation).\n";
  }
  return "";
}

// Reads the flags into `cl` and the rest into the returned Arguments; stops at --help.
Arguments scan(AppKind kind, int argc, char** argv, CommandLine& cl) {
  Arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      CYG_INPUT_CHECK(i + 1 < argc, arg, ": missing value (try --help)");
      CYG_INPUT_CHECK(argv[i + 1][0] != '\0', arg, ": an empty value (try --help)");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      cl.show_help = true;
      return args;
    } else if (arg == "--config") {
      args.config_file = value();
    } else if (arg == "--print-config") {
      cl.print_config = true;
    } else if (kind == AppKind::Evaluate && arg == "--checkpoint") {
      cl.evaluate.checkpoint = value();
    } else if (kind == AppKind::Evaluate && arg == "--predictions") {
      cl.evaluate.predictions = value();
    } else if (kind == AppKind::Evaluate && arg == "--confusion") {
      cl.evaluate.confusion = value();
    } else if (kind == AppKind::Evaluate && arg == "--interpolate") {
      cl.evaluate.interpolate = value();
    } else if (kind == AppKind::Evaluate && arg == "--points") {
      const std::string n = value();
      char* end = nullptr;
      const long long count = std::strtoll(n.c_str(), &end, 10);
      CYG_INPUT_CHECK(!n.empty() && *end == '\0' && count >= 2 && count <= 1001,
                      "--points: expected a whole number of points from 2 to 1001, got '", n, "'");
      cl.evaluate.points = count;
    } else if (kind == AppKind::Evaluate && arg == "--recompute-bn") {
      cl.evaluate.recompute_bn = true;
    } else if (kind == AppKind::Evaluate && arg == "--interpolation-csv") {
      cl.evaluate.interpolation_csv = value();
    } else if (kind == AppKind::Evaluate && arg == "--interpolation-svg") {
      cl.evaluate.interpolation_svg = value();
    } else if (kind == AppKind::Evaluate && arg == "--image") {
      cl.evaluate.images.push_back(value());
    } else if (kind == AppKind::Evaluate && arg == "--confusion-svg") {
      cl.evaluate.confusion_svg = value();
    } else if (kind == AppKind::Evaluate && arg == "--tta") {
      cl.evaluate.tta = true;
    } else if (kind == AppKind::Evaluate && arg == "--top-losses") {
      const std::string n = value();
      char* end = nullptr;
      const long long count = std::strtoll(n.c_str(), &end, 10);
      CYG_INPUT_CHECK(!n.empty() && *end == '\0' && count >= 1 && count <= kMostTopLosses, "--top-losses: expected a ",
                      "whole number of images from 1 to ", kMostTopLosses, ", got '", n, "'");
      cl.evaluate.top_losses = count;
    } else if (kind == AppKind::Evaluate && arg == "--top-losses-svg") {
      cl.evaluate.top_losses_svg = value();
    } else if (arg.find('=') != std::string::npos && arg[0] != '-') {
      args.overrides.push_back(arg);
    } else {
      CYG_INPUT_CHECK(false, "unknown argument '", arg, "' (try --help)");
    }
  }
  return args;
}

// resume= brings the run's own config.yaml; evaluate defaults to the config beside the
// checkpoint.
std::string config_file_for(AppKind kind, const Arguments& args, const std::string& resume, const CommandLine& cl) {
  std::string config_file = args.config_file;
  if (!resume.empty()) {
    CYG_INPUT_CHECK(config_file.empty(), "resume= uses the run's own config.yaml; drop --config");
    config_file = resume + "/config.yaml";
    CYG_INPUT_CHECK(file_exists(config_file), "resume: '", resume, "' is not a run directory (no config.yaml)");
  }
  if (kind == AppKind::Evaluate) {
    CYG_INPUT_CHECK(!cl.evaluate.checkpoint.empty(), "evaluate needs --checkpoint WEIGHTS.safetensors (try --help)");
    const std::string& checkpoint = cl.evaluate.checkpoint;
    std::error_code error;
    CYG_INPUT_CHECK(!std::filesystem::is_directory(checkpoint, error), "--checkpoint '", checkpoint,
                    "' is a folder: give a weights file in it (such as ", checkpoint,
                    checkpoint.back() == '/' ? "" : "/", "best.safetensors)");
    CYG_INPUT_CHECK(file_exists(checkpoint), "checkpoint '", checkpoint, "' not found");
    if (config_file.empty()) {
      const size_t slash = checkpoint.rfind('/');
      const std::string beside = (slash == std::string::npos ? "." : checkpoint.substr(0, slash)) + "/config.yaml";
      if (file_exists(beside))
        config_file = beside;
      else  // the defaults, and the keys given; said, so that a missing dataset is understood
        std::printf("no config.yaml beside '%s': the default configuration with the keys given (--config FILE.yaml "
                    "names the run's)\n", checkpoint.c_str());
    }
  }
  return config_file;
}

void check_changeable_on_resume(const std::string& key) {
  const std::vector<std::string>& changeable = keys_changeable_on_resume();
  if (key == "resume" || std::find(changeable.begin(), changeable.end(), key) != changeable.end()) return;
  std::string allowed;
  for (const std::string& k : changeable) allowed += (allowed.empty() ? "" : ", ") + k;
  CYG_INPUT_CHECK(false, "'", key, "' cannot change when resuming (the run would no longer be the same experiment); ",
                  "allowed: ", allowed);
}

}  // namespace

std::string usage(AppKind kind) {
  std::ostringstream os;
  const std::string name = std::string("cygnet_") + app_name(kind);
  os << "usage: " << name << " [--config FILE.yaml] [key.sub=value ...] [--print-config] [--help]\n";
  if (kind == AppKind::Evaluate)
    os << "       " << name << " --checkpoint WEIGHTS.safetensors [--config FILE.yaml] [--predictions FILE.csv]\n"
       << "                      [--confusion FILE.csv] [--confusion-svg FILE.svg] [--tta] [--top-losses N]\n"
       << "                      [--top-losses-svg FILE.svg]\n"
       << "       " << name << " --checkpoint WEIGHTS.safetensors --image FILE|FOLDER [--image ...]\n"
       << "                      [--predictions FILE.csv] [--tta]\n"
       << "       " << name << " --checkpoint A.safetensors --interpolate B.safetensors [--points N]\n"
       << "                      [--recompute-bn] [--interpolation-csv FILE.csv] [--interpolation-svg FILE.svg]\n"
       << "       (the config defaults to config.yaml beside the checkpoint)\n";
  os << "\n" << describe(kind);
  if (kind != AppKind::Evaluate) os << "Continue a stopped run with resume=runs/<dir>.\n";
  os
     << "\nKeys, each with this app's default, what it takes and what it does (set them in the YAML file,\n"
     << "or here as key.sub=value):\n"
     << describe_keys(kind);
  return os.str();
}

namespace {
std::string g_invoked_as;
}  // namespace

std::string invoked_as(AppKind kind) {
  return g_invoked_as.empty() ? std::string("cygnet_") + app_name(kind) : g_invoked_as;
}

CommandLine parse_command_line(AppKind kind, int argc, char** argv) {
  if (argc > 0 && argv[0] != nullptr) g_invoked_as = argv[0];
  CommandLine cl;
  cl.config = default_config(kind);
  const Arguments args = scan(kind, argc, argv, cl);
  if (cl.show_help) return cl;
  CYG_INPUT_CHECK(cl.evaluate.images.empty() ||
                      (cl.evaluate.confusion.empty() && cl.evaluate.confusion_svg.empty() &&
                       cl.evaluate.top_losses == 0 && cl.evaluate.top_losses_svg.empty()),
                  "--image predicts the image files given, which have no labels; --confusion, --confusion-svg and "
                  "--top-losses score the validation split: give one or the other");
  {
    const EvaluateRequest& e = cl.evaluate;
    const bool interpolating = !e.interpolate.empty();
    CYG_INPUT_CHECK(interpolating || (e.points == 0 && !e.recompute_bn &&
                                      e.interpolation_csv.empty() && e.interpolation_svg.empty()),
                    "--points, --recompute-bn, --interpolation-csv and --interpolation-svg shape --interpolate, "
                    "which is not given");
    CYG_INPUT_CHECK(!interpolating || (e.images.empty() && !e.tta && e.predictions.empty() && e.confusion.empty() &&
                                       e.confusion_svg.empty() && e.top_losses == 0 && e.top_losses_svg.empty()),
                    "--interpolate evaluates the weights between two checkpoints; --image, --predictions, "
                    "--confusion, --confusion-svg, --tta and --top-losses are for one checkpoint: give one or the "
                    "other");
    CYG_INPUT_CHECK(!interpolating || file_exists(e.interpolate), "checkpoint '", e.interpolate,
                    "' (--interpolate) not found");
    // Every file to write, checked before the work: an unwritable one is named now, not
    // after the evaluation, with the files before it written.
    std::vector<std::string> outputs;  // as files: a.csv and ./a.csv are one
    for (const std::string* path : {&e.predictions, &e.confusion, &e.confusion_svg, &e.top_losses_svg,
                                    &e.interpolation_csv, &e.interpolation_svg})
      if (!path->empty()) {
        check_writable(*path);
        std::error_code error;
        const std::string file = std::filesystem::weakly_canonical(*path, error).string();
        CYG_INPUT_CHECK(std::find(outputs.begin(), outputs.end(), error ? *path : file) == outputs.end(), "'", *path,
                        "' is named for two outputs: give each its own file");
        outputs.push_back(error ? *path : file);
      }
  }
  // A picture of the top losses without a count draws fastai's default of 16.
  if (!cl.evaluate.top_losses_svg.empty() && cl.evaluate.top_losses == 0) cl.evaluate.top_losses = kRunTopLosses;
  std::string resume;
  for (const auto& o : args.overrides)
    if (o.rfind("resume=", 0) == 0) resume = o.substr(7);
  const std::string config_file = config_file_for(kind, args, resume, cl);
  if (!config_file.empty()) apply_yaml_file(cl.config, config_file);
  for (const auto& o : args.overrides) {
    if (!resume.empty()) check_changeable_on_resume(o.substr(0, o.find('=')));
    apply_override(cl.config, o);
  }
  validate(cl.config);
  // A new run reads its range test now (config.yaml records the lr it took); a resumed
  // run keeps the lr_max it recorded.
  CYG_INPUT_CHECK(cl.config.schedule.lr_max_from.empty() || kind == AppKind::OneCycle || kind == AppKind::Evaluate,
                  "'schedule.lr_max_from' sets a 1cycle run's peak (cygnet_onecycle); cygnet_", app_name(kind),
                  " does not take it");
  CYG_INPUT_CHECK(cl.config.train.ema_decay == 0 || kind != AppKind::LrFind,
                  "'train.ema_decay' averages a training run's weights (cygnet_baseline, cygnet_onecycle); the range "
                  "test, cygnet_lr_find, does not take it");
  CYG_INPUT_CHECK(cl.config.train.early_stopping_patience == 0 || kind != AppKind::LrFind,
                  "'train.early_stopping_patience' ends a training run early (cygnet_baseline, cygnet_onecycle); "
                  "the range test, cygnet_lr_find, runs its own sweep and does not take it");
  CYG_INPUT_CHECK(cl.config.train.max_time.empty() || kind != AppKind::LrFind,
                  "'train.max_time' limits a training run's time (cygnet_baseline, cygnet_onecycle); the range test, "
                  "cygnet_lr_find, runs its own sweep and does not take it");
  CYG_INPUT_CHECK(cl.config.train.swa_start_epoch == 0 || kind != AppKind::LrFind,
                  "'train.swa_start_epoch' averages a training run's weights (cygnet_baseline, cygnet_onecycle); "
                  "the range test, cygnet_lr_find, does not take it");
  CYG_INPUT_CHECK(cl.config.train.save_every_n_epochs == 0 || kind != AppKind::LrFind,
                  "'train.save_every_n_epochs' keeps a training run's weights by epoch (cygnet_baseline, "
                  "cygnet_onecycle); the range test, cygnet_lr_find, has no epochs and does not take it");
  CYG_INPUT_CHECK(cl.config.train.activation_stats_every == 0 || kind != AppKind::LrFind,
                  "'train.activation_stats_every' records the activations of a training run (cygnet_baseline, "
                  "cygnet_onecycle); the range test, cygnet_lr_find, does not take it");
  if (resume.empty() && kind == AppKind::OneCycle) {
    resolve_lr_max_from(cl.config);
    validate(cl.config);
  }
  return cl;
}

}  // namespace cyg::app
