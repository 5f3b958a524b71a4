// A training batch as the network sees it (fastai's show_batch): its first images after
// augmentation, blended or pasted where MixUp or CutMix pair them, back in pixels, with
// their labels and shares, as one SVG.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/loader.h"
#include "data/transforms.h"

namespace cyg::app {

// f32 images [N, C, H, W] (either layout, any device), normalised by `n`, back in u8
// pixels on the CPU, NCHW: value * std + mean, times 255, rounded, clamped to [0, 255].
Tensor pixels_of(const Tensor& images, const Normalization& n);

// The first `count` images of the batch's first part (of `parts`: the first micro-batch,
// whose partners it holds), mixed as the step mixes them, each captioned with its class
// and, where paired, its share and its partner's class and share.
std::string batch_svg(const Batch& batch, int64_t parts, const Normalization& n, const std::vector<std::string>& names,
                      const std::string& title, const std::string& subtitle, int64_t count = 16);

}  // namespace cyg::app
