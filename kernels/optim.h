// Optimizer updates, fused: weight decay, the moment updates and the parameter update
// in one pass over each parameter. The CUDA version updates every parameter of a model
// in one launch, driven by a table of tensors and a table of chunks in device memory.
// Semantics follow PyTorch: SGD (dampening 0, L2 weight decay added to the gradient,
// optional Nesterov; a zero-initialised momentum buffer equals PyTorch's first-step
// copy), Adam (L2) and AdamW (decoupled decay), with bias corrections from the caller.
#pragma once
#include <cmath>
#include <vector>

#include "kernels/cast.h"
#include "kernels/common.h"

namespace cyg {

// One parameter tensor: its values, gradient and optimizer state (state2 only for Adam),
// all of numel floats. weight_decay_scale multiplies the optimizer's weight decay
// (0 exempts a tensor, e.g. biases, when a user asks for that).
struct TensorSlot {
  float* param = nullptr;
  const float* grad = nullptr;
  float* state1 = nullptr;  // SGD: momentum buffer; Adam: first moment (exp_avg)
  float* state2 = nullptr;  // Adam: second moment (exp_avg_sq)
  int64_t numel = 0;
  float weight_decay_scale = 1.0f;
  uint16_t* param_bf16 = nullptr;  // bf16 autocast: receives the updated param in bf16 too
  // bf16_area > 0: the copy is a convolution filter's channels-last (KRSC) copy, of
  // bf16_channels input channels and bf16_area = KH*KW (bf16_copy_offset), in rows of
  // bf16_row_channels >= bf16_channels: a filter padded with zero channels for cuDNN's
  // tensor cores (Variable::bf16_value), whose padding the update leaves as it is.
  int64_t bf16_channels = 0;
  int64_t bf16_area = 0;
  int64_t bf16_row_channels = 0;
};

// Where the updated param[i] goes in the slot's bf16 copy.
CYG_HD int64_t bf16_copy_offset(const TensorSlot& t, int64_t i) {
  return t.bf16_area > 0 ? krsc_offset(i, t.bf16_channels, t.bf16_area, t.bf16_row_channels) : i;
}

// A contiguous piece [begin, end) of one tensor: the CUDA launch gives each block chunks.
struct TensorChunk {
  int32_t slot = 0;
  int64_t begin = 0;
  int64_t end = 0;
};

// grad_scale, where set, points to one float every gradient is multiplied by before the
// update (in the memory the update runs in): gradient clipping's coefficient, which
// grad_norm_clip writes on the device, so that no value travels through the host.
struct SgdHyper {
  float lr = 0.0f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
  int nesterov = 0;
  const float* grad_scale = nullptr;
};

struct AdamHyper {
  float lr = 0.0f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  int decoupled_weight_decay = 0;  // 1: AdamW
  float bias_correction1 = 1.0f;   // 1 - beta1^t
  float bias_correction2 = 1.0f;   // 1 - beta2^t
  const float* grad_scale = nullptr;
};

// The factor of gradient clipping by the global L2 norm, as PyTorch's clip_grad_norm_
// (norm_type 2) computes it: min(1, max_norm / (norm + 1e-6)), norm the square root of
// every gradient's sum of squares. A NaN norm gives NaN (the next loss says so), not 1.
CYG_HD float clip_norm_of(double sum_of_squares) { return static_cast<float>(sqrt(sum_of_squares)); }
CYG_HD float clip_coefficient(float norm, float max_norm) {
  const float coefficient = max_norm / (norm + 1e-6f);
  return coefficient > 1.0f ? 1.0f : coefficient;
}
// A gradient as the update takes it: scaled by the clipping factor where there is one,
// else as it is (no product, which a compiler could fuse into the update's next sum
// and round otherwise: an update without clipping keeps its bits).
CYG_HD float update_grad(float grad, const float* grad_scale, float scale) {
  return grad_scale != nullptr ? grad * scale : grad;
}
CYG_HD float grad_scale_value(const float* grad_scale) { return grad_scale != nullptr ? *grad_scale : 1.0f; }

CYG_HD void sgd_update(float& param, float grad, float& momentum_buffer, float weight_decay, const SgdHyper& h) {
  float d = grad + weight_decay * param;
  if (h.momentum != 0.0f) {
    momentum_buffer = h.momentum * momentum_buffer + d;
    d = h.nesterov ? d + h.momentum * momentum_buffer : momentum_buffer;
  }
  param -= h.lr * d;
}

CYG_HD void adam_update(float& param, float grad, float& exp_avg, float& exp_avg_sq, float weight_decay,
                        const AdamHyper& h) {
  if (h.decoupled_weight_decay) {
    param *= 1.0f - h.lr * weight_decay;
  } else {
    grad += weight_decay * param;
  }
  exp_avg = h.beta1 * exp_avg + (1.0f - h.beta1) * grad;
  exp_avg_sq = h.beta2 * exp_avg_sq + (1.0f - h.beta2) * grad * grad;
  const float denom = sqrtf(exp_avg_sq) / sqrtf(h.bias_correction2) + h.eps;
  param -= (h.lr / h.bias_correction1) * exp_avg / denom;
}

// An exponential moving average of a model's weights (and of its batchnorm running
// statistics), as PyTorch's AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay),
// use_buffers=True) keeps it: after each optimizer step, average = torch.lerp(average,
// value, 1 - decay), the first update a copy. A slot's param is the model's value (read
// only) and its state1 the average; the other fields are unused.
struct EmaHyper {
  float weight = 0.0f;  // 1 - decay, as torch._foreach_lerp_ takes it (a float scalar)
  int copy = 0;         // 1: the first update, which copies the values
};

// torch.lerp's formula for floats (ATen's lerp): from the nearer end, so that weight 1
// gives `end` exactly.
CYG_HD float lerp_as_torch(float start, float end, float weight) {
  return fabsf(weight) < 0.5f ? start + weight * (end - start) : end - (end - start) * (1.0f - weight);
}

CYG_HD void ema_update(float& average, float value, const EmaHyper& h) {
  average = h.copy ? value : lerp_as_torch(average, value, h.weight);
}

// Splits every slot into chunks of at most chunk_elems elements.
std::vector<TensorChunk> make_chunks(const TensorSlot* slots, int count, int64_t chunk_elems);

void sgd_step_cpu(const TensorSlot* slots, int count, const SgdHyper& h);
void adam_step_cpu(const TensorSlot* slots, int count, const AdamHyper& h);
void ema_step_cpu(const TensorSlot* slots, int count, const EmaHyper& h);

// Gradient clipping: out[1] = the global L2 norm of every slot's gradient, out[0] = the
// clipping coefficient for max_norm (clip_coefficient). The sum of squares is taken in
// double, chunk by chunk (make_chunks with chunk_elems), the chunks' sums added in order:
// the same bits for any thread count.
void grad_norm_clip_cpu(const TensorSlot* slots, int count, int64_t chunk_elems, float max_norm, float* out);

// slots and chunks point to memory the kernel reads (device memory on a GPU).
// `h` is in device memory.
CYG_CUDA_DECL(void sgd_step_cuda(const TensorSlot* slots, const TensorChunk* chunks, int64_t num_chunks,
                                 const SgdHyper* h, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void adam_step_cuda(const TensorSlot* slots, const TensorChunk* chunks, int64_t num_chunks,
                                  const AdamHyper* h, const LaunchConfig& cfg = {}))
CYG_CUDA_DECL(void ema_step_cuda(const TensorSlot* slots, const TensorChunk* chunks, int64_t num_chunks,
                                 const EmaHyper* h, const LaunchConfig& cfg = {}))
// grad_norm_clip_cpu's out on the device, in two launches: each block's sum of squares of
// its chunks' gradients (double) into `partials` (grad_norm_partials_count doubles),
// then one block adds them in order. Deterministic for a given launch configuration.
// The blocks of a launch over a chunk table: one a chunk, at most max_blocks (65535).
inline int64_t chunk_blocks(int64_t num_chunks, const LaunchConfig& cfg) {
  const int64_t cap = cfg.max_blocks > 0 ? cfg.max_blocks : 65535;
  return num_chunks < cap ? num_chunks : cap;
}
inline int64_t grad_norm_partials_count(int64_t num_chunks, const LaunchConfig& cfg) {
  return num_chunks > 0 ? chunk_blocks(num_chunks, cfg) : 1;
}
CYG_CUDA_DECL(void grad_norm_clip_cuda(const TensorSlot* slots, const TensorChunk* chunks, int64_t num_chunks,
                                       float max_norm, double* partials, float* out, const LaunchConfig& cfg = {}))

}  // namespace cyg
