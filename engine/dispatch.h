// The one place that picks an implementation: kernels_for(tensor) gives the kernel
// table of the tensor's backend (today its device; the key can grow the dtype and the
// memory format). Ops check their arguments, then call one entry; they never branch on
// the device. Each backend fills its table once: engine/backend_cpu.cpp (the reference
// kernels, kernels/cpu/), and engine/backend_gpu.inc, compiled by backend_cuda.cpp
// (kernels/cuda/ on the current stream, cuDNN, cuBLAS) and backend_emu.cpp (the same on
// the emulated device). Every
// entry has the same signature on every backend.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "kernels/batch.h"
#include "kernels/batchnorm.h"
#include "kernels/conv.h"
#include "kernels/copy.h"
#include "kernels/error.h"
#include "kernels/loss.h"
#include "kernels/metrics.h"
#include "kernels/optim.h"

namespace cyg {

class Tensor;
class MultiTensorTable;

// One entry of a kernel table: a function, or nothing yet (a backend that does not have
// this kernel), which is an error naming the kernel when called. Each entry enrols in
// its table's list, so a table can say which kernels it lacks.
class KernelEntry {
 public:
  KernelEntry(std::vector<const KernelEntry*>& table, const char* name) : name_(name) { table.push_back(this); }
  KernelEntry(const KernelEntry&) = delete;
  KernelEntry& operator=(const KernelEntry&) = delete;
  const char* name() const { return name_; }
  virtual bool available() const = 0;

 protected:
  ~KernelEntry() = default;
  const char* name_;
};

template <typename Signature>
class Kernel;

template <typename R, typename... Args>
class Kernel<R(Args...)> final : public KernelEntry {
 public:
  using KernelEntry::KernelEntry;
  // Registration: a function or a captureless lambda.
  template <typename F>
  Kernel& operator=(F fn) {
    fn_ = fn;
    return *this;
  }
  R operator()(Args... args) const {
    CYG_CHECK(fn_ != nullptr, "kernel '", name_, "' is not available on this device");
    return fn_(args...);
  }
  bool available() const override { return fn_ != nullptr; }

 private:
  R (*fn_)(Args...) = nullptr;
};

// Every kernel the engine calls, by family. Pointers are raw device (or host) memory of
// the table's backend; shapes are element counts. A backend may use scratch memory of
// its own (cuDNN workspaces, reduction partials) inside an entry.
struct Kernels {
  const char* backend;
  std::vector<const KernelEntry*> entries;  // every kernel below, in order

  // Memory: fill with a bit pattern, dense and strided copies, f32 <-> bf16.
  Kernel<void(void* dst, int64_t n, int elem_size, uint64_t bits)> fill{entries, "fill"};
  Kernel<void(void* dst, const void* src, size_t bytes)> copy_dense{entries, "copy_dense"};
  Kernel<void(const void* src, void* dst, int64_t n, int elem_size, const StridedLayout& layout)> copy_strided{
      entries, "copy_strided"};
  Kernel<void(const float* x, uint16_t* y, int64_t n)> cast_f32_to_bf16{entries, "cast_f32_to_bf16"};
  Kernel<void(const uint16_t* x, float* y, int64_t n)> cast_bf16_to_f32{entries, "cast_bf16_to_f32"};

  // Element-wise.
  Kernel<void(const float* a, const float* b, float* y, int64_t n)> add{entries, "add"};
  Kernel<void(float alpha, const float* x, float* y, int64_t n)> axpy{entries, "axpy"};
  Kernel<void(float alpha, const float* x, float* y, int64_t n)> scale{entries, "scale"};
  Kernel<void(int64_t* counter, int64_t by)> increment{entries, "increment"};
  Kernel<void(const float* x, float* y, int64_t n)> relu_forward{entries, "relu_forward"};
  Kernel<void(const float* dy, const float* y, float* dx, int64_t n)> relu_backward{entries, "relu_backward"};

  // Reductions (to one value, or over the middle axis of [outer, reduced, inner]).
  Kernel<void(const float* x, int64_t n, float* out)> sum{entries, "sum"};
  Kernel<void(const float* x, int64_t n, float* out)> mean{entries, "mean"};
  Kernel<void(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out)> sum_dim{entries, "sum_dim"};
  Kernel<void(const float* x, int64_t outer, int64_t reduced, int64_t inner, float* out)> mean_dim{entries, "mean_dim"};
  // Each chunk's sum, sum of squares about a shift and count at or below a threshold
  // (kernels/reduce.h).
  Kernel<void(const float* x, int64_t n, float shift, float threshold, float* chunks)> moments{entries, "moments"};
  Kernel<void(const uint16_t* x, int64_t n, float shift, float threshold, float* chunks)> moments_bf16{
      entries, "moments_bf16"};
  // Counts of values in equal bins over [lo, hi], added to counts (kernels/reduce.h).
  Kernel<void(const float* x, int64_t n, float lo, float hi, int bins, int64_t* counts)> histogram{entries,
                                                                                                    "histogram"};
  Kernel<void(const uint16_t* x, int64_t n, float lo, float hi, int bins, int64_t* counts)> histogram_bf16{
      entries, "histogram_bf16"};

  // Training metrics kept on the device (kernels/metrics.h).
  Kernel<void(float* loss_sum, int64_t* correct_sum, float* step_losses, int64_t* next_slot, int64_t capacity,
              const float* loss, const int64_t* correct, float count, MetricsPart part)>
      accumulate_metrics{entries, "accumulate_metrics"};

  // Convolution (bias may be null) and the bias gradient over [outer, C, inner].
  Kernel<void(const float* x, const float* w, const float* bias, const Conv2dShape& s, float* y)> conv2d_forward{
      entries, "conv2d_forward"};
  Kernel<void(const float* dy, const float* w, const Conv2dShape& s, float* dx)> conv2d_backward_data{
      entries, "conv2d_backward_data"};
  Kernel<void(const float* dy, const float* x, const Conv2dShape& s, float* dw)> conv2d_backward_filter{
      entries, "conv2d_backward_filter"};
  Kernel<void(const float* dy, int64_t outer, int64_t C, int64_t inner, float* db)> bias_grad{entries, "bias_grad"};

  // Linear, y = x w^T + bias; the backward writes the gradients that are not null.
  Kernel<void(const float* x, const float* w, const float* bias, int64_t N, int64_t in, int64_t out, float* y)>
      linear_forward{entries, "linear_forward"};
  Kernel<void(const float* dy, const float* x, const float* w, int64_t N, int64_t in, int64_t out, float* dx,
              float* dw, float* db)>
      linear_backward{entries, "linear_backward"};

  // Batch normalisation, with its fused epilogue (kernels/batchnorm.h says what each
  // argument may be).
  Kernel<void(const float* x, const float* gamma, const float* beta, int64_t N, int64_t C, int64_t HW, float eps,
              float momentum, float* y, float* save_mean, float* save_invstd, float* running_mean,
              float* running_var, BatchNormFusion<float> fusion)>
      batchnorm_forward_train{entries, "batchnorm_forward_train"};
  Kernel<void(const float* x, const float* gamma, const float* beta, const float* running_mean,
              const float* running_var, int64_t N, int64_t C, int64_t HW, float eps, float* y,
              BatchNormFusion<float> fusion)>
      batchnorm_forward_eval{entries, "batchnorm_forward_eval"};
  Kernel<void(const float* dy, const float* x, const float* gamma, const float* save_mean, const float* save_invstd,
              int64_t N, int64_t C, int64_t HW, float* dx, float* dgamma, float* dbeta,
              BatchNormBackwardFusion<float> fusion)>
      batchnorm_backward{entries, "batchnorm_backward"};
  Kernel<void(const float* dy, const float* x, const float* gamma, const float* running_mean,
              const float* running_var, int64_t N, int64_t C, int64_t HW, float eps, float* dx, float* dgamma,
              float* dbeta, BatchNormBackwardFusion<float> fusion)>
      batchnorm_backward_eval{entries, "batchnorm_backward_eval"};

  // bf16 activations (precision bf16, as PyTorch's bf16 autocast): the kernels above
  // with activations held as bf16 bits and the math in fp32; parameters, statistics,
  // gradients of parameters and the optimizer stay f32. The linear layer's output (the
  // logits) is f32; its backward rounds dy to bf16 as the autocast's cast back would.
  Kernel<void(const uint16_t* a, const uint16_t* b, uint16_t* y, int64_t n)> add_bf16{entries, "add_bf16"};
  Kernel<void(const uint16_t* x, const uint16_t* w, const Conv2dShape& s, uint16_t* y)> conv2d_forward_bf16{
      entries, "conv2d_forward_bf16"};
  Kernel<void(const uint16_t* dy, const uint16_t* w, const Conv2dShape& s, uint16_t* dx)> conv2d_backward_data_bf16{
      entries, "conv2d_backward_data_bf16"};
  Kernel<void(const uint16_t* dy, const uint16_t* x, const Conv2dShape& s, uint16_t* dw)>
      conv2d_backward_filter_bf16{entries, "conv2d_backward_filter_bf16"};
  Kernel<void(const uint16_t* x, const uint16_t* w, const float* bias, int64_t N, int64_t in, int64_t out, float* y)>
      linear_forward_bf16{entries, "linear_forward_bf16"};
  Kernel<void(const float* dy, const uint16_t* x, const uint16_t* w, int64_t N, int64_t in, int64_t out, uint16_t* dx,
              float* dw, float* db)>
      linear_backward_bf16{entries, "linear_backward_bf16"};
  Kernel<void(const uint16_t* x, const float* gamma, const float* beta, int64_t N, int64_t C, int64_t HW, float eps,
              float momentum, uint16_t* y, float* save_mean, float* save_invstd, float* running_mean,
              float* running_var, BatchNormFusion<uint16_t> fusion)>
      batchnorm_forward_train_bf16{entries, "batchnorm_forward_train_bf16"};
  Kernel<void(const uint16_t* x, const float* gamma, const float* beta, const float* running_mean,
              const float* running_var, int64_t N, int64_t C, int64_t HW, float eps, uint16_t* y,
              BatchNormFusion<uint16_t> fusion)>
      batchnorm_forward_eval_bf16{entries, "batchnorm_forward_eval_bf16"};
  Kernel<void(const uint16_t* dy, const uint16_t* x, const float* gamma, const float* save_mean,
              const float* save_invstd, int64_t N, int64_t C, int64_t HW, uint16_t* dx, float* dgamma, float* dbeta,
              BatchNormBackwardFusion<uint16_t> fusion)>
      batchnorm_backward_bf16{entries, "batchnorm_backward_bf16"};
  Kernel<void(const uint16_t* dy, const uint16_t* x, const float* gamma, const float* running_mean,
              const float* running_var, int64_t N, int64_t C, int64_t HW, float eps, uint16_t* dx, float* dgamma,
              float* dbeta, BatchNormBackwardFusion<uint16_t> fusion)>
      batchnorm_backward_eval_bf16{entries, "batchnorm_backward_eval_bf16"};
  Kernel<void(const uint16_t* x, int64_t N, int64_t C, int64_t H, int64_t W, uint16_t* y)>
      global_avg_pool_forward_bf16{entries, "global_avg_pool_forward_bf16"};
  Kernel<void(const uint16_t* dy, int64_t N, int64_t C, int64_t H, int64_t W, uint16_t* dx)>
      global_avg_pool_backward_bf16{entries, "global_avg_pool_backward_bf16"};

  // Global average pooling [N, C, H, W] -> [N, C].
  Kernel<void(const float* x, int64_t N, int64_t C, int64_t H, int64_t W, float* y)> global_avg_pool_forward{
      entries, "global_avg_pool_forward"};
  Kernel<void(const float* dy, int64_t N, int64_t C, int64_t H, int64_t W, float* dx)> global_avg_pool_backward{
      entries, "global_avg_pool_backward"};

  // Softmax cross-entropy with the correct count; the backward reads the upstream
  // gradient where it is (device memory on a GPU: no synchronisation in the step).
  // With MixUp's targets where the LabelMix is on (kernels/loss.h).
  Kernel<void(const float* logits, const int32_t* labels, int64_t N, int64_t K, float label_smoothing, float* loss,
              int64_t* correct, float* row_logsumexp, LabelMix mix)>
      cross_entropy_forward{entries, "cross_entropy_forward"};
  Kernel<void(const float* logits, const int32_t* labels, const float* row_logsumexp, int64_t N, int64_t K,
              float label_smoothing, const float* grad_loss, float* dlogits, LabelMix mix)>
      cross_entropy_backward{entries, "cross_entropy_backward"};
  // MixUp's blend of a batch's images (kernels/mix.h).
  Kernel<void(const float* x, const int32_t* partner, const float* weight, int64_t N, int64_t image_size, float* y)>
      mix_images{entries, "mix_images"};
  // CutMix's paste of each image's box from its partner (kernels/mix.h).
  Kernel<void(const float* x, const int32_t* partner, const int32_t* box, int64_t N, int64_t C, int64_t H, int64_t W,
              int channels_last, float* y)>
      cutmix_images{entries, "cutmix_images"};

  // A training batch from the u8 dataset (kernels/batch.h).
  Kernel<void(const uint8_t* images, const int32_t* labels, const int64_t* indices, int64_t batch, int64_t C,
              int64_t H, int64_t W, const float* mean, const float* inv_std, BatchAugment augment, uint64_t seed,
              uint64_t sample_counter_base, int channels_last, float* out, int32_t* out_labels)>
      assemble_batch{entries, "assemble_batch"};

  // One fused optimizer update of every tensor of the table, with the table's
  // hyperparameters; on a device, from what upload_tensor_table put in its memory.
  Kernel<void(MultiTensorTable& tensors)> upload_tensor_table{entries, "upload_tensor_table"};
  Kernel<void(const MultiTensorTable& tensors)> sgd_step{entries, "sgd_step"};
  Kernel<void(const MultiTensorTable& tensors)> adam_step{entries, "adam_step"};
  // The weights' moving average (an EmaHyper table): each slot's state1 moves toward its
  // param (kernels/optim.h).
  Kernel<void(const MultiTensorTable& tensors)> ema_step{entries, "ema_step"};
  // Gradient clipping over the table's gradients: out[1] = their global L2 norm, out[0]
  // = the factor for max_norm (kernels/optim.h), both in the device's memory.
  Kernel<void(const MultiTensorTable& tensors, float max_norm, float* out)> grad_norm_clip{entries,
                                                                                           "grad_norm_clip"};

  // Channels-last (NHWC) activations, f32, where a backend has them: the same contracts
  // with x, y, dy, dx (and a fused residual) in NHWC; weights stay OIHW, pooled outputs
  // [N, C]. Optional and all or nothing: ops use them where has_channels_last() and
  // otherwise run on NCHW copies, so a backend without them is slower, never wrong.
  // conv2d uses them only without a bias (the bias gradient kernel is NCHW).
  std::vector<const KernelEntry*> optional_entries;
  Kernel<void(const float* x, const float* w, const float* bias, const Conv2dShape& s, float* y)>
      conv2d_forward_nhwc{optional_entries, "conv2d_forward_nhwc"};
  Kernel<void(const float* dy, const float* w, const Conv2dShape& s, float* dx)> conv2d_backward_data_nhwc{
      optional_entries, "conv2d_backward_data_nhwc"};
  Kernel<void(const float* dy, const float* x, const Conv2dShape& s, float* dw)> conv2d_backward_filter_nhwc{
      optional_entries, "conv2d_backward_filter_nhwc"};
  decltype(batchnorm_forward_train) batchnorm_forward_train_nhwc{optional_entries, "batchnorm_forward_train_nhwc"};
  decltype(batchnorm_forward_eval) batchnorm_forward_eval_nhwc{optional_entries, "batchnorm_forward_eval_nhwc"};
  decltype(batchnorm_backward) batchnorm_backward_nhwc{optional_entries, "batchnorm_backward_nhwc"};
  decltype(batchnorm_backward_eval) batchnorm_backward_eval_nhwc{optional_entries, "batchnorm_backward_eval_nhwc"};
  decltype(global_avg_pool_forward) global_avg_pool_forward_nhwc{optional_entries, "global_avg_pool_forward_nhwc"};
  decltype(global_avg_pool_backward) global_avg_pool_backward_nhwc{optional_entries,
                                                                    "global_avg_pool_backward_nhwc"};
  // Whether this backend runs a whole ResNet step channels-last in f32.
  bool has_channels_last() const;

  // bf16 channels-last (bf16 autocast with NHWC activations, the GPU's fast path): the
  // bf16 entries above with x, y, dy, dx (and a fused residual) NHWC, and the
  // convolutions' filters and filter gradients in cuDNN's KRSC order ([OC, KH, KW, C],
  // a channels-last [OC, C, KH, KW] tensor), which its NHWC kernels read as they are.
  // Optional and all or nothing, like the f32 ones.
  std::vector<const KernelEntry*> optional_bf16_entries;
  decltype(conv2d_forward_bf16) conv2d_forward_nhwc_bf16{optional_bf16_entries, "conv2d_forward_nhwc_bf16"};
  decltype(conv2d_backward_data_bf16) conv2d_backward_data_nhwc_bf16{optional_bf16_entries,
                                                                     "conv2d_backward_data_nhwc_bf16"};
  // dx += the data gradient, in the convolution's own pass (GradientSinks::accumulator).
  decltype(conv2d_backward_data_bf16) conv2d_backward_data_nhwc_bf16_accumulate{
      optional_bf16_entries, "conv2d_backward_data_nhwc_bf16_accumulate"};
  decltype(conv2d_backward_filter_bf16) conv2d_backward_filter_nhwc_bf16{optional_bf16_entries,
                                                                         "conv2d_backward_filter_nhwc_bf16"};
  decltype(batchnorm_forward_train_bf16) batchnorm_forward_train_nhwc_bf16{optional_bf16_entries,
                                                                           "batchnorm_forward_train_nhwc_bf16"};
  decltype(batchnorm_forward_eval_bf16) batchnorm_forward_eval_nhwc_bf16{optional_bf16_entries,
                                                                         "batchnorm_forward_eval_nhwc_bf16"};
  decltype(batchnorm_backward_bf16) batchnorm_backward_nhwc_bf16{optional_bf16_entries,
                                                                 "batchnorm_backward_nhwc_bf16"};
  decltype(batchnorm_backward_eval_bf16) batchnorm_backward_eval_nhwc_bf16{optional_bf16_entries,
                                                                           "batchnorm_backward_eval_nhwc_bf16"};
  decltype(global_avg_pool_forward_bf16) global_avg_pool_forward_nhwc_bf16{optional_bf16_entries,
                                                                           "global_avg_pool_forward_nhwc_bf16"};
  decltype(global_avg_pool_backward_bf16) global_avg_pool_backward_nhwc_bf16{optional_bf16_entries,
                                                                             "global_avg_pool_backward_nhwc_bf16"};
  // A KRSC bf16 filter gradient (of a filter padded to krsc_C channels) widened into the
  // OIHW f32 .grad (kernels/cast.h).
  Kernel<void(const uint16_t* krsc, float* oihw, int64_t OC, int64_t C, int64_t area, int64_t krsc_C)>
      widen_krsc_filter{optional_bf16_entries, "widen_krsc_filter"};
  // Channels-last rows of C values into rows of padded_C bf16 values, zero past C: a
  // convolution's input (f32 or bf16) and filter padded for cuDNN's tensor cores.
  Kernel<void(const float* src, uint16_t* dst, int64_t rows, int64_t C, int64_t padded_C)> pad_channels_f32_to_bf16{
      optional_bf16_entries, "pad_channels_f32_to_bf16"};
  Kernel<void(const uint16_t* src, uint16_t* dst, int64_t rows, int64_t C, int64_t padded_C)> pad_channels_bf16{
      optional_bf16_entries, "pad_channels_bf16"};
  bool has_channels_last_bf16() const;
  // Whether activations of `dtype` (f32, or bf16 under autocast) run channels-last here.
  bool has_channels_last(DType dtype) const;

  explicit Kernels(const char* backend_name) : backend(backend_name) {}
  Kernels(const Kernels&) = delete;
  // The names of the kernels this backend has not registered.
  std::vector<std::string> missing() const;
};

// The backends' tables, each filled once on first use. In a build without CUDA,
// cuda_kernels() throws an error saying so. emu_kernels() is the CUDA table's twin for
// the emulated device (engine/backend_gpu.inc).
const Kernels& cpu_kernels();
const Kernels& cuda_kernels();
const Kernels& emu_kernels();

// The kernels for tensors on `device`, or for the device of `t`.
const Kernels& kernels_for(Device device);
const Kernels& kernels_for(const Tensor& t);

}  // namespace cyg
