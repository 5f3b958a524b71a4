// Optimizer updates, CPU reference: the per-element updates of kernels/optim.h over
// every tensor.
#include "kernels/optim.h"

#include "kernels/error.h"

namespace cyg {

std::vector<TensorChunk> make_chunks(const TensorSlot* slots, int count, int64_t chunk_elems) {
  CYG_CHECK(chunk_elems > 0, "chunk size ", chunk_elems, " must be positive");
  std::vector<TensorChunk> chunks;
  for (int s = 0; s < count; ++s)
    for (int64_t b = 0; b < slots[s].numel; b += chunk_elems)
      chunks.push_back({s, b, b + chunk_elems < slots[s].numel ? b + chunk_elems : slots[s].numel});
  return chunks;
}

void sgd_step_cpu(const TensorSlot* slots, int count, const SgdHyper& h) {
  for (int s = 0; s < count; ++s) {
    const TensorSlot& t = slots[s];
    const float wd = h.weight_decay * t.weight_decay_scale;
    const float scale = grad_scale_value(h.grad_scale);
#pragma omp parallel for if (t.numel > 65536)
    for (int64_t i = 0; i < t.numel; ++i) {
      float unused = 0.0f;
      sgd_update(t.param[i], update_grad(t.grad[i], h.grad_scale, scale), t.state1 ? t.state1[i] : unused, wd, h);
      if (t.param_bf16) t.param_bf16[bf16_copy_offset(t, i)] = float_to_bf16(t.param[i]);
    }
  }
}

void adam_step_cpu(const TensorSlot* slots, int count, const AdamHyper& h) {
  for (int s = 0; s < count; ++s) {
    const TensorSlot& t = slots[s];
    const float wd = h.weight_decay * t.weight_decay_scale;
    const float scale = grad_scale_value(h.grad_scale);
#pragma omp parallel for if (t.numel > 65536)
    for (int64_t i = 0; i < t.numel; ++i) {
      adam_update(t.param[i], update_grad(t.grad[i], h.grad_scale, scale), t.state1[i], t.state2[i], wd, h);
      if (t.param_bf16) t.param_bf16[bf16_copy_offset(t, i)] = float_to_bf16(t.param[i]);
    }
  }
}

void ema_step_cpu(const TensorSlot* slots, int count, const EmaHyper& h) {
  for (int s = 0; s < count; ++s) {
    const TensorSlot& t = slots[s];
#pragma omp parallel for if (t.numel > 65536)
    for (int64_t i = 0; i < t.numel; ++i) ema_update(t.state1[i], t.param[i], h);
  }
}

void grad_norm_clip_cpu(const TensorSlot* slots, int count, int64_t chunk_elems, float max_norm, float* out) {
  const std::vector<TensorChunk> chunks = make_chunks(slots, count, chunk_elems);
  std::vector<double> sums(chunks.size(), 0.0);
  const int64_t n = static_cast<int64_t>(chunks.size());
#pragma omp parallel for if (n > 4)
  for (int64_t c = 0; c < n; ++c) {
    const TensorChunk& chunk = chunks[static_cast<size_t>(c)];
    const float* g = slots[chunk.slot].grad;
    double s = 0.0;
    for (int64_t i = chunk.begin; i < chunk.end; ++i) s += static_cast<double>(g[i]) * static_cast<double>(g[i]);
    sums[static_cast<size_t>(c)] = s;
  }
  double total = 0.0;
  for (double s : sums) total += s;
  out[1] = clip_norm_of(total);
  out[0] = clip_coefficient(out[1], max_norm);
}

}  // namespace cyg
