// Differentiable ops on Variables: each computes its output with the kernels of the
// inputs' device and records its backward on the tape (engine/autograd.h). Activations
// are NCHW, f32, or bf16 under bf16 autocast (below).
#pragma once
#include "engine/communicator.h"
#include <cstdint>
#include <string>

#include "engine/autograd.h"
#include "kernels/conv.h"

namespace cyg::fn {

Variable add(const Variable& a, const Variable& b);  // same shapes (the residual add)
Variable relu(const Variable& x);
Variable sum(const Variable& x);   // 0-D
Variable mean(const Variable& x);  // 0-D
Variable reshape(const Variable& x, const Shape& shape);
Variable flatten(const Variable& x);  // [N, ...] -> [N, rest]

// Whether CUDA convolutions may use TF32 tensor cores (default: yes, as in PyTorch).
// No effect on the CPU or in a build without CUDA.
void set_allow_tf32(bool allow);
// Whether CUDA convolutions must be bit-reproducible (deterministic cuDNN algorithms).
// Our own kernels always are: their reductions have a fixed order and no float atomics.
void set_deterministic(bool deterministic);
// Whether CUDA convolutions time cuDNN's algorithms once per shape and keep the fastest
// (default: yes, as training scripts set PyTorch's cudnn.benchmark); off, cuDNN's
// heuristics choose. With set_deterministic, the fastest deterministic algorithms.
void set_cudnn_benchmark(bool benchmark);
// Which of cuDNN's implementations autotuning times (kernels/conv.h, ConvEngines): its
// legacy algorithms and its graph API's engines (the default), or either alone.
void set_cudnn_engines(ConvEngines engines);
// A file that keeps those choices across runs ("" for none): read now, rewritten
// atomically after each direction of a shape that needed a search. See
// kernels/conv_algo_cache.h.
void set_cudnn_cache(const std::string& path);
// How each CUDA convolution of this process got its cuDNN algorithms (the file, a search
// with each candidate's time, or the heuristics), as a table; "" where none was planned.
std::string cudnn_choices_table();
// How many autotuning searches (one per convolution shape and direction) this process
// has made so far; 0 without CUDA.
int64_t cudnn_searches();
// CPU threads for every parallel CPU op: OpenMP's pool, which oneDNN shares (BLAS runs
// one thread per call inside it, so nothing is oversubscribed). 0 restores OpenMP's
// default: OMP_NUM_THREADS where set, else every core. cpu_threads() is the count in use.
void set_cpu_threads(int64_t threads);
int cpu_threads();

// bf16 autocast, as PyTorch's torch.autocast(dtype=torch.bfloat16), on this thread while
// a guard is alive: conv2d and linear cast their input and weight to bf16 and compute in
// bf16 with fp32 accumulation. A convolution's output is bf16, and batch_norm,
// global_avg_pool2d and add then keep bf16 activations (statistics and sums in fp32);
// linear's output, the logits, is f32, so the loss is fp32. Parameters, their gradients
// and the optimizer stay f32: a bf16 weight gradient is widened into .grad. No loss
// scaling: bf16 has f32's exponent range. Outside autocast a bf16 input to conv2d or
// linear is an error.
class AutocastBf16 {
 public:
  explicit AutocastBf16(bool enabled = true);
  ~AutocastBf16();
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
  bool previous_;
};
bool autocast_bf16_enabled();

// Channels-last activations, as PyTorch's model.to(memory_format=torch.channels_last)
// with its input converted too, on this thread while a guard is alive: conv2d takes a
// 4-D f32 input as NHWC (converting an NCHW one, such as the batch, once) and writes
// NHWC; batch_norm, global_avg_pool2d, relu and add keep the layout they are given, and
// gradients flow back in it. Shapes stay [N, C, H, W] (the strides say the layout), and
// parameters and checkpoints keep PyTorch's layout. Where the device's kernel table has
// no channels-last kernels (Kernels::has_channels_last), under bf16 autocast and for a
// convolution with a bias, the ops run NCHW as without the guard.
class ChannelsLast {
 public:
  explicit ChannelsLast(bool enabled = true);
  ~ChannelsLast();
  ChannelsLast(const ChannelsLast&) = delete;
  ChannelsLast& operator=(const ChannelsLast&) = delete;

 private:
  bool previous_;
};
bool channels_last_enabled();

// Synchronised batch normalisation, as PyTorch's SyncBatchNorm, on this thread while a
// guard is alive: batch_norm in training sums its channel statistics over the
// communicator's ranks (mean, then squared deviations: two all-reduces), so that every
// rank normalises by the statistics of the global batch and keeps the same running
// ones; its backward sums the channel sums of dy and dy*xhat likewise (one all-reduce).
// The affine parameters' gradients stay this rank's share, to be summed with the other
// gradients. Each rank's dy must be its share of the global loss's gradient (see
// engine/data_parallel.h). On the CPU in f32, its own loops; on other devices and in
// bf16, the device's batchnorm kernels with the [C]-sized sums through the host.
class SyncBatchNorm {
 public:
  explicit SyncBatchNorm(Communicator* communicator);  // null: not synchronised
  ~SyncBatchNorm();
  SyncBatchNorm(const SyncBatchNorm&) = delete;
  SyncBatchNorm& operator=(const SyncBatchNorm&) = delete;

 private:
  Communicator* previous_;
};

// x [N, C, H, W], weight [OC, C, KH, KW], bias [OC] or undefined.
Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride, int64_t padding);
// x [N, in], weight [out, in], bias [out] or undefined: x weight^T + bias.
Variable linear(const Variable& x, const Variable& weight, const Variable& bias);

// Batch normalisation over N, H, W per channel (PyTorch's BatchNorm2d). In training it
// normalises with the batch statistics and updates the running ones in place (momentum,
// unbiased variance); in evaluation it uses the running statistics.
// `then` fuses what follows into the same kernels, as ResNet's blocks use it: a ReLU
// (relu(bn(x))), or the residual add and a ReLU (relu(bn(x) + residual)); the values and
// gradients are those of the unfused chain.
enum class BatchNormMode { Train, Eval };
enum class BatchNormThen { Nothing, Relu, AddRelu };
Variable batch_norm(const Variable& x, const Variable& weight, const Variable& bias, const Tensor& running_mean,
                    const Tensor& running_var, BatchNormMode mode, double momentum, double eps,
                    BatchNormThen then = BatchNormThen::Nothing, const Variable& residual = Variable());

// [N, C, H, W] -> [N, C], the mean over H and W.
Variable global_avg_pool2d(const Variable& x);

// Mean softmax cross-entropy of logits [N, K] against int32 labels [N] (label smoothing
// as PyTorch's), and the number of correct predictions (an i64 0-D tensor on the same
// device, so reading it is the caller's choice of when to synchronise).
struct CrossEntropy {
  Variable loss;
  Tensor correct;
};

// MixUp's pairing of a batch (Zhang et al. 2018; fastai's MixUp): image and row i are
// blended with image and row partner[i] of the same batch, weight[i] being the share of
// its own (i32 [N] and f32 [N] on the batch's device). With `box` (i32 [N, 4]: top, left,
// height, width), CutMix's instead: image i takes its partner's pixels inside its box, and
// weight[i] is the share of its own pixels. Undefined: no mixing.
struct Mixing {
  Tensor partner, weight, box;
  bool on() const { return partner.defined(); }
  bool cuts() const { return box.defined(); }
  // Rows [begin, end), for a slice of the batch whose partners all lie in it (partner
  // values count from the slice's start).
  Mixing slice(int64_t begin, int64_t end) const;
};

// With `mixing` on, row r's target is weight[r] of its label's and 1 - weight[r] of row
// partner[r]'s (each smoothed as above): fastai's MixUp loss; `correct` counts the rows
// whose prediction is their own label.
CrossEntropy cross_entropy(const Variable& logits, const Tensor& labels, double label_smoothing = 0.0,
                           const Mixing& mixing = {});

// MixUp's images: y_i = x_p + w_i (x_i - x_p), p = partner[i] (kernels/mix.h), for an f32
// batch [N, ...] in either layout; with a box, CutMix's (an f32 [N, C, H, W] batch): its
// partner's pixels inside the box. A new tensor of the same shape and layout. Not
// differentiated: it is applied to the data.
Tensor mix_images(const Tensor& images, const Mixing& mixing);

// The parameter-free shortcut of He et al.'s CIFAR ResNets ("option A"): every
// stride-th pixel, with pad_before/pad_after zero channels around the input's.
Variable subsample_pad_channels(const Variable& x, int64_t stride, int64_t pad_before, int64_t pad_after);

}  // namespace cyg::fn
