// Batch assembly (gather, random crop with zero padding, flip, cutout, normalise), CPU reference.
#include "kernels/batch.h"

namespace cyg {

void assemble_batch_cpu(const uint8_t* images, const int32_t* labels, const int64_t* indices, int64_t batch, int64_t C,
                        int64_t H, int64_t W, const float* mean, const float* inv_std, BatchAugment augment,
                        uint64_t seed, uint64_t sample_counter_base, int channels_last, float* out,
                        int32_t* out_labels) {
  check_assemble_batch_args(batch, C, H, W, augment);
  const int64_t per_image = C * H * W;
#pragma omp parallel for if (batch * per_image > 65536)
  for (int64_t b = 0; b < batch; ++b) {
    const AugmentChoice choice =
        batch_augment_choice(seed, sample_counter_base + static_cast<uint64_t>(b), augment, H, W);
    const uint8_t* image = images + indices[b] * per_image;
    float* dst = out + b * per_image;
    if (channels_last) {
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
          for (int64_t c = 0; c < C; ++c)
            *dst++ = assemble_batch_pixel(image, c, y, x, H, W, choice, augment, mean, inv_std);
    } else {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x)
            *dst++ = assemble_batch_pixel(image, c, y, x, H, W, choice, augment, mean, inv_std);
    }
    out_labels[b] = labels[indices[b]];
  }
}

}  // namespace cyg
