// The training step, eager or as a replayed CUDA graph.
#include "apps/common/train_step.h"

#include <cstdio>

#include "engine/autograd.h"
#include "engine/profiling.h"

namespace cyg::app {

namespace {

// Clear, forward and loss, backward: what a step does before its optimizer update. With
// data parallelism the loss's gradient starts from `seed` (a rank's share of a global
// batch; undefined: 1), and the reducer sums each bucket of gradients over the ranks as
// soon as the backward has finished it.
fn::CrossEntropy forward_backward(nn::Module& model, Optimizer& optimizer, const Tensor& images, const Tensor& labels,
                                  double label_smoothing, const Tensor& seed = Tensor(),
                                  GradientReducer* reducer = nullptr) {
  optimizer.zero_grad();
  fn::CrossEntropy ce;
  {
    NvtxRange range("forward");
    ce = fn::cross_entropy(model(Variable(images)), labels, label_smoothing);
  }
  {
    NvtxRange range("backward");
    if (reducer) reducer->begin();
    backward(ce.loss, seed, reducer ? reducer->leaf_ready() : LeafReady());
  }
  if (reducer) {
    NvtxRange range("all-reduce");
    reducer->finish();
  }
  return ce;
}

}  // namespace

fn::CrossEntropy train_step(nn::Module& model, Optimizer& optimizer, const Tensor& images, const Tensor& labels,
                            double label_smoothing) {
  NvtxRange step_range("step");
  const fn::CrossEntropy ce = forward_backward(model, optimizer, images, labels, label_smoothing);
  NvtxRange range("optimizer");
  optimizer.step();
  return ce;
}

StepRunner::StepRunner(nn::Module& model, Optimizer& optimizer, MetricsRing& ring, double label_smoothing,
                       StepGraphs graphs, Device device, Communicator* communicator,
                       DeviceCommunicator* device_communicator)
    : model_(model),
      optimizer_(optimizer),
      ring_(ring),
      label_smoothing_(label_smoothing),
      graphs_(device.is_cpu() || device_communicator != nullptr ||
                      (communicator != nullptr && communicator->size() > 1)
                  ? StepGraphs::Off
                  : graphs),
      device_(device) {
  if (communicator != nullptr && (communicator->size() > 1 || device_communicator != nullptr))
    reducer_ = std::make_unique<GradientReducer>(optimizer.parameters(), *communicator,
                                                 GradientReducer::kDefaultBucketBytes, device_communicator);
}

void StepRunner::run(const Tensor& images, const Tensor& labels, int64_t global_images) {
  const bool fits_the_graph = !images_.defined() || images.shape() == images_.shape();
  if (graphs_ == StepGraphs::On && fits_the_graph) return run_graphed(images, labels);
  NvtxRange step_range("step");
  optimizer_.prepare_step();
  device_part(images, labels, global_images);
}

void StepRunner::device_part(const Tensor& images, const Tensor& labels, int64_t global_images) {
  const int64_t local = labels.numel(), global = global_images > 0 ? global_images : local;
  const double scale = reducer_ ? loss_scale(local, global) : 1.0;
  // The loss gradient's seed (a rank's share of the batch, or 1), kept: made again only
  // when the share changes (a partial batch), not filled on the device every step.
  if (!seed_.defined() || seed_scale_ != scale) {
    seed_ = Tensor::full({}, scale, DType::F32, device_);
    seed_scale_ = scale;
  }
  const fn::CrossEntropy ce =
      forward_backward(model_, optimizer_, images, labels, label_smoothing_, seed_, reducer_.get());
  {
    NvtxRange range("optimizer");
    optimizer_.apply_step();
  }
  ring_.add(ce, local, global);
}

void StepRunner::give_up_graphs() {
  std::fprintf(stderr, "note: the training step still needed new memory after %d warm-up steps; it runs without "
               "CUDA graphs\n", kMaxWarmUps);
  graph_.reset();
  graphs_ = StepGraphs::Off;
}

void StepRunner::run_graphed(const Tensor& images, const Tensor& labels) {
  NvtxRange step_range("step");
  if (!graph_) {
    stream_ = std::make_unique<Stream>(device_);
    graph_ = std::make_unique<Graph>(*stream_);
    images_ = Tensor::empty(images.shape(), images.dtype(), device_);
    labels_ = Tensor::empty(labels.shape(), labels.dtype(), device_);
  }
  images_.copy_(images);
  labels_.copy_(labels);
  optimizer_.prepare_step();
  auto step = [&] { device_part(images_, labels_); };
  if (!settled_) {
    settled_ = graph_->warm_up(step);
    if (!settled_ && ++warm_ups_ == kMaxWarmUps) give_up_graphs();
  } else if (!graph_->captured()) {
    graph_->capture(step);
    graph_->replay();
  } else {
    graph_->replay();
    model_.count_replayed_forward();
    ring_.count_replayed_step();
  }
}

}  // namespace cyg::app
