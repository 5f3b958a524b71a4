// One training step, the same for fit, the range test and the benchmark: clear the
// gradients, forward and loss, backward, optimizer update. NVTX ranges "step" (around
// it all), "forward", "backward" and "optimizer" mark it for Nsight Systems.
#pragma once
#include <map>
#include <memory>

#include "apps/common/metrics_ring.h"
#include "data/mixup.h"  // micro_batch_count
#include "engine/data_parallel.h"
#include "engine/ema.h"
#include "engine/functional.h"
#include "engine/graph.h"
#include "engine/nn.h"
#include "engine/optim.h"

namespace cyg::app {

// The loss is the batch's mean cross-entropy (with label_smoothing); the result's
// `correct` counts the right predictions. Neither is read back: the step does not wait
// for the device.
fn::CrossEntropy train_step(nn::Module& model, Optimizer& optimizer, const Tensor& images, const Tensor& labels,
                            double label_smoothing);

// Whether a run's steps go through a CUDA graph.
enum class StepGraphs { Off, On };

// The training steps of a run, each step's loss and correct count going into a metrics
// ring. With StepGraphs::On (on a GPU or the emulated device) the step is one CUDA
// graph: the first full batches run as they are (warm-ups, normally two) until one
// needs no new memory in the graph's pool; the next is captured and replayed; every
// later one is a replay. Should the pool not settle in kMaxWarmUps steps, the run goes
// on eagerly and says so on stderr. Before a replay the host
// writes the batch into the graph's input buffers and the optimizer's hyperparameters
// into device memory, nothing else. A batch of another size (an epoch's last, partial
// one) runs eagerly. Off, every step runs eagerly; the results are the same either way.
//
// With a communicator of several ranks, or a device communicator (NCCL, also for one
// rank), this is data parallelism: each rank's batch is its slice
// of a global batch of global_images: its loss's gradient is scaled by its share, the
// gradients are summed over the ranks (GradientReducer; on a GPU with NCCL in its memory)
// before the update, and the steps run eagerly (outside any CUDA graph).
class StepRunner {
 public:
  StepRunner(nn::Module& model, Optimizer& optimizer, MetricsRing& ring, double label_smoothing, StepGraphs graphs,
             Device device, Communicator* communicator = nullptr, DeviceCommunicator* device_communicator = nullptr);
  // global_images: the images of the whole batch (0: this one's). With `mixing` on
  // (MixUp or CutMix: the loader's Batch::mixing, whose partners lie in each
  // micro-batch), each micro-batch's images are blended (or pasted) and its targets
  // shared as it pairs them; a run mixes every step alike or none.
  // eager: this step runs as it is even where later ones replay a graph (a step whose
  // forward hooks must run on the host: train.activation_stats_every); the same results.
  void run(const Tensor& images, const Tensor& labels, int64_t global_images = 0, const fn::Mixing& mixing = {},
           bool eager = false);
  // Each step's batch in this many micro-batches (at most one per image), run one after
  // another with their gradients summed before the one update (gradient accumulation):
  // the same step in less memory, but batchnorm normalises each micro-batch by its own
  // statistics. Each micro-batch has at least two images (a batch too small for that
  // runs in fewer). Before the first step; 1 by default.
  void set_micro_batches(int64_t micro_batches);
  // A moving average of the weights updated after every optimizer update, in the step (a
  // CUDA graph captures it too). Before the first step; none by default.
  void set_weight_average(WeightAverage* average);
  // The micro-batches a batch of `local` images (of a whole batch of global_images; 0:
  // local) runs in: every rank makes as many, the smallest slice's count.
  int64_t parts(int64_t local, int64_t global_images = 0) const;
  // Whether the steps of the batch size seen first are (or will be) graph replays.
  bool graphed() const { return graphs_ == StepGraphs::On; }
  // Whether the step has been captured: the next full batch is a replay.
  bool replaying() const { return graph_ && graph_->captured(); }

  static constexpr int kMaxWarmUps = 5;

 private:
  // What the graph captures: everything of a step but the optimizer's host half.
  void device_part(const Tensor& images, const Tensor& labels, const fn::Mixing& mixing, int64_t global_images = 0);
  void run_graphed(const Tensor& images, const Tensor& labels, const fn::Mixing& mixing);
  void give_up_graphs();

  nn::Module& model_;
  Optimizer& optimizer_;
  MetricsRing& ring_;
  double label_smoothing_;
  StepGraphs graphs_;
  Device device_;
  std::unique_ptr<GradientReducer> reducer_;  // data parallelism
  std::unique_ptr<Stream> stream_;  // a capture cannot use the legacy default stream
  std::unique_ptr<Graph> graph_;
  Tensor images_, labels_;          // the graph's inputs, at fixed addresses
  fn::Mixing mixing_;               // and MixUp's pairing, with them
  bool mixed_ = false;              // the steps are mixed
  bool cut_ = false;                // by CutMix
  // The loss gradient's seeds by share: 1, or a rank's or micro-batch's share of the batch.
  const Tensor& seed_for(double share);
  Tensor aligned_slice(const Tensor& images, int64_t begin, int64_t end) const;
  std::map<double, Tensor> seeds_;
  int64_t micro_batches_ = 1;
  WeightAverage* average_ = nullptr;
  bool stepped_ = false;  // a step has run: the settings above are fixed
  int64_t ranks_ = 1;
  int warm_ups_ = 0;
  bool settled_ = false;  // a warm-up needed no new memory: capture next
};

}  // namespace cyg::app
