// In-process tests of the config registry (apps/common/config.cpp): unknown keys, `a.b=value`
// overrides, types and ranges, names checked against their registries, and a round trip
// through to_yaml and apply_yaml_file. Expected values are written out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "apps/common/checkpoint.h"
#include "apps/common/config.h"
#include "apps/common/dataset_factory.h"
#include "apps/common/lr_max_from.h"
#include "apps/common/optimizer_factory.h"
#include "apps/common/schedule_factory.h"
#include "engine/nn.h"
#include "kernels/error.h"
#include "models/registry.h"
#include "tests/error_of.h"
#include "tests/scratch_dir.h"

namespace {

namespace fs = std::filesystem;
using cyg::app::RunConfig;

using cyg::test::error_of;

// Expects `f` to throw a cyg::Error containing every one of `parts`.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  const std::string error = error_of(f);
  for (const std::string& part : parts) EXPECT_NE(error.find(part), std::string::npos) << error << "\nlacks: " << part;
}

std::string write_yaml(const std::string& name, const std::string& text) {
  static const cyg::test::ScratchDir scratch("config_test");
  const std::string path = (scratch.path() / name).string();
  std::ofstream(path) << text;
  return path;
}

RunConfig overridden(const std::vector<std::string>& assignments) {
  RunConfig c;
  for (const std::string& a : assignments) cyg::app::apply_override(c, a);
  return c;
}

void expect_invalid(const std::vector<std::string>& assignments, const std::vector<std::string>& parts) {
  expect_error([&] { cyg::app::validate(overridden(assignments)); }, parts);
}

TEST(Config, DefaultsOfEveryAppAreValid) {
  for (auto kind : {cyg::app::AppKind::Baseline, cyg::app::AppKind::OneCycle, cyg::app::AppKind::LrFind,
                    cyg::app::AppKind::Evaluate})
    EXPECT_EQ(error_of([&] { cyg::app::validate(cyg::app::default_config(kind)); }), "(no error)");
}

TEST(Config, UnknownKeyInAFileNamesItsPathAndTheValidKeys) {
  const std::string path = write_yaml("unknown_key.yaml", "name: x\ntrain:\n  epochz: 3\n");
  RunConfig c;
  expect_error([&] { cyg::app::apply_yaml_file(c, path); },
               {path + ": unknown key 'train.epochz'",
                "valid keys under 'train': activation_stats_every, batch_size, best_monitor, drop_last, "
                "early_stopping_min_delta, early_stopping_monitor, early_stopping_patience, ema_decay, ema_warmup, "
                "epochs, label_smoothing, log_every, max_steps, max_time, micro_batches"});
  const std::string top = write_yaml("unknown_top.yaml", "trainn:\n  epochs: 2\n");
  expect_error(
      [&] { cyg::app::apply_yaml_file(c, top); },
      {"unknown key 'trainn'",
       "allow_tf32, cuda_graphs, cudnn_benchmark, cudnn_cache, cudnn_engines, data, deterministic, device, "
       "distributed, distributed_timeout, lr_find, memory_format, model, name"});
}

TEST(Config, UnknownOverrideKeyNamesItsSection) {
  expect_error([] { overridden({"optimizer.learning_rate=0.1"}); },
               {"override: unknown key 'optimizer.learning_rate'",
                "valid keys under 'optimizer': beta2, clip_grad_norm, decay_bias_and_norm, eps, lr, momentum, name, "
                "nesterov, weight_decay"});
  expect_error([] { overridden({"epochs=3"}); }, {"unknown key 'epochs'"});
  expect_error([] { overridden({"=3"}); }, {"expected key=value"});
}

// yaml-cpp keeps both of two equal keys, and the later would win in silence: a key given
// twice is refused with both lines, however it is spelled.
TEST(Config, AKeyGivenTwiceIsRefusedWithBothLines) {
  RunConfig c;
  const std::string leaf = write_yaml("twice_leaf.yaml", "name: x\ntrain:\n  epochs: 3\n  batch_size: 64\n  epochs: 5\n");
  expect_error([&] { cyg::app::apply_yaml_file(c, leaf); },
               {leaf + ":5: 'train.epochs' is given twice (also on line 3); expected each key once"});
  const std::string section = write_yaml("twice_section.yaml", "train:\n  epochs: 3\nname: x\ntrain:\n  batch_size: 8\n");
  expect_error([&] { cyg::app::apply_yaml_file(c, section); }, {section + ":4: 'train' is given twice (also on line 1)"});
  const std::string dotted = write_yaml("twice_dotted.yaml", "train:\n  epochs: 3\ntrain.epochs: 4\n");
  expect_error([&] { cyg::app::apply_yaml_file(c, dotted); },
               {dotted + ":3: 'train.epochs' is given twice (also on line 2)"});
  const std::string top = write_yaml("twice_top.yaml", "name: a\nname: b\n");
  expect_error([&] { cyg::app::apply_yaml_file(c, top); }, {top + ":2: 'name' is given twice (also on line 1)"});
  // Each key once, in whatever order and spelling, is fine.
  const std::string once = write_yaml("once.yaml", "train.epochs: 4\ntrain:\n  batch_size: 8\nname: a\n");
  RunConfig d;
  EXPECT_EQ(error_of([&] { cyg::app::apply_yaml_file(d, once); }), "(no error)");
  EXPECT_EQ(d.train.epochs, 4);
  EXPECT_EQ(d.train.batch_size, 8);
}

TEST(Config, SectionGivenAValueIsRefused) {
  const std::string path = write_yaml("section_value.yaml", "train: 5\n");
  RunConfig c;
  expect_error([&] { cyg::app::apply_yaml_file(c, path); }, {"'train' is a section", "epochs", "not a value"});
}

TEST(Config, OverridesSetValuesOfEveryType) {
  const RunConfig c =
      overridden({"train.epochs=7", "optimizer.lr=0.05", "data.flip=true", "name=hello", "schedule.milestones=[30, 60]",
                  "data.mean=[0.5, 0.25, 0.125]", "train.max_steps=1e3", "model.init_from=", "optimizer.nesterov=yes"});
  EXPECT_EQ(c.train.epochs, 7);
  EXPECT_EQ(c.optimizer.lr, 0.05);
  EXPECT_TRUE(c.data.flip);
  EXPECT_EQ(c.name, "hello");
  EXPECT_EQ(c.schedule.milestones, (std::vector<int64_t>{30, 60}));
  EXPECT_EQ(c.data.mean, (std::vector<double>{0.5, 0.25, 0.125}));
  EXPECT_EQ(c.train.max_steps, 1000);
  EXPECT_EQ(c.model.init_from, "");
  EXPECT_TRUE(c.optimizer.nesterov);
  // A later override wins.
  EXPECT_EQ(overridden({"train.epochs=7", "train.epochs=9"}).train.epochs, 9);
}

// cuDNN autotuning is on by default, as training scripts set PyTorch's cudnn.benchmark;
// the algorithm file is off until a path is given.
TEST(Config, CudnnBenchmarkIsOnByDefaultAndTheCacheOff) {
  for (auto kind : {cyg::app::AppKind::Baseline, cyg::app::AppKind::OneCycle, cyg::app::AppKind::LrFind,
                    cyg::app::AppKind::Evaluate}) {
    EXPECT_TRUE(cyg::app::default_config(kind).cudnn_benchmark);
    EXPECT_EQ(cyg::app::default_config(kind).cudnn_cache, "");
  }
  const RunConfig c = overridden({"cudnn_benchmark=false", "cudnn_cache=runs/cudnn_algorithms.txt"});
  EXPECT_FALSE(c.cudnn_benchmark);
  EXPECT_EQ(c.cudnn_cache, "runs/cudnn_algorithms.txt");
  EXPECT_EQ(error_of([&] { cyg::app::validate(c); }), "(no error)");
  RunConfig from_file;
  const std::set<std::string> given = cyg::app::apply_yaml_file(
      from_file, write_yaml("cudnn.yaml", "cudnn_benchmark: no\ncudnn_cache: algorithms.txt\n"));
  EXPECT_EQ(given, (std::set<std::string>{"cudnn_benchmark", "cudnn_cache"}));
  EXPECT_FALSE(from_file.cudnn_benchmark);
  EXPECT_EQ(from_file.cudnn_cache, "algorithms.txt");
  expect_error([] { overridden({"cudnn_benchmark=fast"}); }, {"'cudnn_benchmark' must be true or false"});
  EXPECT_EQ(overridden({"cudnn_engines=graph"}).cudnn_engines, "graph");
  EXPECT_EQ(cyg::app::conv_engines_named("legacy"), cyg::ConvEngines::Legacy);
  EXPECT_EQ(cyg::app::conv_engines_named("both"), cyg::ConvEngines::Both);
  EXPECT_EQ(cyg::app::conv_engines_named("graph"), cyg::ConvEngines::Graph);
  expect_error([] { cyg::app::validate(overridden({"cudnn_engines=v8"})); },
               {"cudnn_engines", "'v8'", "both", "legacy", "graph"});
  expect_error([] { overridden({"cudnn_cache=[a]"}); }, {"'cudnn_cache' must be a string"});
  const std::string keys = cyg::app::describe_keys(cyg::app::AppKind::OneCycle);
  EXPECT_NE(keys.find("cudnn_benchmark = true\n      true or false: "), std::string::npos) << keys;
  EXPECT_NE(keys.find("cudnn_cache = \"\"\n      a string: "), std::string::npos) << keys;
}

TEST(Config, WrongTypesNameTheKeyAndTheType) {
  expect_error([] { overridden({"train.epochs=1.5"}); }, {"'train.epochs' must be an integer, got 1.5"});
  expect_error([] { overridden({"train.epochs=abc"}); }, {"'train.epochs' must be an integer, got 'abc'"});
  expect_error([] { overridden({"data.flip=maybe"}); }, {"'data.flip' must be true or false"});
  expect_error([] { overridden({"optimizer.lr=[0.1]"}); }, {"'optimizer.lr' must be a number"});
  expect_error([] { overridden({"schedule.milestones=5"}); }, {"'schedule.milestones' must be a list of integers"});
  expect_error([] { overridden({"data.std=[0.5, x]"}); }, {"'data.std' must be a list of numbers"});
  expect_error([] { overridden({"name=[a, b]"}); }, {"'name' must be a string"});
}

TEST(Config, ValuesOutOfRangeNameTheKeyAndTheRange) {
  expect_invalid({"optimizer.lr=-1"}, {"'optimizer.lr' = -1: expected a positive number"});
  expect_invalid({"optimizer.momentum=1.5"}, {"'optimizer.momentum' = 1.5: expected a value in [0, 1]"});
  expect_invalid({"optimizer.name=adam", "optimizer.momentum=1"},
                 {"'optimizer.momentum' = 1: expected a value in [0,"});
  expect_invalid({"train.epochs=0"}, {"'train.epochs' = 0: expected at least 1"});
  expect_invalid({"train.label_smoothing=1"}, {"'train.label_smoothing' = 1: expected a value in [0, 1)"});
  expect_invalid({"train.batch_size=8", "train.micro_batches=5"},
                 {"'train.micro_batches' = 5: expected 1 to half of train.batch_size (8)"});
  expect_invalid({"train.micro_batches=0"}, {"'train.micro_batches' = 0"});
  expect_invalid({"optimizer.clip_grad_norm=-0.5"},
                 {"'optimizer.clip_grad_norm' = -0.5: expected 0 (no clipping) or a finite positive number"});
  expect_invalid({"optimizer.clip_grad_norm=.inf"}, {"'optimizer.clip_grad_norm' = inf"});
  expect_invalid({"optimizer.clip_grad_norm=.nan"}, {"'optimizer.clip_grad_norm' = nan"});
  expect_invalid({"schedule.name=one_cycle", "schedule.anneal_percent=150"},
                 {"'schedule.anneal_percent' = 150: expected a value in [0, 100]"});
  expect_invalid({"schedule.name=one_cycle", "schedule.lr_min=0.5", "schedule.lr_max=0.1"},
                 {"'schedule.lr_min' = 0.5 is above 'schedule.lr_max' = 0.1"});
  expect_invalid({"optimizer.name=adam", "schedule.name=one_cycle", "schedule.momentum_max=1"},
                 {"'schedule.momentum_max' = 1: it drives Adam's beta1, which must be below 1"});
  expect_invalid({"schedule.milestones=[60, 30]"}, {"'schedule.milestones': expected positive, increasing epochs"});
  expect_invalid({"lr_find.start_lr=10", "lr_find.end_lr=1"}, {"'lr_find.start_lr' = 10 must be below"});
  expect_invalid({"data.mean=[0.5]"}, {"'data.mean' has 1 values, 'data.std' 0"});
  expect_invalid({"data.dataset=folder"},
                 {"'data.dataset' = folder needs 'data.root': a folder holding train/ and valid/ (or val/ or test/), "
                  "each with a folder of images per class"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.valid_folder=train"},
                 {"'data.train_folder' = 'train' and 'data.valid_folder' = 'train': expected two different folders"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.train_folder="},
                 {"'data.train_folder' is empty: expected the training images' folder under data.root"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.channels=2"},
                 {"'data.channels' = 2: expected 3 (RGB) or 1 (grayscale)"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.image_size=5000"},
                 {"'data.image_size' = 5000: expected an integer in [0, 4096]"});
  expect_invalid({"data.dataset=cifar10", "data.image_size=64"},
                 {"'data.train_folder', 'data.valid_folder', 'data.image_size', 'data.channels', "
                  "'data.valid_pct', 'data.classes' and 'data.train_files' apply to 'data.dataset' = folder, not "
                  "cifar10"});
  expect_invalid({"data.dataset=cifar10", "data.classes=[a, b]"}, {"apply to 'data.dataset' = folder, not cifar10"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.classes=[cat, dog, cat]"},
                 {"'data.classes' names 'cat' twice"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.classes=[cat]"},
                 {"'data.classes' names 1 class ('cat'); a classifier needs at least 2"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.classes=[cat, a/b]"},
                 {"'data.classes' has 'a/b': expected class folders' names"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.train_files=many"},
                 {"'data.train_files' = 'many': expected what a run records there (\"<n> files, fnv1a <16 hex "
                  "digits>\"), or nothing"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.train_files=12 files, fnv1a 0123"},
                 {"'data.train_files' = '12 files, fnv1a 0123'"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.classes=cat"},
                 {"'data.classes' must be a list of strings"});
  expect_invalid({"data.dataset=synthetic", "data.valid_pct=0.2"}, {"apply to 'data.dataset' = folder, not synthetic"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.resize_method=zoom"},
                 {"'data.resize_method' = 'zoom'", "squish", "crop", "pad"});
  expect_invalid({"data.sampler=weighted"}, {"'data.sampler' = 'weighted'", "shuffle", "balanced"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.valid_pct=1"},
                 {"'data.valid_pct' = 1: expected a share in [0, 1), such as 0.2"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.valid_pct=-0.1"}, {"'data.valid_pct' = -0.1"});
  expect_invalid({"data.dataset=folder", "data.root=pics", "data.valid_pct=0.2", "data.valid_folder=val"},
                 {"'data.valid_pct' = 0.2 holds the validation images out of train/, and 'data.valid_folder' = "
                  "'val' names a folder of them: use one"});
  EXPECT_EQ(error_of([&] {
              cyg::app::validate(overridden({"data.dataset=folder", "data.root=pics", "data.image_size=64",
                                             "data.channels=1", "data.valid_folder=holdout"}));
            }),
            "(no error)");
  expect_invalid({"model.name=resnet20", "model.width=5"}, {"'model.width' = 5", "need an even width"});
  expect_invalid({"name=a/b"}, {"'name' = 'a/b'"});
}

// Sizes that once overflowed further in (a segfault, a heap overrun, "no step of the
// -16") are refused where they are born, each with its key and its range (issue: nothing
// crashes).
TEST(Config, EveryIntegerKeyHasAnUpperBound) {
  expect_invalid({"data.synthetic_size=2147483648"},
                 {"'data.synthetic_size' = 2147483648: expected an integer in [1, 4096]"});
  expect_invalid({"data.synthetic_size=9223372036854775807"}, {"'data.synthetic_size' = 9223372036854775807"});
  expect_invalid({"data.synthetic_channels=4611686018427387904", "data.mean=[]", "data.std=[]"},
                 {"'data.synthetic_channels' = 4611686018427387904: expected an integer in [1, 64]"});
  expect_invalid({"train.log_every=9223372036854775807"},
                 {"'train.log_every' = 9223372036854775807: expected an integer in [1, 1000000]"});
  expect_invalid({"data.crop_padding=9223372036854775807"},
                 {"'data.crop_padding' = 9223372036854775807: expected an integer in [0, 1024]"});
  expect_invalid({"data.cutout=-1"}, {"'data.cutout' = -1: expected an integer in [0, 1024]"});
  expect_invalid({"data.mixup_alpha=-0.4"}, {"'data.mixup_alpha' = -0.4: expected MixUp's alpha"});
  expect_invalid({"data.mixup_alpha=1e-310"}, {"'data.mixup_alpha' = 1e-310: expected MixUp's alpha, at least 0.001"});
  expect_invalid({"data.cutmix_alpha=-1"}, {"'data.cutmix_alpha' = -1: expected CutMix's alpha"});
  expect_invalid({"data.cutmix_alpha=1", "data.mixup_alpha=0.4"},
                 {"'data.mixup_alpha' = 0.4 and 'data.cutmix_alpha' = 1 each pair a batch's images: use one"});
  expect_invalid({"data.mixup_alpha=nan"}, {"'data.mixup_alpha' must be a number, got 'nan'"});
  expect_invalid({"train.epochs=9223372036854775807"},
                 {"'train.epochs' = 9223372036854775807: expected an integer in [1, 100000]"});
  expect_invalid({"model.width=1000000000"}, {"'model.width' = 1000000000: expected an integer in [0, 4096]"});
  expect_invalid({"schedule.milestones=[10, 1000000]"},
                 {"'schedule.milestones' = 1000000: expected an integer in [1, 100000]"});
  // Each key within its bounds, but too much data together.
  expect_invalid({"data.dataset=synthetic", "data.synthetic_size=4096", "data.synthetic_train=100000"},
                 {"'data.synthetic_*'", "GiB; at most 16 GiB of synthetic data"});
  // The largest values allowed pass, and --help states the ranges.
  EXPECT_NO_THROW(overridden({"train.log_every=1000000", "train.epochs=100000", "data.crop_padding=1024"}));
  const std::string keys = cyg::app::describe_keys(cyg::app::AppKind::OneCycle);
  EXPECT_NE(keys.find("train.log_every = 50\n      an integer in [1, 1000000]: "), std::string::npos) << keys;
  EXPECT_NE(keys.find("schedule.milestones = []\n      a list of integers, each in [1, 100000]: "), std::string::npos)
      << keys;
  // No integer key without its range, for every app.
  for (auto kind : {cyg::app::AppKind::Baseline, cyg::app::AppKind::OneCycle, cyg::app::AppKind::LrFind,
                    cyg::app::AppKind::Evaluate}) {
    std::istringstream lines(cyg::app::describe_keys(kind));
    int integer_keys = 0;
    for (std::string line; std::getline(lines, line);) {
      if (line.find("an integer") == std::string::npos && line.find("a list of integers") == std::string::npos)
        continue;
      ++integer_keys;
      EXPECT_NE(line.find(" in ["), std::string::npos) << "an integer key without its range: " << line;
    }
    EXPECT_GE(integer_keys, 10);
  }
  expect_invalid({"seed=-1"}, {"'seed' = -1: expected an integer in [0, 9223372036854775807]"});
  expect_invalid({"data.synthetic_classes=1000000000"},
                 {"'data.synthetic_classes' = 1000000000: expected an integer in [2, 100000]"});
}

// Values that used to fail far from their cause: a normalisation of NaN or 1e308 (a
// diverging loss many steps later) and a directory given as the config file (a message
// from the C++ library).
TEST(Config, NormalisationAndConfigPathsAreCheckedWhereTheyAreGiven) {
  expect_invalid({"data.mean=[.nan, 0, 0]", "data.std=[1, 1, 1]"},
                 {"'data.mean' = nan: expected a value in [-1000, 1000]"});
  expect_invalid({"data.mean=[1e308, 0, 0]", "data.std=[1, 1, 1]"},
                 {"'data.mean' = 1e+308: expected a value in [-1000, 1000]"});
  expect_invalid({"data.mean=[0, 0, 0]", "data.std=[1e308, 1, 1]"},
                 {"'data.std' = 1e+308: expected a value in [0, 1000]"});
  RunConfig c;
  const cyg::test::ScratchDir dir("config_dir");
  expect_error([&] { cyg::app::apply_yaml_file(c, dir.path().string()); },
               {"config file '" + dir.path().string() + "' is a directory; expected a YAML file"});
}

// Found by the fuzzer: a YAML complex key ("? a: b", a mapping used as a key) raised the
// YAML library's own exception instead of a config error.
TEST(Config, AKeyThatIsNotANameIsRefusedWithItsLine) {
  const std::string path = write_yaml("complex_key.yaml", "data:\n  dataset: synthetic\n? synthetic_size: 8\n");
  RunConfig c;
  expect_error([&] { cyg::app::apply_yaml_file(c, path); }, {path + ":3: a key is not a name"});
}

TEST(Config, UnknownNamesAreRefusedWithTheValidOnes) {
  expect_invalid({"schedule.name=warmup_cosine"},
                 {"'schedule.name' = 'warmup_cosine': expected one of constant, one_cycle, step, cosine, pytorch_one_cycle"});
  expect_invalid({"data.dataset=imagenet"},
                 {"'data.dataset' = 'imagenet': expected one of cifar10, fashion_mnist, folder, synthetic"});
  expect_invalid({"optimizer.name=rmsprop"}, {"'optimizer.name' = 'rmsprop': expected one of sgd, adam, adamw"});
  expect_invalid({"model.name=vgg16"},
                 {"'model.name' = 'vgg16': expected one of resnet18, resnet20, resnet56, small_cnn"});
  expect_invalid({"schedule.interpolation=cubic"},
                 {"'schedule.interpolation' = 'cubic': expected one of linear, cosine"});
  expect_invalid({"lr_find.spacing=log"}, {"'lr_find.spacing' = 'log': expected one of exponential, linear"});
  expect_invalid({"lr_find.weight_decays=[1e-4,-1]"}, {"'lr_find.weight_decays' = -1", "[0, 1]"});
  expect_invalid({"lr_find.weight_decays=[.nan]"}, {"'lr_find.weight_decays'"});
  expect_invalid({"lr_find.weight_decays=[1e-4,0,1e-4]"}, {"'lr_find.weight_decays' lists 0.0001 twice"});
  expect_invalid({"precision=fp16"}, {"'precision' = 'fp16': expected one of auto, fp32, tf32, bf16"});
  // From a file too: the same check, whatever set the name.
  const std::string path = write_yaml("unknown_schedule.yaml", "schedule:\n  name: triangular\n");
  RunConfig c;
  cyg::app::apply_yaml_file(c, path);
  expect_error([&] { cyg::app::validate(c); }, {"'schedule.name' = 'triangular': expected one of"});
}

// validate() and the factories read one list: every name validate() takes builds, and
// a name it refuses is refused by the factory too (never a silent default).
TEST(Config, FactoriesBuildEveryNameValidateTakes) {
  EXPECT_EQ(cyg::app::schedule_names(),
            (std::vector<std::string>{"constant", "one_cycle", "step", "cosine", "pytorch_one_cycle", "plateau"}));
  for (const std::string& name : cyg::app::schedule_names()) {
    RunConfig c = overridden({"schedule.name=" + name, "schedule.milestones=[1]"});
    cyg::app::validate(c);
    EXPECT_GT(cyg::app::make_schedule(c, 10, 30)->lr(0), 0.0) << name;
  }
  RunConfig bad = overridden({"schedule.name=triangular"});
  expect_error([&] { cyg::app::make_schedule(bad, 10, 30); }, {"'schedule.name' = 'triangular': expected one of"});

  EXPECT_EQ(cyg::app::optimizer_names(), (std::vector<std::string>{"sgd", "adam", "adamw"}));
  cyg::Variable weight(cyg::Tensor::zeros({2}), cyg::RequiresGrad::Yes);
  for (const std::string& name : cyg::app::optimizer_names()) {
    RunConfig c = overridden({"optimizer.name=" + name, "optimizer.lr=0.125"});
    cyg::app::validate(c);
    EXPECT_EQ(cyg::app::make_optimizer(c.optimizer, {weight})->lr(), 0.125) << name;
  }
  expect_error([&] { cyg::app::make_optimizer(overridden({"optimizer.name=rmsprop"}).optimizer, {weight}); },
               {"'optimizer.name' = 'rmsprop': expected one of sgd, adam, adamw"});

  // optimizer.decay_bias_and_norm=false: ResNet-18's biases and batchnorm weights take no
  // weight decay, its convolution and linear weights all of it.
  auto resnet = cyg::models::make_model("resnet18", cyg::models::ModelOptions{});
  for (bool decay_all : {true, false}) {
    RunConfig c = overridden({std::string("optimizer.decay_bias_and_norm=") + (decay_all ? "true" : "false")});
    const std::vector<float> scales = cyg::app::make_optimizer(c.optimizer, resnet->parameters())->weight_decay_scales();
    const auto named = resnet->named_parameters();
    ASSERT_EQ(scales.size(), named.size());
    int exempt = 0;
    for (size_t i = 0; i < named.size(); ++i) {
      const std::string& name = named[i].first;
      const bool bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
      const bool norm = name.find("bn") != std::string::npos || name.find("shortcut.1.") != std::string::npos;
      const bool bias_or_norm = bias || norm;
      EXPECT_EQ(scales[i], decay_all || !bias_or_norm ? 1.0f : 0.0f) << name;
      exempt += scales[i] == 0.0f;
    }
    // 20 batchnorms' weight and bias, and the linear layer's bias.
    EXPECT_EQ(exempt, decay_all ? 0 : 41);
  }

  EXPECT_EQ(cyg::app::dataset_names(), (std::vector<std::string>{"cifar10", "fashion_mnist", "folder", "synthetic"}));
  const RunConfig synthetic =
      overridden({"data.dataset=synthetic", "data.synthetic_train=20", "data.synthetic_val=10"});
  EXPECT_EQ(cyg::app::load_data(synthetic).train.size(), 20);
  expect_error([] { cyg::app::load_data(overridden({"data.dataset=imagenet"})); },
               {"'data.dataset' = 'imagenet': expected one of cifar10, fashion_mnist, folder, synthetic"});
  for (const std::string& name : cyg::models::model_names())
    EXPECT_EQ(error_of([&] { cyg::app::validate(overridden({"model.name=" + name, "model.width=8"})); }), "(no error)");
}

TEST(Config, FileGivesItsKeys) {
  const std::string path = write_yaml("given.yaml", "name: x\noptimizer:\n  lr: 0.5\nschedule:\n  milestones: [3]\n");
  RunConfig c;
  EXPECT_EQ(cyg::app::apply_yaml_file(c, path), (std::set<std::string>{"name", "optimizer.lr", "schedule.milestones"}));
  EXPECT_EQ(c.optimizer.lr, 0.5);
  EXPECT_EQ(c.optimizer.momentum, RunConfig{}.optimizer.momentum);
}

TEST(Config, MalformedYamlNamesFileAndLine) {
  const std::string path = write_yaml("broken.yaml", "name: x\ntrain:\n  epochs: [1,\n  batch_size: 3\n");
  RunConfig c;
  expect_error([&] { cyg::app::apply_yaml_file(c, path); }, {path + ":", "malformed YAML"});
  expect_error([&] { cyg::app::apply_yaml_file(c, path + ".missing"); }, {"cannot read config file"});
}

// Every field set away from its default, written, read back over the defaults.
RunConfig config_without_defaults() {
  RunConfig c;
  c.name = "round-trip";
  c.seed = 17;
  c.device = "cpu";
  c.deterministic = true;
  c.precision = "bf16";
  c.allow_tf32 = false;
  c.cudnn_benchmark = false;
  c.cudnn_cache = "cache/cudnn_algorithms.txt";
  c.cudnn_engines = "legacy";
  c.cuda_graphs = false;
  c.threads = 3;
  c.distributed = "false";
  c.sync_batchnorm = true;
  c.distributed_timeout = 45;
  c.tensorboard = true;
  c.memory_format = "nchw";
  c.run_root = "elsewhere/runs";
  c.resume = "runs/previous";
  c.model.name = "resnet20";
  c.model.width = 32;
  c.model.init_from = "weights.safetensors";
  c.data.dataset = "synthetic";
  c.data.root = "data/x";
  c.data.mean = {0.25, 0.5, 0.75};
  c.data.std = {0.125, 0.0625, 1.0e-8};
  c.data.crop_padding = 4;
  c.data.flip = true;
  c.data.cutout = 8;
  c.data.mixup_alpha = 0.375;
  c.data.cutmix_alpha = 0.625;
  c.data.limit_train = 100;
  c.data.limit_val = 50;
  c.data.synthetic_train = 300;
  c.data.synthetic_val = 30;
  c.data.synthetic_size = 8;
  c.data.synthetic_channels = 1;
  c.data.synthetic_classes = 4;
  c.data.train_folder = "training";
  c.data.valid_folder = "holdout";
  c.data.image_size = 48;
  c.data.channels = 1;
  c.data.resize_method = "crop";
  c.data.sampler = "balanced";
  c.data.classes = {"cat", "dog", "a \"b\", c"};
  c.data.train_files = "12 files, fnv1a 0123456789abcdef";
  c.data.valid_pct = 0.25;
  c.train.epochs = 12;
  c.train.batch_size = 64;
  c.train.drop_last = true;
  c.train.max_steps = 99;
  c.train.max_time = "00:01:30:00";
  c.train.label_smoothing = 0.1;
  c.train.log_every = 7;
  c.train.micro_batches = 4;
  c.train.target_val_acc = 0.94;
  c.train.ema_decay = 0.999;
  c.train.ema_warmup = true;
  c.train.early_stopping_patience = 3;
  c.train.early_stopping_monitor = "ema_val_acc";
  c.train.early_stopping_min_delta = 0.002;
  c.train.best_monitor = "val_loss";
  c.train.save_every_n_epochs = 3;
  c.train.activation_stats_every = 25;
  c.train.swa_start_epoch = 9;
  c.train.swa_lr = 0.02;
  c.train.swa_anneal_epochs = 2;
  c.train.swa_anneal_strategy = "linear";
  c.schedule.plateau_monitor = "val_acc";
  c.schedule.plateau_factor = 0.5;
  c.schedule.plateau_patience = 4;
  c.schedule.plateau_threshold = 0.01;
  c.schedule.plateau_threshold_mode = "abs";
  c.schedule.plateau_cooldown = 2;
  c.optimizer.name = "adamw";
  c.optimizer.lr = 0.003;
  c.optimizer.momentum = 0.8;
  c.optimizer.beta2 = 0.99;
  c.optimizer.clip_grad_norm = 2.5;
  c.optimizer.decay_bias_and_norm = false;
  c.optimizer.eps = 1e-6;
  c.optimizer.weight_decay = 0.05;
  c.optimizer.nesterov = true;
  c.schedule.name = "one_cycle";
  c.schedule.lr_min = 0.08;
  c.schedule.lr_max = 0.8;
  c.schedule.lr_max_from = "runs/lr_find-a";
  c.schedule.lr_max_rule = "steepest";
  c.schedule.momentum_min = 0.8;
  c.schedule.momentum_max = 0.9;
  c.schedule.anneal_percent = 13.5;
  c.schedule.anneal_div = 25;
  c.schedule.interpolation = "cosine";
  c.schedule.pct_start = 0.25;
  c.schedule.div_factor = 10;
  c.schedule.final_div_factor = 100;
  c.schedule.three_phase = true;
  c.schedule.anneal_strategy = "linear";
  c.schedule.cycle_momentum = false;
  c.schedule.milestones = {3, 6};
  c.schedule.gamma = 0.5;
  c.schedule.min_lr = 1e-5;
  c.schedule.warmup_steps = 20;
  c.lr_find.start_lr = 1e-6;
  c.lr_find.end_lr = 3.0;
  c.lr_find.steps = 150;
  c.lr_find.spacing = "linear";
  c.lr_find.divergence_factor = 3.5;
  c.lr_find.smoothing = 0.9;
  c.lr_find.weight_decays = {1e-3, 1e-4, 0.0};
  return c;
}

TEST(Config, RoundTripThroughYamlKeepsEveryField) {
  const RunConfig written = config_without_defaults();
  const RunConfig defaults;
  RunConfig read;
  cyg::app::apply_yaml_file(read, write_yaml("round_trip.yaml", cyg::app::to_yaml(written)));
  // Each field: read back equal, and set away from its default (else the round trip
  // would not test it).
#define EXPECT_FIELD(f)               \
  EXPECT_EQ(read.f, written.f) << #f; \
  EXPECT_NE(written.f, defaults.f) << #f " is at its default here: the round trip would not test it"
  EXPECT_FIELD(name);
  EXPECT_FIELD(seed);
  EXPECT_FIELD(device);
  EXPECT_FIELD(deterministic);
  EXPECT_FIELD(precision);
  EXPECT_FIELD(allow_tf32);
  EXPECT_FIELD(cudnn_benchmark);
  EXPECT_FIELD(cudnn_cache);
  EXPECT_FIELD(cudnn_engines);
  EXPECT_FIELD(cuda_graphs);
  EXPECT_FIELD(threads);
  EXPECT_FIELD(distributed);
  EXPECT_FIELD(sync_batchnorm);
  EXPECT_FIELD(distributed_timeout);
  EXPECT_FIELD(tensorboard);
  EXPECT_FIELD(memory_format);
  EXPECT_FIELD(run_root);
  EXPECT_FIELD(resume);
  EXPECT_FIELD(model.name);
  EXPECT_FIELD(model.width);
  EXPECT_FIELD(model.init_from);
  EXPECT_FIELD(data.dataset);
  EXPECT_FIELD(data.root);
  EXPECT_FIELD(data.mean);
  EXPECT_FIELD(data.std);
  EXPECT_FIELD(data.crop_padding);
  EXPECT_FIELD(data.flip);
  EXPECT_FIELD(data.cutout);
  EXPECT_FIELD(data.mixup_alpha);
  EXPECT_FIELD(data.cutmix_alpha);
  EXPECT_FIELD(data.limit_train);
  EXPECT_FIELD(data.limit_val);
  EXPECT_FIELD(data.synthetic_train);
  EXPECT_FIELD(data.synthetic_val);
  EXPECT_FIELD(data.synthetic_size);
  EXPECT_FIELD(data.synthetic_channels);
  EXPECT_FIELD(data.synthetic_classes);
  EXPECT_FIELD(data.train_folder);
  EXPECT_FIELD(data.valid_folder);
  EXPECT_FIELD(data.image_size);
  EXPECT_FIELD(data.channels);
  EXPECT_FIELD(data.resize_method);
  EXPECT_FIELD(data.sampler);
  EXPECT_FIELD(data.classes);
  EXPECT_FIELD(data.train_files);
  EXPECT_FIELD(data.valid_pct);
  EXPECT_FIELD(train.epochs);
  EXPECT_FIELD(train.batch_size);
  EXPECT_FIELD(train.drop_last);
  EXPECT_FIELD(train.max_steps);
  EXPECT_FIELD(train.max_time);
  EXPECT_FIELD(train.label_smoothing);
  EXPECT_FIELD(train.log_every);
  EXPECT_FIELD(train.micro_batches);
  EXPECT_FIELD(train.target_val_acc);
  EXPECT_FIELD(train.ema_decay);
  EXPECT_FIELD(train.ema_warmup);
  EXPECT_FIELD(train.early_stopping_patience);
  EXPECT_FIELD(train.early_stopping_monitor);
  EXPECT_FIELD(train.early_stopping_min_delta);
  EXPECT_FIELD(train.best_monitor);
  EXPECT_FIELD(train.save_every_n_epochs);
  EXPECT_FIELD(train.activation_stats_every);
  EXPECT_FIELD(train.swa_start_epoch);
  EXPECT_FIELD(train.swa_lr);
  EXPECT_FIELD(train.swa_anneal_epochs);
  EXPECT_FIELD(train.swa_anneal_strategy);
  EXPECT_FIELD(optimizer.name);
  EXPECT_FIELD(optimizer.lr);
  EXPECT_FIELD(optimizer.momentum);
  EXPECT_FIELD(optimizer.beta2);
  EXPECT_FIELD(optimizer.eps);
  EXPECT_FIELD(optimizer.weight_decay);
  EXPECT_FIELD(optimizer.nesterov);
  EXPECT_FIELD(optimizer.clip_grad_norm);
  EXPECT_FIELD(optimizer.decay_bias_and_norm);
  EXPECT_FIELD(schedule.name);
  EXPECT_FIELD(schedule.lr_min);
  EXPECT_FIELD(schedule.lr_max);
  EXPECT_FIELD(schedule.lr_max_from);
  EXPECT_FIELD(schedule.lr_max_rule);
  EXPECT_FIELD(schedule.momentum_min);
  EXPECT_FIELD(schedule.momentum_max);
  EXPECT_FIELD(schedule.anneal_percent);
  EXPECT_FIELD(schedule.anneal_div);
  EXPECT_FIELD(schedule.interpolation);
  EXPECT_FIELD(schedule.cycle_momentum);
  EXPECT_FIELD(schedule.pct_start);
  EXPECT_FIELD(schedule.div_factor);
  EXPECT_FIELD(schedule.final_div_factor);
  EXPECT_FIELD(schedule.three_phase);
  EXPECT_FIELD(schedule.anneal_strategy);
  EXPECT_FIELD(schedule.milestones);
  EXPECT_FIELD(schedule.gamma);
  EXPECT_FIELD(schedule.min_lr);
  EXPECT_FIELD(schedule.warmup_steps);
  EXPECT_FIELD(schedule.plateau_monitor);
  EXPECT_FIELD(schedule.plateau_factor);
  EXPECT_FIELD(schedule.plateau_patience);
  EXPECT_FIELD(schedule.plateau_threshold);
  EXPECT_FIELD(schedule.plateau_threshold_mode);
  EXPECT_FIELD(schedule.plateau_cooldown);
  EXPECT_FIELD(lr_find.start_lr);
  EXPECT_FIELD(lr_find.end_lr);
  EXPECT_FIELD(lr_find.steps);
  EXPECT_FIELD(lr_find.spacing);
  EXPECT_FIELD(lr_find.divergence_factor);
  EXPECT_FIELD(lr_find.smoothing);
  EXPECT_FIELD(lr_find.weight_decays);
#undef EXPECT_FIELD
}

// A checkpoint written before a key existed lacks it in its experiment: read back, the
// key takes its default, so the run still resumes; a value that differs still shows.
TEST(Config, ACheckpointsExperimentFromBeforeANewKeyReadsWithItsDefault) {
  const cyg::app::RunConfig config = cyg::app::default_config(cyg::app::AppKind::OneCycle);
  const std::string now = cyg::app::experiment_yaml(config);
  std::istringstream lines(now);
  std::string older;
  int dropped = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("micro_batches:") != std::string::npos || line.find("clip_grad_norm:") != std::string::npos ||
        line.find("decay_bias_and_norm:") != std::string::npos || line.find("lr_max_from:") != std::string::npos ||
        line.find("lr_max_rule:") != std::string::npos || line.find("pct_start:") != std::string::npos ||
        line.find("div_factor:") != std::string::npos || line.find("three_phase:") != std::string::npos ||
        line.find("anneal_strategy:") != std::string::npos || line.find("target_val_acc:") != std::string::npos ||
        line.find("ema_decay:") != std::string::npos || line.find("ema_warmup:") != std::string::npos) {
      ++dropped;
      continue;
    }
    older += line + "\n";
  }
  // "div_factor:" matches final_div_factor too, "anneal_strategy:" swa_anneal_strategy.
  ASSERT_EQ(dropped, 14) << now;
  ASSERT_NE(older, now);
  EXPECT_EQ(cyg::app::current_experiment_yaml(older, cyg::app::AppKind::OneCycle), now);
  cyg::app::RunConfig micro = config;
  micro.train.micro_batches = 4;
  EXPECT_NE(cyg::app::current_experiment_yaml(older, cyg::app::AppKind::OneCycle), cyg::app::experiment_yaml(micro));
  EXPECT_EQ(cyg::app::current_experiment_yaml("not: [a, config", cyg::app::AppKind::OneCycle), "not: [a, config");
  EXPECT_EQ(cyg::app::current_experiment_yaml("train: {no_such_key: 1}", cyg::app::AppKind::OneCycle),
            "train: {no_such_key: 1}");  // a key this version does not know: compared as it is
}

// train.target_val_acc: an accuracy, or 0 for none.
TEST(Config, TargetValAccIsAnAccuracy) {
  expect_invalid({"train.target_val_acc=1.5"}, {"'train.target_val_acc' = 1.5: expected an accuracy in [0, 1] (0: none)"});
  expect_invalid({"train.target_val_acc=-0.1"}, {"'train.target_val_acc' = -0.1"});
  expect_invalid({"train.target_val_acc=.nan"}, {"'train.target_val_acc' = nan"});
}

// train.ema_decay: a decay in (0, 1), or 0 for none.
TEST(Config, EmaDecayIsADecay) {
  expect_invalid({"train.ema_decay=1"}, {"'train.ema_decay' = 1: expected a decay in (0, 1), such as 0.999 (0: no moving average)"});
  expect_invalid({"train.ema_decay=-0.5"}, {"'train.ema_decay' = -0.5"});
  expect_invalid({"train.ema_decay=.nan"}, {"'train.ema_decay' = nan"});
  EXPECT_EQ(error_of([&] { cyg::app::validate(overridden({"train.ema_decay=0.9999"})); }), "(no error)");
  expect_invalid({"train.ema_warmup=true"}, {"'train.ema_warmup'", "'train.ema_decay' is 0 (none)"});
  EXPECT_EQ(error_of([&] { cyg::app::validate(overridden({"train.ema_decay=0.999", "train.ema_warmup=true"})); }),
            "(no error)");
}

// schedule.lr_max_from: a 1cycle key, its rule one of the range test's, and a range test's
// summary.json that lacks what is asked is named with what it lacks.
TEST(Config, LrMaxFromIsChecked) {
  expect_invalid({"schedule.name=constant", "schedule.lr_max_from=runs/x"},
                 {"'schedule.lr_max_from' sets the peak of a 1cycle schedule; 'schedule.name' is 'constant'"});
  expect_invalid({"schedule.name=one_cycle", "schedule.lr_max_rule=best"},
                 {"'schedule.lr_max_rule' = 'best': expected one of steepest, minimum/10, valley, steepest_central"});
  // With lr_max_from the configured lr_max is not the one to compare lr_min with.
  EXPECT_EQ(error_of([&] {
              cyg::app::validate(overridden({"schedule.name=one_cycle", "schedule.lr_min=0.5", "schedule.lr_max_from=x"}));
            }),
            "(no error)");

  const fs::path dir = fs::path(write_yaml("range_test_summary_dir_marker", "")).parent_path() / "range_test";
  fs::create_directories(dir);
  const std::string d = dir.string();
  expect_error([&] { cyg::app::suggested_lr(d + "/nowhere", "valley", 0); }, {"'" + d + "/nowhere' is not a folder"});
  expect_error([&] { cyg::app::suggested_lr(d, "valley", 0); }, {"has no summary.json"});
  std::ofstream(dir / "summary.json") << "{\"app\": \"onecycle\", \"final_val_acc\": 0.9}";
  expect_error([&] { cyg::app::suggested_lr(d, "valley", 0); }, {"not a range test's summary (no 'lr_find')"});
  std::ofstream(dir / "summary.json") << "{\"lr_find\": {\"weight_decay\": 0.0005, \"suggestions\": [], "
                                         "\"error\": \"too few points to suggest a learning rate\"}}";
  expect_error([&] { cyg::app::suggested_lr(d, "valley", 0.0005); },
               {"the range test suggested no learning rate: too few points"});
  std::ofstream(dir / "summary.json") << "{\"lr_find\": {\"weight_decay\": 0.0005, \"suggestions\": "
                                         "[{\"rule\": \"valley\", \"lr\": 0.03}, {\"rule\": \"steepest\", \"lr\": 0.4}]}}";
  EXPECT_EQ(cyg::app::suggested_lr(d, "steepest", 0.0005), 0.4);
  expect_error([&] { cyg::app::suggested_lr(d, "valley", 0.1); },
               {"no sweep at optimizer.weight_decay = 0.1; its sweep is at 0.0005"});
  expect_error([&] { cyg::app::suggested_lr(d, "minimum/10", 0.0005); }, {"no 'minimum/10' suggestion"});
  // The test's own config.yaml: its model, width, data, batch and optimizer are the run's.
  std::ofstream(dir / "config.yaml") << "model: {name: resnet18, width: 8}\ndata: {dataset: synthetic}\n"
                                        "train: {batch_size: 64}\noptimizer: {weight_decay: 0.0005}\n";
  RunConfig c = overridden({"schedule.name=one_cycle", "schedule.lr_max_from=" + d + "/", "schedule.lr_min=0.003",
                            "model.width=8", "data.dataset=synthetic", "train.batch_size=64"});
  cyg::app::resolve_lr_max_from(c);
  EXPECT_EQ(c.schedule.lr_max, 0.03);
  EXPECT_EQ(c.schedule.lr_max_from, fs::absolute(dir).lexically_normal().string()) << "absolute, no trailing /";
  c.schedule.lr_min = 0.05;
  expect_error([&] { cyg::app::resolve_lr_max_from(c); }, {"suggests 0.03 (valley), below 'schedule.lr_min' = 0.05"});
  c.schedule.lr_min = 0.003;
  c.model.width = 16;
  c.train.batch_size = 128;
  expect_error([&] { cyg::app::resolve_lr_max_from(c); },
               {"ran another setup: model.width 8 (this run: 16), train.batch_size 64 (this run: 128)"});
  // Image folders: the same folder (however the path is written) at the same size.
  const fs::path pics = fs::absolute(dir / "pics");
  fs::create_directories(pics);
  std::ofstream(dir / "config.yaml") << "model: {name: resnet18, width: 8}\ndata: {dataset: folder, root: \""
                                     << pics.string() << "\", image_size: 32}\ntrain: {batch_size: 64}\n"
                                        "optimizer: {weight_decay: 0.0005}\n";
  c.model.width = 8;
  c.train.batch_size = 64;
  c.data.dataset = "folder";
  c.data.root = (pics / ".." / "pics").string();
  c.data.image_size = 32;
  cyg::app::resolve_lr_max_from(c);
  EXPECT_EQ(c.schedule.lr_max, 0.03);
  c.data.root = (dir / "elsewhere").string();
  c.data.image_size = 64;
  expect_error([&] { cyg::app::resolve_lr_max_from(c); },
               {"ran another setup: data.root " + pics.string() + " (this run: " +
                fs::absolute(dir / "elsewhere").string() + "), data.image_size 32 (this run: 64)"});
  // The same images made square another way.
  c.data.root = pics.string();
  c.data.image_size = 32;
  c.data.resize_method = "pad";
  expect_error([&] { cyg::app::resolve_lr_max_from(c); },
               {"ran another setup: data.resize_method squish (this run: pad)"});
  std::ofstream(dir / "config.yaml") << "model: {name: resnet18, width: 8}\ndata: {dataset: synthetic}\n"
                                        "train: {batch_size: 64}\noptimizer: {weight_decay: 0.0005}\n";
  c.data = cyg::app::DataConfig{};
  c.data.dataset = "synthetic";
  // A range test stopped before its end (Ctrl-C) suggests from part of its sweep.
  std::ofstream(dir / "summary.json") << "{\"stopped_early\": true, \"lr_find\": {\"weight_decay\": 0.0005, "
                                         "\"stop_reason\": \"interrupted\", \"suggestions\": "
                                         "[{\"rule\": \"valley\", \"lr\": 0.03}]}}";
  expect_error([&] { cyg::app::suggested_lr(d, "valley", 0.0005); }, {"the range test was stopped before its end"});
}
// Early stopping: a patience in epochs, a metric the run has, a change that is not negative.
TEST(Config, EarlyStoppingKeysAreChecked) {
  expect_invalid({"train.early_stopping_patience=-1"},
                 {"'train.early_stopping_patience' = -1: expected an integer in [0, 1000000]"});
  expect_invalid({"train.early_stopping_monitor=val_los"},
                 {"'train.early_stopping_monitor' = 'val_los'", "val_loss, val_acc, ema_val_loss, ema_val_acc"});
  expect_invalid({"train.early_stopping_patience=3", "train.early_stopping_monitor=ema_val_acc"},
                 {"'train.early_stopping_monitor' = 'ema_val_acc' watches the moving average", "'train.ema_decay' is 0"});
  expect_invalid({"train.early_stopping_min_delta=-0.01"}, {"'train.early_stopping_min_delta' = -0.01"});
  expect_invalid({"train.best_monitor=ema_val_acc"}, {"'train.best_monitor' = 'ema_val_acc'", "val_acc, val_loss"});
  expect_invalid({"train.early_stopping_min_delta=.inf"}, {"'train.early_stopping_min_delta' = inf"});
  EXPECT_EQ(error_of([&] {
              cyg::app::validate(overridden({"train.early_stopping_patience=3", "train.ema_decay=0.99",
                                             "train.early_stopping_monitor=ema_val_acc",
                                             "train.early_stopping_min_delta=0.001"}));
            }),
            "(no error)");
}

// train.max_time: Lightning's DD:HH:MM:SS, or HH:MM:SS, in seconds; anything else, or no
// time at all, is one error naming the key and the format.
TEST(Config, MaxTimeIsDaysHoursMinutesSeconds) {
  const auto seconds = [](const std::string& text) {
    cyg::app::TrainConfig t;
    t.max_time = text;
    return cyg::app::max_time_seconds(t);
  };
  EXPECT_EQ(seconds(""), 0);
  EXPECT_EQ(seconds("00:01:30:05"), 5405);
  EXPECT_EQ(seconds("2:00:00:00"), 172800);
  EXPECT_EQ(seconds("01:00:00"), 3600);
  EXPECT_EQ(seconds("00:00:90"), 90);
  for (const char* bad : {"1h", "00:00:00", "0:00:00:00", "1:2", "a:b:c", "1:2:3:4:5", ":1:2", "1:2:3:", "1::2",
                          "-1:00:00", "1.5:00:00"})
    EXPECT_NE(error_of([&] { seconds(bad); })
                  .find("'train.max_time' = '" + std::string(bad) + "': expected a time of training as DD:HH:MM:SS"),
              std::string::npos)
        << bad;
  expect_invalid({"train.max_time=1h"}, {"'train.max_time' = '1h': expected a time of training as DD:HH:MM:SS "
                                         "(Lightning's max_time) or HH:MM:SS"});
  // Unquoted in a YAML file, the time stays the text it is (not YAML 1.1's base-60 3600).
  RunConfig from_file;
  cyg::app::apply_yaml_file(from_file, write_yaml("max_time.yaml", "train:\n  max_time: 01:00:00\n"));
  EXPECT_EQ(from_file.train.max_time, "01:00:00");
  EXPECT_EQ(cyg::app::max_time_seconds(from_file.train), 3600);
}

// Stochastic weight averaging: a start within the run, SWALR's ranges, and one average
// of the weights (and one rule for the lr) at a time.
TEST(Config, SwaKeysAreChecked) {
  expect_invalid({"train.epochs=5", "train.swa_start_epoch=6"},
                 {"'train.swa_start_epoch' = 6: expected 0 (none) or an epoch from 1 to train.epochs (5)"});
  expect_invalid({"train.swa_start_epoch=-1"}, {"'train.swa_start_epoch' = -1"});
  expect_invalid({"train.epochs=5", "train.swa_start_epoch=2", "train.swa_lr=-0.1"}, {"'train.swa_lr' = -0.1"});
  expect_invalid({"train.epochs=5", "train.swa_start_epoch=2", "train.swa_lr=.nan"}, {"'train.swa_lr' = nan"});
  expect_invalid({"train.swa_lr=0.05"}, {"'train.swa_lr' = 0.05", "'train.swa_start_epoch' is 0 (none)"});
  expect_invalid({"train.epochs=5", "train.swa_start_epoch=2", "train.swa_lr=0.05", "train.swa_anneal_epochs=-1"},
                 {"'train.swa_anneal_epochs' = -1"});
  expect_invalid({"train.swa_anneal_strategy=cosine"}, {"'train.swa_anneal_strategy' = 'cosine'", "cos, linear"});
  expect_invalid({"train.epochs=5", "train.swa_start_epoch=2", "train.swa_anneal_epochs=3"},
                 {"'train.swa_anneal_epochs' and 'train.swa_anneal_strategy' shape SWALR",
                  "'train.swa_lr', which is 0"});
  expect_invalid({"train.epochs=5", "train.swa_start_epoch=2", "train.swa_anneal_strategy=linear"},
                 {"'train.swa_lr', which is 0"});
  expect_invalid({"train.epochs=5", "train.swa_start_epoch=2", "train.ema_decay=0.99"},
                 {"'train.swa_start_epoch' = 2 and 'train.ema_decay' = 0.99 each keep an average", "use one"});
  expect_invalid({"train.epochs=5", "train.swa_start_epoch=2", "train.swa_lr=0.05", "schedule.name=plateau"},
                 {"'train.swa_lr' = 0.05", "schedule.name plateau cuts it too"});
  EXPECT_EQ(error_of([&] {
              cyg::app::validate(overridden({"train.epochs=5", "train.swa_start_epoch=5", "train.swa_lr=0.05",
                                             "train.swa_anneal_epochs=0", "train.swa_anneal_strategy=linear"}));
            }),
            "(no error)");
  EXPECT_EQ(error_of([&] {
              cyg::app::validate(
                  overridden({"train.epochs=5", "train.swa_start_epoch=2", "schedule.name=plateau"}));
            }),
            "(no error)");
}

// Reduce on plateau: PyTorch's ranges, a metric the run has.
TEST(Config, PlateauKeysAreChecked) {
  expect_invalid({"schedule.plateau_factor=1"}, {"'schedule.plateau_factor' = 1: expected a factor in (0, 1)"});
  expect_invalid({"schedule.plateau_factor=0"}, {"'schedule.plateau_factor' = 0"});
  expect_invalid({"schedule.plateau_patience=-1"}, {"'schedule.plateau_patience' = -1"});
  expect_invalid({"schedule.plateau_cooldown=-2"}, {"'schedule.plateau_cooldown' = -2"});
  expect_invalid({"schedule.plateau_threshold=-0.1"}, {"'schedule.plateau_threshold' = -0.1"});
  expect_invalid({"schedule.plateau_threshold_mode=relative"},
                 {"'schedule.plateau_threshold_mode' = 'relative'", "rel, abs"});
  expect_invalid({"schedule.plateau_monitor=loss"}, {"'schedule.plateau_monitor' = 'loss'", "val_loss, val_acc"});
  expect_invalid({"schedule.name=plateau", "schedule.plateau_monitor=ema_val_loss"},
                 {"'schedule.plateau_monitor' = 'ema_val_loss' watches the moving average"});
  EXPECT_EQ(error_of([&] {
              cyg::app::validate(overridden({"schedule.name=plateau", "schedule.plateau_monitor=ema_val_loss",
                                             "train.ema_decay=0.99", "schedule.plateau_factor=0.2",
                                             "schedule.plateau_threshold_mode=abs"}));
            }),
            "(no error)");
}

// Snapshots: every n-th epoch, n at most the run's epochs (or the run would keep none).
TEST(Config, SnapshotKeyIsChecked) {
  expect_invalid({"train.save_every_n_epochs=-1"}, {"'train.save_every_n_epochs' = -1: expected an integer in [0, "});
  expect_invalid({"train.activation_stats_every=-1"},
                 {"'train.activation_stats_every' = -1: expected an integer in [0, "});
  expect_invalid({"train.epochs=4", "train.save_every_n_epochs=5"},
                 {"'train.save_every_n_epochs' = 5: expected 0 (no snapshots) or a number of epochs from 1 to "
                  "train.epochs (4)"});
  EXPECT_EQ(error_of([&] { cyg::app::validate(overridden({"train.epochs=4", "train.save_every_n_epochs=4"})); }),
            "(no error)");
}

// The snapshots' names sort in epoch order: padded to 3 digits, or to the run's epochs'.
TEST(Config, SnapshotNamesSortInEpochOrder) {
  EXPECT_EQ(cyg::app::epoch_weights_file(2, 30), "epoch-002.safetensors");
  EXPECT_EQ(cyg::app::epoch_weights_file(30, 30), "epoch-030.safetensors");
  EXPECT_EQ(cyg::app::epoch_weights_file(999, 999), "epoch-999.safetensors");
  EXPECT_EQ(cyg::app::epoch_weights_file(7, 1500), "epoch-0007.safetensors");
  EXPECT_EQ(cyg::app::epoch_weights_file(1500, 1500), "epoch-1500.safetensors");
}

// Data parallelism's keys: a value outside their range names the key and what it takes.
TEST(Config, DistributedKeysAreChecked) {
  expect_invalid({"distributed=maybe"}, {"'distributed' = 'maybe'", "auto, true, false"});
  expect_invalid({"distributed_timeout=-1"}, {"'distributed_timeout' = -1", "0 (wait forever)"});
  expect_invalid({"distributed_timeout=1e9"}, {"'distributed_timeout'", "a week"});
  EXPECT_EQ(error_of([&] { cyg::app::validate(overridden({"distributed=true", "sync_batchnorm=true"})); }),
            "(no error)");
}

// The round trip above checks every field: a new key changes this count, and belongs
// there too.
TEST(Config, TheRoundTripCoversEveryKey) {
  const std::string keys = cyg::app::describe_keys(cyg::app::AppKind::OneCycle);
  int named = 0;  // lines that start a key: "  key = default"
  std::istringstream lines(keys);
  for (std::string line; std::getline(lines, line);) named += line.rfind("  ", 0) == 0 && line[2] != ' ';
  EXPECT_EQ(named, 109) << keys;
}

// --help teaches: every key has words, each app shows its own defaults, and a key that
// names one of a set lists the names its registry has.
TEST(Config, HelpGivesEachKeyItsDefaultItsValuesAndWhatItDoes) {
  EXPECT_TRUE(cyg::app::undocumented_keys().empty());
  const std::string onecycle = cyg::app::describe_keys(cyg::app::AppKind::OneCycle);
  const std::string baseline = cyg::app::describe_keys(cyg::app::AppKind::Baseline);
  EXPECT_EQ(onecycle.find("(undocumented)"), std::string::npos) << onecycle;
  EXPECT_NE(onecycle.find("  schedule.name = one_cycle\n"), std::string::npos) << onecycle;
  EXPECT_NE(baseline.find("  schedule.name = constant\n"), std::string::npos) << baseline;
  EXPECT_NE(baseline.find("  optimizer.name = adam\n"), std::string::npos) << baseline;
  EXPECT_NE(baseline.find("  optimizer.lr = 0.001\n"), std::string::npos) << baseline;
  for (const std::string& model : cyg::models::model_names())
    EXPECT_NE(onecycle.find(model), std::string::npos) << model;
  EXPECT_NE(onecycle.find("channels_last or nchw"), std::string::npos) << onecycle;
  EXPECT_NE(onecycle.find("  lr_find.spacing = exponential\n"), std::string::npos) << onecycle;
  EXPECT_NE(onecycle.find("(pixels)"), std::string::npos) << "a unit";
}

}  // namespace
