// Batch assembly: gather images of a u8 NCHW dataset by an index list, crop each at a
// random offset inside a zero-padded border, flip it horizontally at random (or flip
// every image: test-time augmentation's mirrored view), cut a square out of it at random
// (cutout), normalise per channel ((x/255 - mean[c]) * inv_std[c]) into float NCHW or
// NHWC (channels-last: what the network's first convolution takes there), and gather the
// labels.
#pragma once
#include "kernels/common.h"
#include "kernels/error.h"
#include "kernels/random.h"

namespace cyg {

// The flip of batch assembly: no image mirrored, each at random (half of them), or every
// one (the second view of flip test-time augmentation).
enum BatchFlip : int { kFlipNone = 0, kFlipRandom = 1, kFlipEvery = 2 };

// What batch assembly does to each image besides gathering and normalising it.
struct BatchAugment {
  int64_t crop_padding = 0;  // a random crop of the image's size from a border this wide
  int flip = kFlipNone;      // a BatchFlip
  // Cutout (DeVries and Taylor, 2017): a square of this side, its centre anywhere in the
  // image (the square clipped at the edges), set to 0 after normalisation, which is the
  // channel's mean; 0: none.
  int64_t cutout = 0;
};

// A sample's choices: where its crop window starts in the padded image (each in
// [0, 2*padding]), whether it is mirrored, and the first row and column of its cutout
// square (in the output image; negative where it is clipped).
struct AugmentChoice {
  int64_t offset_y = 0, offset_x = 0;
  bool flip = false;
  int64_t cutout_y = 0, cutout_x = 0;
};

// The cutout square's draw comes from its own stream of the same counter.
constexpr uint64_t kCutoutStream = 0x6375746f75745f31ull;

// Drawn per sample from (seed, sample_counter) alone, so every device and every resumed
// run makes the same choice. Disjoint bit fields of one draw: y from bits 0-23, x from
// bits 24-47, the flip from bit 63; the cutout's centre from a second draw (row from bits
// 0-23, column from bits 24-47), so that adding cutout leaves the crops and flips as
// they were.
CYG_HD AugmentChoice batch_augment_choice(uint64_t seed, uint64_t sample_counter, const BatchAugment& a, int64_t H,
                                          int64_t W) {
  AugmentChoice choice;
  choice.flip = a.flip == kFlipEvery;
  if (a.crop_padding > 0 || a.flip == kFlipRandom) {
    const uint64_t bits = random_bits(seed, sample_counter);
    const uint64_t span = static_cast<uint64_t>(2 * a.crop_padding + 1);
    choice.offset_y = static_cast<int64_t>((bits & 0xffffffull) % span);
    choice.offset_x = static_cast<int64_t>(((bits >> 24) & 0xffffffull) % span);
    if (a.flip == kFlipRandom) choice.flip = (bits >> 63) != 0;
  }
  if (a.cutout > 0) {
    const uint64_t bits = random_bits(seed ^ kCutoutStream, sample_counter);
    choice.cutout_y = static_cast<int64_t>((bits & 0xffffffull) % static_cast<uint64_t>(H)) - a.cutout / 2;
    choice.cutout_x = static_cast<int64_t>(((bits >> 24) & 0xffffffull) % static_cast<uint64_t>(W)) - a.cutout / 2;
  }
  return choice;
}

CYG_HD float normalize_pixel(uint8_t value, float mean, float inv_std) {
  return (static_cast<float>(value) / 255.0f - mean) * inv_std;
}

// Pixel (c, y, x) of a sample whose source image is `image` (C x H x W bytes), after
// its crop, flip and cutout. The padding is zero-valued pixels, so it normalises to
// -mean/std, as torchvision's RandomCrop(padding) before Normalize gives; the cutout
// square is 0 after normalisation.
CYG_HD float assemble_batch_pixel(const uint8_t* image, int64_t c, int64_t y, int64_t x, int64_t H, int64_t W,
                                  const AugmentChoice& choice, const BatchAugment& a, const float* mean,
                                  const float* inv_std) {
  if (a.cutout > 0 && y >= choice.cutout_y && y < choice.cutout_y + a.cutout && x >= choice.cutout_x &&
      x < choice.cutout_x + a.cutout)
    return 0.0f;
  const int64_t src_y = y + choice.offset_y - a.crop_padding;
  const int64_t src_x = (choice.flip ? W - 1 - x : x) + choice.offset_x - a.crop_padding;
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
                                    int64_t W, const float* mean, const float* inv_std, const BatchAugment& a,
                                    uint64_t seed, uint64_t sample_counter_base, int channels_last) {
  const BatchElement e = batch_element_at(i, C, H, W, channels_last);
  const int64_t b = e.b, c = e.c, y = e.y, x = e.x;
  const AugmentChoice choice = batch_augment_choice(seed, sample_counter_base + static_cast<uint64_t>(b), a, H, W);
  return assemble_batch_pixel(images + indices[b] * C * H * W, c, y, x, H, W, choice, a, mean, inv_std);
}

inline void check_assemble_batch_args(int64_t batch, int64_t C, int64_t H, int64_t W, const BatchAugment& a) {
  CYG_CHECK(batch >= 0 && C > 0 && H > 0 && W > 0, "assemble_batch of ", batch, " images of ", C, "x", H, "x", W);
  CYG_CHECK(a.crop_padding >= 0, "assemble_batch with crop padding ", a.crop_padding);
  CYG_CHECK(a.flip == kFlipNone || a.flip == kFlipRandom || a.flip == kFlipEvery, "assemble_batch with flip ", a.flip,
            ": expected 0 (none), 1 (at random) or 2 (every image)");
  CYG_CHECK(a.cutout >= 0, "assemble_batch with cutout ", a.cutout);
}

// images: u8 [N, C, H, W] (the whole dataset), labels: i32 [N], indices: the batch's
// `batch` dataset indices (each in [0, N), unchecked); mean, inv_std: C floats.
// out: f32 [batch, C, H, W], dense NCHW, or NHWC with channels_last; out_labels: i32
// [batch]. Sample b draws its crop, flip and cutout from (seed, sample_counter_base + b).
// For the CUDA wrapper every pointer is device memory.
void assemble_batch_cpu(const uint8_t* images, const int32_t* labels, const int64_t* indices, int64_t batch, int64_t C,
                        int64_t H, int64_t W, const float* mean, const float* inv_std, BatchAugment augment,
                        uint64_t seed, uint64_t sample_counter_base, int channels_last, float* out,
                        int32_t* out_labels);
CYG_CUDA_DECL(void assemble_batch_cuda(const uint8_t* images, const int32_t* labels, const int64_t* indices,
                                       int64_t batch, int64_t C, int64_t H, int64_t W, const float* mean,
                                       const float* inv_std, BatchAugment augment, uint64_t seed,
                                       uint64_t sample_counter_base, int channels_last, float* out,
                                       int32_t* out_labels, const LaunchConfig& cfg = {}))

}  // namespace cyg
