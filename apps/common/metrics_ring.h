// What a training step reports, kept on the device so that no step waits for the host:
// the running sums of loss and correct predictions, and each step's loss in a ring that
// is read back once per log interval (one wait for many steps).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/functional.h"

namespace cyg::app {

class MetricsRing {
 public:
  // `capacity` steps between reads; the sums start from a resumed run's values.
  MetricsRing(int64_t capacity, Device device, double loss_sum = 0.0, int64_t correct = 0);

  // The step's loss and correct count, from its cross-entropy over `images` images.
  void add(const fn::CrossEntropy& ce, int64_t images);
  int64_t pending() const { return pending_; }
  bool full() const { return pending_ == capacity_; }
  // The losses of the steps added since the last read, in order; one wait.
  std::vector<float> read_losses();
  // A step whose add() ran on the device without this call (a replayed CUDA graph).
  void count_replayed_step();

  double loss_sum() const { return loss_sum_.item(); }
  double correct() const { return correct_sum_.item(); }
  void reset_sums();

 private:
  Tensor loss_sum_, correct_sum_, ring_, next_slot_;
  int64_t capacity_;
  int64_t pending_ = 0;
};

}  // namespace cyg::app
