// Gradient buckets, their sums while the backward runs, and the broadcast of a model's
// state.
#include "engine/data_parallel.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <string>

#include "engine/runtime.h"
#include "kernels/error.h"

namespace cyg {

double loss_scale(int64_t local_images, int64_t global_images) {
  CYG_CHECK(local_images >= 0 && global_images > 0 && local_images <= global_images, "a slice of ", local_images,
            " images of a batch of ", global_images);
  return static_cast<double>(local_images) / static_cast<double>(global_images);
}

namespace {

class HostStaged final : public DeviceCommunicator {
 public:
  HostStaged(Communicator& host, Device device) : host_(host), device_(device) {}
  void all_reduce_sum(float* device_data, int64_t count, void* stream) override {
    CYG_CHECK(count >= 0, "all_reduce_sum of ", count, " values");
    staging_.resize(static_cast<size_t>(count));
    const size_t bytes = static_cast<size_t>(count) * sizeof(float);
    DeviceRuntime& rt = runtime_for(device_);
    rt.memcpy(staging_.data(), device_data, bytes, CopyKind::DeviceToHost, stream);
    rt.stream_synchronize(stream);
    host_.all_reduce_sum(staging_.data(), count);
    rt.memcpy(device_data, staging_.data(), bytes, CopyKind::HostToDevice, stream);
    rt.stream_synchronize(stream);  // the host buffer is reused by the next bucket
  }
  std::string name() const override { return host_.name() + " through the host"; }
  // The sums block in the host communicator, whose own timeout watches them.
  void set_timeout(double) override {}

 private:
  Communicator& host_;
  Device device_;
  std::vector<float> staging_;
};

}  // namespace

std::unique_ptr<DeviceCommunicator> host_staged_communicator(Communicator& host, Device device) {
  return std::make_unique<HostStaged>(host, device);
}

GradientReducer::GradientReducer(std::vector<Variable> parameters, Communicator& communicator, int64_t bucket_bytes,
                                 DeviceCommunicator* device)
    : parameters_(std::move(parameters)), communicator_(communicator), device_(device) {
  CYG_CHECK(bucket_bytes > 0, "gradient buckets of ", bucket_bytes, " bytes");
  CYG_CHECK(!parameters_.empty(), "data parallelism over a model without parameters");
  const Device where = parameters_.front().data().device();
  on_device_ = !where.is_cpu();
  CYG_CHECK(!on_device_ || device_ != nullptr, "data parallelism on ", where.str(),
            " needs a device communicator (NCCL, or the host-staged one)");
  int64_t filled = 0, largest = 0;
  bucket_of_.resize(parameters_.size());
  for (size_t k = parameters_.size(); k-- > 0;) {
    const Tensor& value = parameters_[k].data();
    CYG_CHECK(value.dtype() == DType::F32 && value.device() == where, "data parallelism sums f32 gradients on one "
              "device; parameter ", k, " is ", dtype_name(value.dtype()), " on ", value.device().str());
    const int64_t bytes = value.numel() * static_cast<int64_t>(sizeof(float));
    if (buckets_.empty() || (filled > 0 && filled + bytes > bucket_bytes)) {
      buckets_.emplace_back();
      filled = 0;
    }
    buckets_.back().push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    index_of_[parameters_[k].identity()] = k;
    filled += bytes;
    largest = std::max(largest, filled);
  }
  const int64_t largest_count = largest / static_cast<int64_t>(sizeof(float));
  if (on_device_) {
    device_staging_ = Tensor::empty({largest_count}, DType::F32, where);
    // Not ordered with the default stream, on which the backward runs: events alone order
    // the buckets' work after the gradients and the update after the buckets.
    stream_ = std::make_unique<Stream>(where, /*non_blocking=*/true);
    ready_event_ = std::make_unique<Event>(where);
    done_event_ = std::make_unique<Event>(where);
  } else {
    staging_.resize(static_cast<size_t>(largest_count));
  }
  waiting_.resize(buckets_.size());
  started_.resize(buckets_.size());
}

// The stream's work is waited for unless an error is on its way out (a device fault, a
// rank gone): waiting could then hang, and the error is what matters.
GradientReducer::~GradientReducer() {
  if (!on_device_ || std::uncaught_exceptions() > 0) return;
  try {
    stream_->synchronize();
  } catch (...) {
    // A destructor reports nothing; the failure was the step's to report.
  }
}

void GradientReducer::begin() {
  for (size_t b = 0; b < buckets_.size(); ++b) {
    waiting_[b] = static_cast<int64_t>(buckets_[b].size());
    started_[b] = false;
  }
  next_bucket_ = 0;
  started_early_ = 0;
  in_step_ = true;
}

LeafReady GradientReducer::leaf_ready() {
  return [this](const Variable& leaf) { ready(leaf); };
}

void GradientReducer::ready(const Variable& leaf) {
  if (!in_step_) return;
  const auto found = index_of_.find(leaf.identity());
  if (found == index_of_.end()) return;  // not one of the model's parameters
  if (--waiting_[bucket_of_[found->second]] == 0) start_ready_buckets();
}

void GradientReducer::start_ready_buckets() {
  while (next_bucket_ < buckets_.size() && waiting_[next_bucket_] == 0) {
    start(next_bucket_++);
    ++started_early_;
  }
}

void GradientReducer::finish() {
  CYG_CHECK(in_step_, "GradientReducer::finish() without begin()");
  while (next_bucket_ < buckets_.size()) start(next_bucket_++);
  in_step_ = false;
  if (on_device_) {
    // The update waits for the last bucket's copies.
    done_event_->record(*stream_);
    done_event_->block_current_stream();
  }
}

void GradientReducer::all_reduce() {
  begin();
  finish();
}

void GradientReducer::start(size_t bucket) {
  started_[bucket] = true;
  if (communicator_.size() == 1 && device_ == nullptr) return;
  if (on_device_) {
    sum_on_device(buckets_[bucket]);
  } else {
    sum_on_host(buckets_[bucket]);
  }
}

// On the reducer's stream, after the point the backward had reached: packed into one
// buffer, summed there, unpacked; nothing waits for the host (with NCCL).
void GradientReducer::sum_on_device(const std::vector<size_t>& bucket) {
  // Buffers made (or zero-filled) on the backward's stream, before the event.
  for (size_t k : bucket) parameters_[k].ensure_grad();
  ready_event_->record_on_current_stream();
  ready_event_->block(*stream_);
  const StreamGuard on_stream(*stream_);
  int64_t at = 0;
  for (size_t k : bucket) {
    const Tensor& grad = parameters_[k].ensure_grad();
    device_staging_.slice(at, at + grad.numel()).copy_(grad.reshape({grad.numel()}));
    at += grad.numel();
  }
  device_->all_reduce_sum(device_staging_.data<float>(), at, stream_->handle());
  at = 0;
  for (size_t k : bucket) {
    Tensor& grad = parameters_[k].ensure_grad();
    grad.copy_(device_staging_.slice(at, at + grad.numel()).reshape(grad.shape()));
    at += grad.numel();
  }
}

void GradientReducer::sum_on_host(const std::vector<size_t>& bucket) {
  int64_t at = 0;
  for (size_t k : bucket) {
    const Tensor grad = parameters_[k].ensure_grad().contiguous();
    std::memcpy(staging_.data() + at, grad.data<float>(), static_cast<size_t>(grad.numel()) * sizeof(float));
    at += grad.numel();
  }
  communicator_.all_reduce_sum(staging_.data(), at);
  at = 0;
  for (size_t k : bucket) {
    Tensor& grad = parameters_[k].ensure_grad();
    CYG_CHECK(grad.is_contiguous(), "a gradient that is not contiguous");
    std::memcpy(grad.data<float>(), staging_.data() + at, static_cast<size_t>(grad.numel()) * sizeof(float));
    grad.storage()->bump_version();
    at += grad.numel();
  }
}

namespace {
void broadcast_tensors(const nn::NamedTensors& tensors, Communicator& communicator, int root) {
  if (communicator.size() == 1) return;
  for (const auto& [name, tensor] : tensors) {
    Tensor host = tensor.device().is_cpu() && tensor.is_contiguous() ? tensor : tensor.to(Device::cpu()).contiguous();
    communicator.broadcast(host.data_ptr(), static_cast<int64_t>(host.nbytes()), root);
    if (!host.shares_storage(tensor)) {
      Tensor destination = tensor;
      destination.copy_(host);
    }
  }
}
}  // namespace

void broadcast_module(nn::Module& module, Communicator& communicator, int root) {
  broadcast_tensors(module.state_dict(), communicator, root);
}

void broadcast_buffers(nn::Module& module, Communicator& communicator, int root) {
  broadcast_tensors(module.named_buffers(), communicator, root);
}

}  // namespace cyg
