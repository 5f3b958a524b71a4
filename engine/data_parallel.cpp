// Gradient buckets and the broadcast of a model's state.
#include "engine/data_parallel.h"

#include <algorithm>
#include <cstring>

#include "engine/stream.h"
#include "kernels/error.h"

namespace cyg {

double loss_scale(int64_t local_images, int64_t global_images) {
  CYG_CHECK(local_images >= 0 && global_images > 0 && local_images <= global_images, "a slice of ", local_images,
            " images of a batch of ", global_images);
  return static_cast<double>(local_images) / static_cast<double>(global_images);
}

GradientReducer::GradientReducer(std::vector<Variable> parameters, Communicator& communicator, int64_t bucket_bytes,
                                 DeviceCommunicator* device)
    : parameters_(std::move(parameters)), communicator_(communicator), device_(device) {
  CYG_CHECK(bucket_bytes > 0, "gradient buckets of ", bucket_bytes, " bytes");
  int64_t filled = 0, largest = 0;
  for (size_t k = parameters_.size(); k-- > 0;) {
    const Tensor& value = parameters_[k].data();
    CYG_CHECK(value.dtype() == DType::F32, "data parallelism sums f32 gradients; parameter ", k, " is ",
              dtype_name(value.dtype()));
    const int64_t bytes = value.numel() * static_cast<int64_t>(sizeof(float));
    if (buckets_.empty() || (filled > 0 && filled + bytes > bucket_bytes)) {
      buckets_.emplace_back();
      filled = 0;
    }
    buckets_.back().push_back(k);
    filled += bytes;
    largest = std::max(largest, filled);
  }
  const int64_t largest_count = largest / static_cast<int64_t>(sizeof(float));
  const bool on_gpu = !parameters_.empty() && parameters_.front().data().device().is_cuda();
  if (device_ != nullptr && on_gpu) {
    device_staging_ = Tensor::empty({largest_count}, DType::F32, parameters_.front().data().device());
  } else {
    device_ = nullptr;
    staging_.resize(static_cast<size_t>(largest_count));
  }
}

void GradientReducer::all_reduce() {
  if (communicator_.size() == 1 && device_ == nullptr) return;
  for (const std::vector<size_t>& bucket : buckets_) {
    if (device_ != nullptr) {
      all_reduce_on_device(bucket);
    } else {
      all_reduce_on_host(bucket);
    }
  }
}

// Packed into one buffer on the GPU, summed there by NCCL on the current stream, and
// unpacked: copies queued on the same stream, so nothing waits for the host.
void GradientReducer::all_reduce_on_device(const std::vector<size_t>& bucket) {
  int64_t at = 0;
  for (size_t k : bucket) {
    const Tensor& grad = parameters_[k].ensure_grad();
    device_staging_.slice(at, at + grad.numel()).copy_(grad.reshape({grad.numel()}));
    at += grad.numel();
  }
  device_->all_reduce_sum(device_staging_.data<float>(), at, current_stream(device_staging_.device()));
  at = 0;
  for (size_t k : bucket) {
    Tensor& grad = parameters_[k].ensure_grad();
    grad.copy_(device_staging_.slice(at, at + grad.numel()).reshape(grad.shape()));
    at += grad.numel();
  }
}

void GradientReducer::all_reduce_on_host(const std::vector<size_t>& bucket) {
  // Pack: each gradient after the last, on the host.
  int64_t at = 0;
  for (size_t k : bucket) {
    const Tensor& grad = parameters_[k].ensure_grad();
    const Tensor host = grad.device().is_cpu() ? grad.contiguous() : grad.to(Device::cpu()).contiguous();
    std::memcpy(staging_.data() + at, host.data<float>(), static_cast<size_t>(host.numel()) * sizeof(float));
    at += host.numel();
  }
  communicator_.all_reduce_sum(staging_.data(), at);
  // Unpack into the gradients.
  at = 0;
  for (size_t k : bucket) {
    Tensor& grad = parameters_[k].ensure_grad();
    if (grad.device().is_cpu() && grad.is_contiguous()) {
      std::memcpy(grad.data<float>(), staging_.data() + at, static_cast<size_t>(grad.numel()) * sizeof(float));
      grad.storage()->bump_version();
    } else {
      const std::vector<float> values(staging_.begin() + at, staging_.begin() + at + grad.numel());
      grad.copy_(Tensor::from_vector(values, grad.shape()));
    }
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
