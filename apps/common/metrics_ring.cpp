#include "apps/common/metrics_ring.h"

#include "engine/ops.h"
#include "kernels/error.h"

namespace cyg::app {

MetricsRing::MetricsRing(int64_t capacity, Device device, double loss_sum, int64_t correct)
    : loss_sum_(Tensor::full({1}, loss_sum, DType::F32, device)),
      correct_sum_(Tensor::full({1}, static_cast<double>(correct), DType::I64, device)),
      ring_(Tensor::zeros({capacity}, DType::F32, device)),
      next_slot_(Tensor::zeros({1}, DType::I64, device)),
      capacity_(capacity) {
  CYG_CHECK(capacity >= 1, "a metrics ring of ", capacity, " steps");
}

void MetricsRing::add(const fn::CrossEntropy& ce, int64_t images) {
  CYG_CHECK(!full(), "the metrics ring is full: read it first");
  accumulate_metrics(loss_sum_, correct_sum_, ring_, next_slot_, ce.loss.data(), ce.correct,
                     static_cast<float>(images));
  ++pending_;
}

void MetricsRing::count_replayed_step() {
  CYG_CHECK(!full(), "the metrics ring is full: read it first");
  ++pending_;
}

std::vector<float> MetricsRing::read_losses() {
  if (pending_ == 0) return {};
  std::vector<float> losses = ring_.to_vector();
  losses.resize(static_cast<size_t>(pending_));
  next_slot_.fill_(0.0);
  pending_ = 0;
  return losses;
}

void MetricsRing::reset_sums() {
  loss_sum_.fill_(0.0);
  correct_sum_.fill_(0.0);
}

}  // namespace cyg::app
