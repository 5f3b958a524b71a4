// An experiment set up from its config: the device, the data and its loaders, the
// model, the optimizer and the schedule. The fit loop, the range test and evaluation
// run on it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "apps/common/config.h"
#include "engine/functional.h"
#include "apps/common/dataset_factory.h"
#include "data/loader.h"
#include "engine/device.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "schedules/schedule.h"

namespace cyg::app {

struct Experiment {
  // Reads the data and builds everything; model.init_from loads its weights unless the
  // run resumes. Errors name the key or file at fault.
  Experiment(AppKind kind, const RunConfig& config);

  // The run's first log line: app, name, model, data, device, optimizer, schedule.
  std::string header_line() const;

  AppKind kind;
  RunConfig config;
  Device device;
  // The precision key as it applies on this device: fp32, tf32 or bf16 (never auto).
  std::string precision;
  // bf16 autocast on this thread for the experiment's lifetime, when precision is bf16.
  fn::AutocastBf16 autocast;
  // The memory_format key as it applies on this device: channels_last or nchw; and
  // channels-last activations on this thread for the experiment's lifetime.
  std::string memory_format;
  fn::ChannelsLast channels_last;
  DataSplits data;
  std::unique_ptr<Loader> train_loader, val_loader;
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<Optimizer> optimizer;
  std::shared_ptr<const sched::Schedule> schedule;
  int64_t steps_per_epoch = 0;
};

}  // namespace cyg::app
