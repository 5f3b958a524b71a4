// Data parallelism over the ranks of a Communicator (PyTorch's DistributedDataParallel,
// without its hooks): every rank holds the whole model, trains on its slice of each
// global batch, and before the optimizer's update the gradients are summed over the
// ranks in buckets. Each rank's loss is scaled by its share of the global batch
// (loss_scale), so that the sum is the gradient of the global batch's mean loss, also
// when the slices differ in size (an epoch's last batch).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/communicator.h"
#include "engine/nn.h"
#include "engine/variable.h"

namespace cyg {

// The factor a rank's mean loss is scaled by before its backward: its images over the
// global batch's.
double loss_scale(int64_t local_images, int64_t global_images);

class GradientReducer {
 public:
  // Parameters are grouped, last first (the order a backward finishes them), into
  // buckets of about bucket_bytes; each bucket is one all-reduce.
  static constexpr int64_t kDefaultBucketBytes = int64_t(25) << 20;
  // device: sums the buckets of gradients on a GPU in its memory (NCCL), on the current
  // stream; without it, gradients are summed on the host over `communicator`.
  GradientReducer(std::vector<Variable> parameters, Communicator& communicator,
                  int64_t bucket_bytes = kDefaultBucketBytes, DeviceCommunicator* device = nullptr);

  // Every parameter's .grad becomes the sum over the ranks of theirs (a parameter
  // without a gradient on a rank counts as zeros there).
  void all_reduce();
  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }

 private:
  std::vector<Variable> parameters_;
  Communicator& communicator_;
  std::vector<std::vector<size_t>> buckets_;  // indices into parameters_
  std::vector<float> staging_;                 // one bucket, on the host
  DeviceCommunicator* device_;
  Tensor device_staging_;  // one bucket, on the GPU (with device_)

  void all_reduce_on_host(const std::vector<size_t>& bucket);
  void all_reduce_on_device(const std::vector<size_t>& bucket);
};

// Rank `root`'s parameters and buffers on every rank (the start of a run: every rank
// begins from the same weights, as DistributedDataParallel does).
void broadcast_module(nn::Module& module, Communicator& communicator, int root = 0);
// Rank `root`'s buffers (batchnorm's running statistics) on every rank: without
// synchronised batchnorm each rank's follow its own slices, and evaluation and the
// checkpoint take rank 0's (DistributedDataParallel's broadcast_buffers).
void broadcast_buffers(nn::Module& module, Communicator& communicator, int root = 0);

}  // namespace cyg
