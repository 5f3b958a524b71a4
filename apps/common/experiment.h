// An experiment set up from its config: the device, the data and its loaders, the
// model, the optimizer and the schedule. The fit loop, the range test and evaluation
// run on it.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/config.h"
#include "engine/functional.h"
#include "apps/common/dataset_factory.h"
#include "data/loader.h"
#include "engine/communicator.h"
#include "engine/device.h"
#include "engine/ema.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "schedules/schedule.h"

namespace cyg::app {

// The ranks a run of `kind` with `config` trains on: MPI when distributed is true, or
// auto and the process was started as one of several ranks (mpirun, srun); a single
// process otherwise, and always for the evaluate app. Collectives then wait at most
// distributed_timeout.
std::shared_ptr<Communicator> make_communicator(AppKind kind, const RunConfig& config);

// How the training batches are paired, as the header line and batch.svg say it
// (", MixUp (data.mixup_alpha 0.4)"), or "" for none.
std::string pairing_said(const DataConfig& data);

// Each rank's GPU, as a number that names it whatever a process numbers it (from its
// UUID; 0: no GPU), in rank order: a collective, one all-reduce.
std::vector<double> gpu_of_each_rank(Communicator& comm, double mine);
// The first two ranks (in rank order) on one GPU, by gpu_of_each_rank's numbers; none
// where every GPU is one rank's (ranks without a GPU never share).
std::optional<std::pair<int64_t, int64_t>> ranks_sharing_a_gpu(const std::vector<double>& gpus);

struct Experiment {
  // Reads the data and builds everything; model.init_from loads its weights unless the
  // run resumes. Errors name the key or file at fault. communicator: the ranks
  // (make_communicator's, when null).
  Experiment(AppKind kind, const RunConfig& config, std::shared_ptr<Communicator> communicator = nullptr);

  // The run's first log line: app, name, model, data, device, optimizer, schedule.
  std::string header_line() const;
  // What both loaders share: the batch size, seed, normalisation, device, this rank's
  // shard and the layout the first convolution takes.
  LoaderOptions loader_options() const;
  // The validation images in val_loader's batches, every one mirrored: the second view
  // of flip test-time augmentation.
  std::unique_ptr<Loader> mirrored_val_loader() const;

  AppKind kind;
  RunConfig config;
  // The ranks of a data-parallel run (distributed; MPI), else a single process. Each
  // rank's loaders take its slice of every batch; rank 0 alone writes the run directory.
  std::shared_ptr<Communicator> comm;
  // Gradients summed over ranks in GPU memory (NCCL), for a data-parallel run on CUDA
  // where the build has NCCL; null otherwise.
  std::unique_ptr<DeviceCommunicator> device_comm;
  // Whether the steps sum their gradients over the ranks: several ranks, or distributed:
  // true (also as one rank: how a 1-rank NCCL run checks the plumbing).
  bool distributed = false;
  bool is_root() const { return comm->rank() == 0; }
  bool data_parallel() const { return comm->size() > 1; }
  // Whether `flag` holds on any rank (a collective when data parallel): for decisions
  // every rank must take together, such as stopping after a Ctrl-C.
  bool any_rank(bool flag) const;
  // Batch normalisation over every rank's slice, for the experiment's lifetime, when
  // sync_batchnorm is on and there are several ranks.
  fn::SyncBatchNorm sync_batchnorm;
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
  // An image folder's normalisation was computed from its training images (and is now in
  // config.data.mean and std, so config.yaml and the checkpoint record it).
  bool normalisation_computed = false;
  // An image folder's training files as they are now (folder_fingerprint); a new run
  // records it in config.data.train_files, a resume and an evaluation keep the run's.
  std::string train_files_now;
  std::unique_ptr<Loader> train_loader, val_loader;
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<Optimizer> optimizer;
  // The moving average of the weights (train.ema_decay) of a training app; null without.
  std::unique_ptr<WeightAverage> ema;
  // Stochastic weight averaging's equal average (train.swa_start_epoch) of a training app;
  // null without. A run keeps at most one of the two.
  std::unique_ptr<WeightAverage> swa;
  // The average a checkpoint holds: ema or swa, or null.
  const WeightAverage* average() const { return ema ? ema.get() : swa.get(); }
  WeightAverage* average() { return ema ? ema.get() : swa.get(); }
  std::shared_ptr<const sched::Schedule> schedule;
  int64_t steps_per_epoch = 0;
};

}  // namespace cyg::app
