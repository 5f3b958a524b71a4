// The loader: the epoch's order (a seeded shuffle, the same on every device), batches
// assembled on the training device by one kernel launch each (gather, optional crop and
// flip, normalisation), and resumption in the middle of an epoch.
#pragma once
#include <cstdint>
#include <vector>

#include "data/datasets.h"
#include "data/transforms.h"
#include "engine/functional.h"
#include "engine/tensor.h"
#include "kernels/batch.h"

namespace cyg {

struct Batch {
  Tensor images;  // f32 [B, C, H, W] on the loader's device, normalised; NCHW, or NHWC (channels_last)
  Tensor labels;  // i32 [B] on the loader's device
  int64_t index_in_epoch = 0;
  // The images of the whole batch this one is a slice of (a sharded loader's), else B.
  int64_t global_size = 0;
  // Where its first image stands in the epoch's order (its slice's, when sharded): for a
  // loader without shuffle, that image's index in the dataset.
  int64_t first_position = 0;
  // With MixUp or CutMix: each image's partner in its part (counted from the part's
  // start), weight (and CutMix's box), on the loader's device (data/mixup.h). Off
  // otherwise.
  fn::Mixing mixing;
};

// The order in which an epoch visits a dataset of n samples: a Fisher-Yates shuffle whose
// draws are random_bits of a key derived from (seed, epoch), so it depends on nothing
// else (device, thread count, earlier epochs).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

// A class-balanced epoch of as many draws as there are labels, as PyTorch's
// WeightedRandomSampler(1 / count of each image's class, num_samples=n, replacement=True)
// draws one: at each position a class drawn uniformly from those that have images, then
// one of its images uniformly, so every class is drawn equally often on average and a rare
// class's images repeat. The draws are random_bits of a key derived from (seed, epoch) on
// a stream of their own, so they depend on nothing else. Every label must be >= 0.
std::vector<int64_t> balanced_epoch_sample(const std::vector<int32_t>& labels, uint64_t seed, int64_t epoch);

// Feeds one pass over a dataset per epoch in batches. On CUDA the dataset's u8 images and
// labels are uploaded once, at construction, and each epoch's order once per epoch; a
// batch is then one kernel launch on the current stream, with no host synchronisation.
// The validation loader is the same class without shuffle, augmentation or drop_last.
//
// Random choices: sample s of batch b of epoch e (position p = b * batch_size + s in the
// epoch) is cropped and flipped by the draw of counter (e << 32) + p, so a run resumed
// with start_epoch(e, b) sees exactly the batches the full epoch would have had.
//
// Not thread-safe: one thread calls start_epoch and next. Every batch gets fresh
// tensors, so a batch may be kept while the next one is assembled.
// How a Loader feeds its dataset, named at the call site (PyTorch's DataLoader
// arguments): LoaderOptions(128).shuffle(true).seed(7).normalization(n).device(d).
// Defaults: no shuffle, the last partial batch kept, no augmentation, the CPU.
struct LoaderOptions {
  explicit LoaderOptions(int64_t batch_size) : batch_size_(batch_size) {}
  LoaderOptions& shuffle(bool on) { shuffle_ = on; return *this; }
  // Each epoch a class-balanced sample (balanced_epoch_sample) in place of the shuffle.
  LoaderOptions& balanced(bool on) { balanced_ = on; return *this; }
  LoaderOptions& drop_last(bool on) { drop_last_ = on; return *this; }
  LoaderOptions& seed(uint64_t s) { seed_ = s; return *this; }
  // One mean and one std per channel of the dataset.
  LoaderOptions& normalization(const Normalization& n) { normalization_ = n; return *this; }
  LoaderOptions& augmentation(const Augmentation& a) { augmentation_ = a; return *this; }
  LoaderOptions& device(Device d) { device_ = d; return *this; }
  // Data parallelism: of every batch of batch_size (the global batch), this loader hands
  // out slice `rank` of `ranks` (contiguous, sizes differing by at most one), with the
  // crops and flips the whole batch would have given those images.
  LoaderOptions& shard(int64_t rank, int64_t ranks) { rank_ = rank; ranks_ = ranks; return *this; }
  // Batches laid out channels-last (NHWC), as a channels-last network's first
  // convolution takes them; the same values either way.
  LoaderOptions& channels_last(bool on) { channels_last_ = on; return *this; }
  // MixUp's draws with Beta(alpha, alpha) (0: none) for a training step that runs each
  // slice in micro_batches parts (data/mixup.h): every batch carries its Mixing. Of
  // mixup and cutmix, the last call counts.
  LoaderOptions& mixup(double alpha, int64_t micro_batches = 1) {
    mixup_alpha_ = alpha;
    mixup_micro_batches_ = micro_batches;
    cutmix_ = false;
    return *this;
  }
  // CutMix's draws instead (a box per image), the same way.
  LoaderOptions& cutmix(double alpha, int64_t micro_batches = 1) {
    mixup(alpha, micro_batches);
    cutmix_ = alpha > 0;
    return *this;
  }

  int64_t batch_size_;
  bool shuffle_ = false;
  bool balanced_ = false;
  bool drop_last_ = false;
  uint64_t seed_ = 0;
  Normalization normalization_;
  Augmentation augmentation_;
  Device device_ = Device::cpu();
  int64_t rank_ = 0, ranks_ = 1;
  bool channels_last_ = false;
  double mixup_alpha_ = 0.0;
  int64_t mixup_micro_batches_ = 1;
  bool cutmix_ = false;
};

class Loader {
 public:
  // Datasets of 2^32 or more samples are refused (the counter above holds the position
  // in 32 bits).
  Loader(const Dataset& dataset, const LoaderOptions& options);

  int64_t size() const { return size_; }
  int64_t batch_size() const { return batch_size_; }  // the global batch when sharded
  int64_t ranks() const { return ranks_; }
  // The smallest batch of an epoch (its last one, unless drop_last or even).
  int64_t smallest_batch() const;
  int64_t batches_per_epoch() const;
  Device device() const { return device_; }
  int64_t epoch() const { return epoch_; }

  // Begins epoch `epoch` (0, 1, ...) at batch skip_batches (0 <= skip <= batches per
  // epoch). A new loader stands at the start of epoch 0.
  void start_epoch(int64_t epoch, int64_t skip_batches = 0);

  // The epoch's next batch, or false when the epoch is over. Without drop_last the last
  // batch holds the remainder.
  bool next(Batch& out);

 private:
  int64_t size_, batch_size_;
  int64_t rank_, ranks_;
  bool drop_last_, shuffle_, channels_last_;
  std::vector<int32_t> balanced_labels_;  // with balanced(true): the labels, for each epoch's draws
  uint64_t seed_;
  BatchAugment augment_;  // the options' augmentation, as the batch kernel takes it
  Device device_;
  int64_t channels_, height_, width_;
  Tensor images_, labels_;  // the dataset, on device_
  Tensor mean_, inv_std_;   // f32 [C] on device_
  Tensor order_;            // i64 [size_] on device_: this epoch's dataset indices
  double mixup_alpha_;
  int64_t mixup_micro_batches_;
  bool cutmix_;
  fn::Mixing mixing_;       // MixUp's (CutMix's) draws of this epoch by position, on device_
  int64_t epoch_ = 0, next_batch_ = 0;
};

}  // namespace cyg
