// Batch assembly (gather by index, random crop with zero padding, horizontal flip,
// cutout, per-channel normalisation) into float NCHW plus the gathered labels: one thread per
// output element, grid-stride; bound by memory (gathered u8 reads, coalesced f32 writes).
#include "kernels/batch.h"
#include "kernels/cuda/launch.h"

namespace cyg::CYG_KNS {
namespace {
__global__ void CYG_LAUNCH_BOUNDS assemble_batch_kernel(const uint8_t* images, const int32_t* labels, const int64_t* indices,
                                      int64_t batch, int64_t C, int64_t H, int64_t W, const float* mean,
                                      const float* inv_std, BatchAugment augment, uint64_t seed,
                                      uint64_t sample_counter_base, int channels_last, float* out,
                                      int32_t* out_labels) {
  const int64_t n = batch * C * H * W;
  CYG_GRID_STRIDE_LOOP(i, n) {
    out[i] = assemble_batch_element(images, indices, i, C, H, W, mean, inv_std, augment, seed, sample_counter_base,
                                    channels_last);
    // n >= batch, so the first `batch` iterations also gather the labels.
    if (i < batch) out_labels[i] = labels[indices[i]];
  }
}
}  // namespace

void assemble_batch_cuda(const uint8_t* images, const int32_t* labels, const int64_t* indices, int64_t batch,
                         int64_t C, int64_t H, int64_t W, const float* mean, const float* inv_std,
                         BatchAugment augment, uint64_t seed, uint64_t sample_counter_base, int channels_last,
                         float* out, int32_t* out_labels, const LaunchConfig& cfg) {
  check_assemble_batch_args(batch, C, H, W, augment);
  if (batch == 0) return;
  const int64_t n = batch * C * H * W;
  // u8 pixels, indices and labels in; f32 pixels and labels out.
  count_traffic(__func__, n + batch * (8 + 4) + 8 * C, 4 * n + 4 * batch);
  CYG_LAUNCH(assemble_batch_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), images, labels, indices,
             batch, C, H, W, mean, inv_std, augment, seed, sample_counter_base, channels_last, out, out_labels);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
