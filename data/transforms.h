// What the loader does to each image besides gathering it: per-channel normalisation
// ((x/255 - mean[c]) / std[c]) and the optional training augmentation.
#pragma once
#include <cstdint>
#include <vector>

namespace cyg {

// One mean and one standard deviation per channel, on the [0, 1] pixel scale.
struct Normalization {
  std::vector<float> mean, std;
};

// Per-channel mean and standard deviation of the 50,000 CIFAR-10 training images (the
// values the reference PyTorch recipes use). On a JPEG-compressed copy of CIFAR-10 the
// same statistics come out within 0.002.
inline Normalization cifar10_normalization() { return {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}}; }

// Mean and standard deviation of the 60,000 Fashion-MNIST training images.
inline Normalization fashion_mnist_normalization() { return {{0.2860f}, {0.3530f}}; }

// Off by default, as in the seed report. With crop_padding p, each image is padded by p
// zero pixels on every side and a window of the original size is cut at a random offset
// (torchvision's RandomCrop(size, padding=p)); with horizontal_flip, half the images are
// mirrored. Both are drawn per sample from the loader's seed and the sample's position.
// mirror_every_image mirrors them all instead: the second view of flip test-time
// augmentation. With cutout s, a square of side s, its centre anywhere in the image,
// is set to 0 after normalisation (the channel's mean; DeVries and Taylor's cutout).
struct Augmentation {
  int64_t crop_padding = 0;
  bool horizontal_flip = false;
  bool mirror_every_image = false;
  int64_t cutout = 0;
};

}  // namespace cyg
