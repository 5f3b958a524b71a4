// What a training step reports, kept on the device so that no step waits for the host:
// the running sums of loss and correct predictions, and each step's loss in a ring that
// is read back once per log interval (one wait for many steps).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/communicator.h"
#include "engine/functional.h"

namespace cyg::app {

class MetricsRing {
 public:
  // `capacity` steps between reads; the sums start from a resumed run's values. With a
  // communicator of several ranks (data parallelism) every read is of the global batch:
  // the sums over the ranks, and each step's loss over its whole batch (the reads are
  // collectives: every rank makes them in the same order). The resumed sums, which are
  // global, are rank 0's to start from.
  MetricsRing(int64_t capacity, Device device, double loss_sum = 0.0, int64_t correct = 0,
              Communicator* communicator = nullptr);

  // The step's loss and correct count, from its cross-entropy over `images` images, a
  // slice of a batch of `global_images` (0: the same).
  void add(const fn::CrossEntropy& ce, int64_t images, int64_t global_images = 0);
  // One part of a step in parts (micro-batches): `part` of `parts`, `images` of the
  // step's `step_images` (this rank's), itself a slice of `global_images` (0: the same).
  // The step counts once, at its last part.
  void add_part(const fn::CrossEntropy& ce, int part, int parts, int64_t images, int64_t step_images,
                int64_t global_images = 0);
  int64_t pending() const { return pending_; }
  bool full() const { return pending_ == capacity_; }
  // The losses of the steps added since the last read, in order; one wait.
  std::vector<float> read_losses();
  // A step whose add() ran on the device without this call (a replayed CUDA graph; never
  // data-parallel: its steps run eagerly).
  void count_replayed_step();

  double loss_sum() const { return global(loss_sum_.item()); }
  double correct() const { return global(correct_sum_.item()); }
  void reset_sums();

 private:
  bool data_parallel() const { return communicator_ != nullptr && communicator_->size() > 1; }
  double global(double local) const;
  void note_images(int64_t images, int64_t global_images);
  Tensor loss_sum_, correct_sum_, ring_, next_slot_;
  int64_t capacity_;
  int64_t pending_ = 0;
  Communicator* communicator_;
  std::vector<double> images_, global_images_;  // of the pending steps (data parallelism)
};

}  // namespace cyg::app
