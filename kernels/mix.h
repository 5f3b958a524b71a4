// mix_images: MixUp's blend of a batch (Zhang et al., "mixup: Beyond Empirical Risk
// Minimization", 2018, as fastai's MixUp callback does it): image i becomes
// y_i = x_p + w_i (x_i - x_p), p = partner[i], torch.lerp(x[shuffle], x, lam) with w_i the
// weight of its own pixels (and of its own label: kernels/loss.h's LabelMix). An image is
// a contiguous block of image_size values in NCHW and NHWC alike, so one kernel serves
// both layouts. y must not overlap x (a partner may be read after its own image is
// written).
#pragma once
#include "kernels/common.h"

namespace cyg {

CYG_HD float mix_op(float own, float partner, float weight) { return partner + weight * (own - partner); }

CYG_HD bool partner_in_range(int32_t partner, int64_t N) { return partner >= 0 && partner < N; }

// CPU reference: every partner in [0, N), else cyg::Error naming the image.
void mix_images_cpu(const float* x, const int32_t* partner, const float* weight, int64_t N, int64_t image_size,
                    float* y);
// CUDA: an image whose partner is outside [0, N) is never read through: it becomes NaN.
// The weights are taken as given (the draws check them: data/mixup.h).
CYG_CUDA_DECL(void mix_images_cuda(const float* x, const int32_t* partner, const float* weight, int64_t N,
                                   int64_t image_size, float* y, const LaunchConfig& cfg = {}))

// cutmix_images: CutMix's paste (Yun et al., "CutMix: Regularization Strategy to Train
// Strong Classifiers with Localizable Features", 2019, as fastai's CutMix callback does
// it, with a box per image): image i takes the pixels of its partner p inside its box
// (rows [top, top + height), columns [left, left + width) of every channel) and keeps its
// own elsewhere. box [N, 4] holds (top, left, height, width), inside the image (the draws
// clip it); an empty box copies the image. x is [N, C, H, W], NCHW or (channels_last)
// NHWC. Only copies, so every device gives the same bits. y must not overlap x.
CYG_HD bool inside_box(const int32_t* box, int64_t h, int64_t w) {
  return h >= box[0] && h < int64_t(box[0]) + box[2] && w >= box[1] && w < int64_t(box[1]) + box[3];
}

// Whether value e of a C x H x W image (NCHW, or NHWC with channels_last) lies in the box.
CYG_HD bool value_in_box(const int32_t* box, int64_t e, int64_t C, int64_t H, int64_t W, int channels_last) {
  const int64_t h = channels_last ? e / (W * C) : (e / W) % H;
  const int64_t w = channels_last ? (e / C) % W : e % W;
  return inside_box(box, h, w);
}

// CPU: every partner in [0, N) and every box inside the image, else cyg::Error naming
// the image. CUDA: an image whose partner is outside [0, N) becomes NaN; a box is only
// compared, never used to index.
void cutmix_images_cpu(const float* x, const int32_t* partner, const int32_t* box, int64_t N, int64_t C, int64_t H,
                       int64_t W, int channels_last, float* y);
CYG_CUDA_DECL(void cutmix_images_cuda(const float* x, const int32_t* partner, const int32_t* box, int64_t N, int64_t C,
                                      int64_t H, int64_t W, int channels_last, float* y,
                                      const LaunchConfig& cfg = {}))

}  // namespace cyg
