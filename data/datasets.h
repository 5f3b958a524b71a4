// The datasets cygnet trains on, read whole into CPU memory as u8 images and i32
// labels: CIFAR-10 (the official binary layout), Fashion-MNIST (IDX files, gzipped or
// not) and a synthetic set of class-dependent patterns for tests and smoke runs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace cyg {

struct Dataset {
  std::string name;  // e.g. "cifar10-train"
  Tensor images;     // u8 [N, C, H, W], CPU
  Tensor labels;     // i32 [N], CPU, each in [0, num_classes)
  int64_t num_classes = 0;
  std::vector<std::string> class_names;  // the labels' names, where the dataset has them
  std::vector<std::string> files;        // each image's file, where it was read from one (else empty)
  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
};

// Which part of a dataset a reader reads: the training images, or the held-out test
// images (the validation split of the experiments).
enum class Split { Train, Test };

// CIFAR-10 binary version: root/data_batch_1.bin .. data_batch_5.bin (train, 50,000
// images) or root/test_batch.bin (10,000). Each record is 3073 bytes: the label, then
// 1024 red, 1024 green and 1024 blue bytes of a row-major 32x32 image. limit > 0 keeps
// the first `limit` images (and reads only the files they are in). Throws cyg::Error
// naming the file for a missing file, a size that is not a whole number of records, or
// a label outside 0..9.
Dataset load_cifar10(const std::string& root, Split split, int64_t limit = 0);

// Where Debian's package dataset-fashion-mnist installs the four gzipped IDX files.
inline constexpr const char* kFashionMnistDefaultRoot = "/usr/share/datasets/fashion-mnist";

// Fashion-MNIST: root/train-images-idx3-ubyte and train-labels-idx1-ubyte (60,000
// images) or t10k-* (10,000), each read plain or with a .gz suffix (the plain file
// wins when both exist). Images are 1x28x28. limit > 0 keeps the first `limit` images.
// Throws cyg::Error naming the file for a missing file, a bad magic number (2051 for
// images, 2049 for labels), dimensions other than 28x28, image and label counts that
// differ, a file shorter or longer than its header says, or a label outside 0..9.
Dataset load_fashion_mnist(const std::string& root, Split split, int64_t limit = 0);

// n images of channels x size x size in num_classes classes, deterministic from the
// seed. Image i has label i % num_classes (so the classes are balanced), stripes whose
// orientation and frequency depend on the class, a bright square in a class-specific
// cell, a random phase and uniform noise: a small CNN learns it in a few hundred steps.
Dataset make_synthetic(int64_t n, int64_t channels, int64_t size, int64_t num_classes, uint64_t seed);

}  // namespace cyg
