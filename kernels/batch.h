// Batch assembly: gather images of a u8 NCHW dataset by an index list, crop each at a
// random offset inside a zero-padded border, flip it horizontally at random (or flip
// every image: test-time augmentation's mirrored view), normalise
// per channel ((x/255 - mean[c]) * inv_std[c]) into float NCHW or NHWC (channels-last:
// what the network's first convolution takes there), and gather the labels.
#pragma once
#include "kernels/common.h"
#include "kernels/error.h"
#include "kernels/random.h"

namespace cyg {

// Where a sample's crop window starts in the padded image (each in [0, 2*padding]) and
// whether it is mirrored.
struct AugmentChoice {
  int64_t offset_y = 0, offset_x = 0;
  bool flip = false;
};

// The flip argument of batch assembly: no image mirrored, each at random (half of them),
// or every one (the second view of flip test-time augmentation).
enum BatchFlip : int { kFlipNone = 0, kFlipRandom = 1, kFlipEvery = 2 };

// One draw per sample, from (seed, sample_counter) alone, so every device and every
// resumed run makes the same choice. Disjoint bit fields: y from bits 0-23, x from bits
// 24-47, the flip from bit 63.
CYG_HD AugmentChoice batch_augment_choice(uint64_t seed, uint64_t sample_counter, int64_t crop_padding, int flip) {
  AugmentChoice choice;
  choice.flip = flip == kFlipEvery;
  if (crop_padding == 0 && flip != kFlipRandom) return choice;
  const uint64_t bits = random_bits(seed, sample_counter);
  const uint64_t span = static_cast<uint64_t>(2 * crop_padding + 1);
  choice.offset_y = static_cast<int64_t>((bits & 0xffffffull) % span);
  choice.offset_x = static_cast<int64_t>(((bits >> 24) & 0xffffffull) % span);
  if (flip == kFlipRandom) choice.flip = (bits >> 63) != 0;
  return choice;
}

CYG_HD float normalize_pixel(uint8_t value, float mean, float inv_std) {
  return (static_cast<float>(value) / 255.0f - mean) * inv_std;
}

// Pixel (c, y, x) of a sample whose source image is `image` (C x H x W bytes), after
// its crop and flip. The padding is zero-valued pixels, so it normalises to -mean/std,
// as torchvision's RandomCrop(padding) before Normalize gives.
CYG_HD float assemble_batch_pixel(const uint8_t* image, int64_t c, int64_t y, int64_t x, int64_t H, int64_t W,
                                  const AugmentChoice& choice, int64_t crop_padding, const float* mean,
                                  const float* inv_std) {
  const int64_t src_y = y + choice.offset_y - crop_padding;
  const int64_t src_x = (choice.flip ? W - 1 - x : x) + choice.offset_x - crop_padding;
  uint8_t value = 0;
  if (src_y >= 0 && src_y < H && src_x >= 0 && src_x < W) value = image[(c * H + src_y) * W + src_x];
  return normalize_pixel(value, mean[c], inv_std[c]);
}

// Where output element i of a batch of images of C x H x W lies: sample, channel, row and
// column, in NCHW order or, with channels_last, NHWC (the channel fastest).
struct BatchElement {
  int64_t b, c, y, x;
};
CYG_HD BatchElement batch_element_at(int64_t i, int64_t C, int64_t H, int64_t W, int channels_last) {
  if (channels_last) return {i / (C * H * W), i % C, (i / (C * W)) % H, (i / C) % W};
  return {i / (W * H * C), (i / (W * H)) % C, (i / W) % H, i % W};
}

// Output element i of the batch, for a thread per element: each redraws its sample's
// choice, a few integer operations, where sharing it would need a barrier.
CYG_HD float assemble_batch_element(const uint8_t* images, const int64_t* indices, int64_t i, int64_t C, int64_t H,
                                    int64_t W, const float* mean, const float* inv_std, int64_t crop_padding, int flip,
                                    uint64_t seed, uint64_t sample_counter_base, int channels_last) {
  const BatchElement e = batch_element_at(i, C, H, W, channels_last);
  const int64_t b = e.b, c = e.c, y = e.y, x = e.x;
  const AugmentChoice choice =
      batch_augment_choice(seed, sample_counter_base + static_cast<uint64_t>(b), crop_padding, flip);
  return assemble_batch_pixel(images + indices[b] * C * H * W, c, y, x, H, W, choice, crop_padding, mean, inv_std);
}

inline void check_assemble_batch_args(int64_t batch, int64_t C, int64_t H, int64_t W, int64_t crop_padding,
                                      int flip) {
  CYG_CHECK(batch >= 0 && C > 0 && H > 0 && W > 0, "assemble_batch of ", batch, " images of ", C, "x", H, "x", W);
  CYG_CHECK(crop_padding >= 0, "assemble_batch with crop padding ", crop_padding);
  CYG_CHECK(flip == kFlipNone || flip == kFlipRandom || flip == kFlipEvery, "assemble_batch with flip ", flip,
            ": expected 0 (none), 1 (at random) or 2 (every image)");
}

// images: u8 [N, C, H, W] (the whole dataset), labels: i32 [N], indices: the batch's
// `batch` dataset indices (each in [0, N), unchecked); mean, inv_std: C floats.
// out: f32 [batch, C, H, W], dense NCHW, or NHWC with channels_last; out_labels: i32
// [batch]. flip: a BatchFlip. Sample b draws its crop and flip from (seed,
// sample_counter_base + b). For the CUDA wrapper every pointer is device memory.
void assemble_batch_cpu(const uint8_t* images, const int32_t* labels, const int64_t* indices, int64_t batch, int64_t C,
                        int64_t H, int64_t W, const float* mean, const float* inv_std, int64_t crop_padding, int flip,
                        uint64_t seed, uint64_t sample_counter_base, int channels_last, float* out,
                        int32_t* out_labels);
CYG_CUDA_DECL(void assemble_batch_cuda(const uint8_t* images, const int32_t* labels, const int64_t* indices,
                                       int64_t batch, int64_t C, int64_t H, int64_t W, const float* mean,
                                       const float* inv_std, int64_t crop_padding, int flip, uint64_t seed,
                                       uint64_t sample_counter_base, int channels_last, float* out,
                                       int32_t* out_labels, const LaunchConfig& cfg = {}))

}  // namespace cyg
