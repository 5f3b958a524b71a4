// Data parallelism over the ranks of a Communicator (PyTorch's DistributedDataParallel):
// every rank holds the whole model, trains on its slice of each global batch, and before
// the optimizer's update the gradients are summed over the ranks in buckets. Each rank's
// loss is scaled by its share of the global batch (loss_scale), so that the sum is the
// gradient of the global batch's mean loss, also when the slices differ in size (an
// epoch's last batch).
#pragma once
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/autograd.h"
#include "engine/communicator.h"
#include "engine/nn.h"
#include "engine/stream.h"
#include "engine/variable.h"

namespace cyg {

// The factor a rank's mean loss is scaled by before its backward: its images over the
// global batch's.
double loss_scale(int64_t local_images, int64_t global_images);

// Sums over the ranks of buffers in a device's memory through the host: each buffer is
// copied out on its stream, summed over `host`, and copied back. For the emulated
// device, and for GPUs where the build has no NCCL.
std::unique_ptr<DeviceCommunicator> host_staged_communicator(Communicator& host, Device device);

// The gradients of a model's parameters, summed over the ranks bucket by bucket. A step:
//   begin();  backward(loss, seed, reducer.leaf_ready());  finish();
// A bucket is summed as soon as the backward has finished all its gradients and those of
// the buckets before it (buckets start in their order, as DistributedDataParallel's do,
// so every rank issues the same collectives in the same order), while the backward goes
// on; on a device, its copies and sum run on a stream of their own (after
// an event marking where the backward stood), and finish() makes the current stream wait
// for them. On the CPU each bucket is summed when ready, on the host. Every rank starts
// the buckets in the same order (the same graph finishes them in the same order); those
// the backward does not reach are summed by finish().
class GradientReducer {
 public:
  // Parameters are grouped, last first (the order a backward finishes them), into
  // buckets of about bucket_bytes. Gradients on a device need `device` (NCCL, or
  // host_staged_communicator); on the CPU they are summed over `communicator`.
  static constexpr int64_t kDefaultBucketBytes = int64_t(25) << 20;
  GradientReducer(std::vector<Variable> parameters, Communicator& communicator,
                  int64_t bucket_bytes = kDefaultBucketBytes, DeviceCommunicator* device = nullptr);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  void begin();
  // The hook for backward(): a parameter's gradient is final.
  LeafReady leaf_ready();
  // The buckets not started yet, then (on a device) the current stream waits for all.
  // Every parameter's .grad is then the sum over the ranks of theirs (a parameter without
  // a gradient on a rank counts as zeros there).
  void finish();
  // begin() and finish() at once: every bucket now.
  void all_reduce();

  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Buckets started from the hook during the last backward (the rest by finish()).
  int64_t started_early() const { return started_early_; }

 private:
  void ready(const Variable& leaf);
  void start_ready_buckets();
  void start(size_t bucket);
  void sum_on_host(const std::vector<size_t>& bucket);
  void sum_on_device(const std::vector<size_t>& bucket);

  std::vector<Variable> parameters_;
  Communicator& communicator_;
  DeviceCommunicator* device_ = nullptr;
  bool on_device_ = false;
  std::vector<std::vector<size_t>> buckets_;  // indices into parameters_
  std::vector<size_t> bucket_of_;             // parameter index -> bucket
  std::unordered_map<const void*, size_t> index_of_;
  std::vector<int64_t> waiting_;  // per bucket: gradients not final yet this step
  std::vector<bool> started_;
  size_t next_bucket_ = 0;  // buckets start in their order, the same on every rank
  int64_t started_early_ = 0;
  bool in_step_ = false;
  std::vector<float> staging_;  // one bucket, on the host (CPU gradients)
  Tensor device_staging_;       // one bucket, on the device
  std::unique_ptr<Stream> stream_;      // the buckets' copies and sums (device)
  std::unique_ptr<Event> ready_event_;  // where the backward stood when a bucket started
  std::unique_ptr<Event> done_event_;   // after the last bucket
};

// Rank `root`'s parameters and buffers on every rank (the start of a run: every rank
// begins from the same weights, as DistributedDataParallel does).
void broadcast_module(nn::Module& module, Communicator& communicator, int root = 0);
// Rank `root`'s buffers (batchnorm's running statistics) on every rank: without
// synchronised batchnorm each rank's follow its own slices, and evaluation and the
// checkpoint take rank 0's (DistributedDataParallel's broadcast_buffers).
void broadcast_buffers(nn::Module& module, Communicator& communicator, int root = 0);

}  // namespace cyg
