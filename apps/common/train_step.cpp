// The training step, eager or as a replayed CUDA graph.
#include "apps/common/train_step.h"

#include <cstdio>

#include "engine/autograd.h"
#include "engine/profiling.h"

namespace cyg::app {

namespace {

// Clear, forward and loss, backward: what a step does before its optimizer update.
fn::CrossEntropy forward_backward(nn::Module& model, Optimizer& optimizer, const Tensor& images, const Tensor& labels,
                                  double label_smoothing) {
  optimizer.zero_grad();
  fn::CrossEntropy ce;
  {
    NvtxRange range("forward");
    ce = fn::cross_entropy(model(Variable(images)), labels, label_smoothing);
  }
  {
    NvtxRange range("backward");
    backward(ce.loss);
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
                       StepGraphs graphs, Device device)
    : model_(model),
      optimizer_(optimizer),
      ring_(ring),
      label_smoothing_(label_smoothing),
      graphs_(device.is_cpu() ? StepGraphs::Off : graphs),
      device_(device) {}

void StepRunner::run(const Tensor& images, const Tensor& labels) {
  const bool fits_the_graph = !images_.defined() || images.shape() == images_.shape();
  if (graphs_ == StepGraphs::On && fits_the_graph) return run_graphed(images, labels);
  NvtxRange step_range("step");
  optimizer_.prepare_step();
  device_part(images, labels);
}

void StepRunner::device_part(const Tensor& images, const Tensor& labels) {
  const fn::CrossEntropy ce = forward_backward(model_, optimizer_, images, labels, label_smoothing_);
  {
    NvtxRange range("optimizer");
    optimizer_.apply_step();
  }
  ring_.add(ce, labels.numel());
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
