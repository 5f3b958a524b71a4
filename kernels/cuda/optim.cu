// Fused multi-tensor optimizer steps: one launch updates every parameter. Each block
// takes chunks (grid-stride over the chunk table) and its threads stride over the
// chunk's elements; per element, one read of param/grad/state and one write of
// param/state (and the param's bf16 copy where the slot has one, for bf16 autocast's
// next forward). The hyperparameters are read from device memory, so a step captured in
// a CUDA graph takes each replay's lr and momentum. Bound by memory bandwidth.
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/optim.h"

namespace cyg::CYG_KNS {
namespace {
__global__ void CYG_LAUNCH_BOUNDS sgd_step_kernel(const TensorSlot* slots, const TensorChunk* chunks, int64_t num_chunks,
                                const SgdHyper* hyper) {
  const SgdHyper h = *hyper;
  const float scale = grad_scale_value(h.grad_scale);
  for (int64_t c = blockIdx.x; c < num_chunks; c += gridDim.x) {
    const TensorChunk chunk = chunks[c];
    const TensorSlot t = slots[chunk.slot];
    const float wd = h.weight_decay * t.weight_decay_scale;
    for (int64_t i = chunk.begin + threadIdx.x; i < chunk.end; i += blockDim.x) {
      float p = t.param[i];
      float buf = t.state1 ? t.state1[i] : 0.0f;
      sgd_update(p, update_grad(t.grad[i], h.grad_scale, scale), buf, wd, h);
      t.param[i] = p;
      if (t.param_bf16) t.param_bf16[bf16_copy_offset(t, i)] = float_to_bf16(p);
      if (t.state1) t.state1[i] = buf;
    }
  }
}

__global__ void CYG_LAUNCH_BOUNDS adam_step_kernel(const TensorSlot* slots, const TensorChunk* chunks, int64_t num_chunks,
                                 const AdamHyper* hyper) {
  const AdamHyper h = *hyper;
  const float scale = grad_scale_value(h.grad_scale);
  for (int64_t c = blockIdx.x; c < num_chunks; c += gridDim.x) {
    const TensorChunk chunk = chunks[c];
    const TensorSlot t = slots[chunk.slot];
    const float wd = h.weight_decay * t.weight_decay_scale;
    for (int64_t i = chunk.begin + threadIdx.x; i < chunk.end; i += blockDim.x) {
      float p = t.param[i], m = t.state1[i], v = t.state2[i];
      adam_update(p, update_grad(t.grad[i], h.grad_scale, scale), m, v, wd, h);
      t.param[i] = p;
      if (t.param_bf16) t.param_bf16[bf16_copy_offset(t, i)] = float_to_bf16(p);
      t.state1[i] = m;
      t.state2[i] = v;
    }
  }
}

// The weights' moving average: one read of the value and the average, one write.
__global__ void CYG_LAUNCH_BOUNDS ema_step_kernel(const TensorSlot* slots, const TensorChunk* chunks, int64_t num_chunks,
                                                  const EmaHyper* hyper) {
  const EmaHyper h = *hyper;
  for (int64_t c = blockIdx.x; c < num_chunks; c += gridDim.x) {
    const TensorChunk chunk = chunks[c];
    const TensorSlot t = slots[chunk.slot];
    for (int64_t i = chunk.begin + threadIdx.x; i < chunk.end; i += blockDim.x) {
      float average = t.state1[i];
      ema_update(average, t.param[i], h);
      t.state1[i] = average;
    }
  }
}

// Block b's sum of squares of the gradients of chunks b, b + grid, ... (in double).
__global__ void CYG_LAUNCH_BOUNDS grad_norm_partials_kernel(const TensorSlot* slots, const TensorChunk* chunks,
                                                            int64_t num_chunks, double* partials) {
  double s = 0.0;
  for (int64_t c = blockIdx.x; c < num_chunks; c += gridDim.x) {
    const TensorChunk chunk = chunks[c];
    const float* g = slots[chunk.slot].grad;
    for (int64_t i = chunk.begin + threadIdx.x; i < chunk.end; i += blockDim.x)
      s += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  }
  s = block_reduce_sum(s);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// One block: the partials' total, then the norm and the coefficient.
__global__ void CYG_LAUNCH_BOUNDS grad_norm_finish_kernel(const double* partials, int64_t count, float max_norm,
                                                          float* out) {
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) s += partials[i];
  s = block_reduce_sum(s);
  if (threadIdx.x == 0) {
    const float norm = clip_norm_of(s);
    out[1] = norm;
    out[0] = clip_coefficient(norm, max_norm);
  }
}

int chunk_grid(int64_t num_chunks, const LaunchConfig& cfg) { return static_cast<int>(chunk_blocks(num_chunks, cfg)); }
}  // namespace

void grad_norm_clip_cuda(const TensorSlot* slots, const TensorChunk* chunks, int64_t num_chunks, float max_norm,
                         double* partials, float* out, const LaunchConfig& cfg) {
  check_block_reduce_size(block_size(cfg));  // both kernels reduce over whole warps
  const int blocks = static_cast<int>(grad_norm_partials_count(num_chunks, cfg));
  if (num_chunks > 0) {
    CYG_LAUNCH(grad_norm_partials_kernel, blocks, block_size(cfg), 0, stream_of(cfg), slots, chunks, num_chunks,
               partials);
    CYG_CHECK_LAUNCH();
  }
  CYG_LAUNCH(grad_norm_finish_kernel, 1, block_size(cfg), 0, stream_of(cfg), partials,
             static_cast<int64_t>(num_chunks > 0 ? blocks : 0), max_norm, out);
  CYG_CHECK_LAUNCH();
}

void sgd_step_cuda(const TensorSlot* slots, const TensorChunk* chunks, int64_t num_chunks, const SgdHyper* h,
                   const LaunchConfig& cfg) {
  if (num_chunks == 0) return;
  CYG_LAUNCH(sgd_step_kernel, chunk_grid(num_chunks, cfg), block_size(cfg), 0, stream_of(cfg), slots, chunks,
             num_chunks, h);
  CYG_CHECK_LAUNCH();
}

void adam_step_cuda(const TensorSlot* slots, const TensorChunk* chunks, int64_t num_chunks, const AdamHyper* h,
                    const LaunchConfig& cfg) {
  if (num_chunks == 0) return;
  CYG_LAUNCH(adam_step_kernel, chunk_grid(num_chunks, cfg), block_size(cfg), 0, stream_of(cfg), slots, chunks,
             num_chunks, h);
  CYG_CHECK_LAUNCH();
}

void ema_step_cuda(const TensorSlot* slots, const TensorChunk* chunks, int64_t num_chunks, const EmaHyper* h,
                   const LaunchConfig& cfg) {
  if (num_chunks == 0) return;
  CYG_LAUNCH(ema_step_kernel, chunk_grid(num_chunks, cfg), block_size(cfg), 0, stream_of(cfg), slots, chunks,
             num_chunks, h);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
