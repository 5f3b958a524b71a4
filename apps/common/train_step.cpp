// The training step, eager or as a replayed CUDA graph.
#include "apps/common/train_step.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "engine/autograd.h"
#include "engine/profiling.h"

namespace cyg::app {

namespace {

// Forward and loss, backward, the gradients added to the parameters' (which the caller
// cleared): what a step does before its optimizer update, or one micro-batch of it (with
// MixUp, its images blended and its targets shared as `mixing` pairs them). The
// loss's gradient starts from `seed` (a part's share of the step's whole batch, over all
// ranks; undefined: 1), and the reducer, where given, sums each bucket of gradients over
// the ranks as soon as the backward has finished it.
fn::CrossEntropy forward_backward(nn::Module& model, const Tensor& images, const Tensor& labels,
                                  double label_smoothing, const Tensor& seed = Tensor(),
                                  GradientReducer* reducer = nullptr, const fn::Mixing& mixing = {}) {
  fn::CrossEntropy ce;
  {
    NvtxRange range("forward");
    const Tensor input = mixing.on() ? fn::mix_images(images, mixing) : images;
    ce = fn::cross_entropy(model(Variable(input)), labels, label_smoothing, mixing);
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
  optimizer.zero_grad();
  const fn::CrossEntropy ce = forward_backward(model, images, labels, label_smoothing);
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
      device_(device),
      ranks_(communicator != nullptr ? communicator->size() : 1) {
  if (communicator != nullptr && (communicator->size() > 1 || device_communicator != nullptr))
    reducer_ = std::make_unique<GradientReducer>(optimizer.parameters(), *communicator,
                                                 GradientReducer::kDefaultBucketBytes, device_communicator);
}

void StepRunner::run(const Tensor& images, const Tensor& labels, int64_t global_images, const fn::Mixing& mixing,
                     bool eager) {
  CYG_CHECK(!stepped_ || (mixing.on() == mixed_ && mixing.cuts() == cut_),
            "a run's steps are all mixed (MixUp), all cut (CutMix) or none");
  mixed_ = mixing.on();
  cut_ = mixing.cuts();
  const bool fits_the_graph = !images_.defined() || images.shape() == images_.shape();
  if (graphs_ == StepGraphs::On && fits_the_graph && !eager) return run_graphed(images, labels, mixing);
  NvtxRange step_range("step");
  stepped_ = true;
  optimizer_.prepare_step();
  if (average_) average_->prepare_update();
  device_part(images, labels, mixing, global_images);
}

void StepRunner::set_weight_average(WeightAverage* average) {
  CYG_CHECK(!stepped_, "the moving average of the weights is set before the first step");
  average_ = average;
}

void StepRunner::set_micro_batches(int64_t micro_batches) {
  CYG_CHECK(micro_batches >= 1, "micro-batches per step: ", micro_batches, ", expected at least 1");
  micro_batches_ = micro_batches;
}

// The loss gradient's seed for a share of the batch (1 for the whole), kept: made once
// per share (a partial batch, micro-batches of two sizes), not filled every step, and at
// an address a captured step keeps.
const Tensor& StepRunner::seed_for(double scale) {
  Tensor& seed = seeds_[scale];
  if (!seed.defined()) seed = Tensor::full({}, scale, DType::F32, device_);
  return seed;
}

// Images [begin, end) of a batch. On a GPU a slice that starts where a fresh allocation
// could not (256 bytes) is copied: cuDNN's algorithms are chosen on aligned buffers, and
// some need aligned data. The slices of 32x32 images in f32 and bf16 are all aligned.
Tensor StepRunner::aligned_slice(const Tensor& images, int64_t begin, int64_t end) const {
  Tensor slice = images.slice(begin, end);
  if (device_.is_cpu() || reinterpret_cast<uintptr_t>(slice.data_ptr()) % 256 == 0) return slice;
  return slice.clone();
}

int64_t StepRunner::parts(int64_t local, int64_t global_images) const {
  const int64_t global = global_images > 0 ? global_images : local;
  return micro_batch_count(micro_batches_, ranks_ > 1 ? global / ranks_ : local);
}

void StepRunner::device_part(const Tensor& images, const Tensor& labels, const fn::Mixing& mixing,
                             int64_t global_images) {
  const int64_t local = labels.numel(), global = global_images > 0 ? global_images : local;
  // Micro-batches: contiguous slices, sizes differing by at most one (as the ranks'
  // slices of a batch), each's gradient scaled by its share of the whole batch and added
  // up; the ranks' sum comes after the last one's backward.
  // Every rank makes as many (a synchronised batchnorm's sums are collectives): the
  // count is the smallest slice's.
  const int64_t parts = this->parts(local, global);
  optimizer_.zero_grad();
  for (int64_t p = 0; p < parts; ++p) {
    const int64_t begin = local * p / parts, end = local * (p + 1) / parts, n = end - begin;
    const bool last = p == parts - 1;
    // Its share of the images whose mean loss the update follows: the ranks' whole batch.
    const Tensor& seed = seed_for(loss_scale(n, reducer_ ? global : local));
    const fn::CrossEntropy ce =
        forward_backward(model_, aligned_slice(images, begin, end), labels.slice(begin, end), label_smoothing_, seed,
                         last ? reducer_.get() : nullptr, mixing.slice(begin, end));
    ring_.add_part(ce, static_cast<int>(p), static_cast<int>(parts), n, local, global);
  }
  NvtxRange range("optimizer");
  optimizer_.apply_step();
  if (average_) average_->apply_update();
}

void StepRunner::give_up_graphs() {
  std::fprintf(stderr, "note: the training step still needed new memory after %d warm-up steps; it runs without "
               "CUDA graphs\n", kMaxWarmUps);
  graph_.reset();
  graphs_ = StepGraphs::Off;
}

void StepRunner::run_graphed(const Tensor& images, const Tensor& labels, const fn::Mixing& mixing) {
  NvtxRange step_range("step");
  if (!graph_) {
    // Captured on a stream the legacy default stream does not order, as PyTorch captures
    // on a side stream: only the graph's events order the step with what the host queued
    // before and after it. (All device work comes from this thread today; the emulated
    // device still refuses default-stream work during any capture, which real CUDA
    // would let run outside the graph.)
    stream_ = std::make_unique<Stream>(device_, /*non_blocking=*/true);
    graph_ = std::make_unique<Graph>(*stream_);
    images_ = Tensor::empty(images.shape(), images.dtype(), device_);
    labels_ = Tensor::empty(labels.shape(), labels.dtype(), device_);
    if (mixing.on())
      mixing_ = {Tensor::empty(labels.shape(), DType::I32, device_), Tensor::empty(labels.shape(), DType::F32, device_),
                 mixing.cuts() ? Tensor::empty(mixing.box.shape(), DType::I32, device_) : Tensor()};
  }
  images_.copy_(images);
  labels_.copy_(labels);
  if (mixing.on()) {
    mixing_.partner.copy_(mixing.partner);
    mixing_.weight.copy_(mixing.weight);
    if (mixing.cuts()) mixing_.box.copy_(mixing.box);
  }
  stepped_ = true;
  optimizer_.prepare_step();
  if (average_) average_->prepare_update();
  auto step = [&] { device_part(images_, labels_, mixing_); };
  if (!settled_) {
    settled_ = graph_->warm_up(step);
    if (!settled_ && ++warm_ups_ == kMaxWarmUps) give_up_graphs();
  } else if (!graph_->captured()) {
    graph_->capture(step);
    graph_->replay();
  } else {
    graph_->replay();
    // What the captured forwards counted on the host (batchnorm's num_batches_tracked):
    // one forward a micro-batch.
    for (int64_t p = micro_batch_count(micro_batches_, labels_.numel()); p > 0; --p) model_.count_replayed_forward();
    ring_.count_replayed_step();
  }
}

}  // namespace cyg::app
