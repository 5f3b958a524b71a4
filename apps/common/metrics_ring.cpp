#include "apps/common/metrics_ring.h"

#include "engine/ops.h"
#include "kernels/error.h"

namespace cyg::app {

namespace {
bool starts_from_resumed_sums(const Communicator* c) { return c == nullptr || c->rank() == 0; }
}  // namespace

MetricsRing::MetricsRing(int64_t capacity, Device device, double loss_sum, int64_t correct,
                         Communicator* communicator)
    : loss_sum_(Tensor::full({1}, starts_from_resumed_sums(communicator) ? loss_sum : 0.0, DType::F32, device)),
      correct_sum_(Tensor::full({1}, starts_from_resumed_sums(communicator) ? static_cast<double>(correct) : 0.0,
                                DType::I64, device)),
      ring_(Tensor::zeros({capacity}, DType::F32, device)),
      next_slot_(Tensor::zeros({1}, DType::I64, device)),
      capacity_(capacity),
      communicator_(communicator) {
  CYG_CHECK(capacity >= 1, "a metrics ring of ", capacity, " steps");
}

void MetricsRing::note_images(int64_t images, int64_t global_images) {
  if (!data_parallel()) return;
  images_.push_back(static_cast<double>(images));
  global_images_.push_back(static_cast<double>(global_images > 0 ? global_images : images));
}

void MetricsRing::add(const fn::CrossEntropy& ce, int64_t images, int64_t global_images) {
  add_part(ce, 0, 1, images, images, global_images);
}

void MetricsRing::add_part(const fn::CrossEntropy& ce, int part, int parts, int64_t images, int64_t step_images,
                           int64_t global_images) {
  CYG_CHECK(!full(), "the metrics ring is full: read it first");
  CYG_CHECK(parts >= 1 && part >= 0 && part < parts, "part ", part, " of ", parts);
  accumulate_metrics(loss_sum_, correct_sum_, ring_, next_slot_, ce.loss.data(), ce.correct,
                     static_cast<float>(images), MetricsPart{part, parts, static_cast<float>(step_images)});
  if (part == parts - 1) {
    note_images(step_images, global_images);
    ++pending_;
  }
}

void MetricsRing::count_replayed_step() {
  CYG_CHECK(!full(), "the metrics ring is full: read it first");
  CYG_CHECK(!data_parallel(), "a replayed step has no per-rank image counts: data-parallel steps run eagerly");
  ++pending_;
}

double MetricsRing::global(double local) const {
  if (!data_parallel()) return local;
  communicator_->all_reduce_sum(&local, 1);
  return local;
}

std::vector<float> MetricsRing::read_losses() {
  if (pending_ == 0) return {};
  std::vector<float> losses = ring_.to_vector();
  losses.resize(static_cast<size_t>(pending_));
  if (data_parallel()) {
    // Each step's loss over its global batch: the ranks' mean losses weighted by their
    // shares of it.
    std::vector<double> weighted(losses.size());
    for (size_t k = 0; k < losses.size(); ++k)
      weighted[k] = static_cast<double>(losses[k]) * images_[k] / global_images_[k];
    communicator_->all_reduce_sum(weighted.data(), static_cast<int64_t>(weighted.size()));
    for (size_t k = 0; k < losses.size(); ++k) losses[k] = static_cast<float>(weighted[k]);
    images_.clear();
    global_images_.clear();
  }
  next_slot_.fill_(0.0);
  pending_ = 0;
  return losses;
}

void MetricsRing::reset_sums() {
  loss_sum_.fill_(0.0);
  correct_sum_.fill_(0.0);
}

}  // namespace cyg::app
