// The loader: seeded epoch orders, the dataset resident on the training device, one
// batch-assembly launch per batch.
#include "data/loader.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "data/mixup.h"
#include "engine/dispatch.h"
#include "engine/random.h"
#include "kernels/batch.h"
#include "kernels/error.h"

namespace cyg {
namespace {
// Keys for the two kinds of draw, derived from the seed at counters nothing else uses,
// so the shuffle and the augmentation are independent streams.
constexpr uint64_t kPermutationStream = 1ull << 63;
constexpr uint64_t kAugmentationStream = (1ull << 63) + 1;
constexpr uint64_t kBalancedStream = (1ull << 63) + 2;
constexpr int64_t kMaxSamples = int64_t(1) << 32;

// The batch kernel's augmentation for the loader's.
BatchAugment batch_augment_of(const Augmentation& a) {
  BatchAugment b;
  b.crop_padding = a.crop_padding;
  b.flip = a.mirror_every_image ? kFlipEvery : a.horizontal_flip ? kFlipRandom : kFlipNone;
  b.cutout = a.cutout;
  return b;
}
}  // namespace

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  CYG_CHECK(n >= 0 && epoch >= 0, "epoch_permutation of ", n, " samples for epoch ", epoch);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  const uint64_t key = random_bits(random_bits(seed, kPermutationStream), static_cast<uint64_t>(epoch));
  // With 64 random bits the modulo's bias is below n / 2^64: negligible.
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(random_bits(key, static_cast<uint64_t>(i)) % static_cast<uint64_t>(i + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

std::vector<int64_t> balanced_epoch_sample(const std::vector<int32_t>& labels, uint64_t seed, int64_t epoch) {
  CYG_CHECK(epoch >= 0, "balanced_epoch_sample for epoch ", epoch);
  std::vector<std::vector<int64_t>> by_class;  // each class's images (a class without any: none)
  for (size_t i = 0; i < labels.size(); ++i) {
    CYG_CHECK(labels[i] >= 0, "balanced_epoch_sample: label ", labels[i], " of image ", i);
    const auto c = static_cast<size_t>(labels[i]);
    if (c >= by_class.size()) by_class.resize(c + 1);
    by_class[c].push_back(static_cast<int64_t>(i));
  }
  by_class.erase(std::remove_if(by_class.begin(), by_class.end(), [](const auto& v) { return v.empty(); }),
                 by_class.end());
  std::vector<int64_t> order(labels.size());
  const uint64_t key = random_bits(random_bits(seed, kBalancedStream), static_cast<uint64_t>(epoch));
  for (size_t p = 0; p < order.size(); ++p) {
    const std::vector<int64_t>& images =
        by_class[random_bits(key, 2 * static_cast<uint64_t>(p)) % static_cast<uint64_t>(by_class.size())];
    order[p] = images[random_bits(key, 2 * static_cast<uint64_t>(p) + 1) % static_cast<uint64_t>(images.size())];
  }
  return order;
}

Loader::Loader(const Dataset& dataset, const LoaderOptions& options)
    : size_(dataset.size()),
      batch_size_(options.batch_size_),
      rank_(options.rank_),
      ranks_(options.ranks_),
      drop_last_(options.drop_last_),
      shuffle_(options.shuffle_),
      channels_last_(options.channels_last_),
      seed_(options.seed_),
      augment_(batch_augment_of(options.augmentation_)),
      device_(options.device_),
      mixup_alpha_(options.mixup_alpha_),
      mixup_micro_batches_(options.mixup_micro_batches_),
      cutmix_(options.cutmix_) {
  const Normalization& normalization = options.normalization_;
  const int64_t batch_size = batch_size_;
  const Tensor& images = dataset.images;
  CYG_CHECK(images.defined() && images.dtype() == DType::U8 && images.dim() == 4, "dataset '", dataset.name,
            "': images must be u8 [N, C, H, W]");
  CYG_CHECK(dataset.labels.defined() && dataset.labels.dtype() == DType::I32 && dataset.labels.dim() == 1 &&
                dataset.labels.numel() == images.size(0),
            "dataset '", dataset.name, "': labels must be i32 [", images.size(0), "]");
  CYG_CHECK(batch_size > 0, "loader batch size ", batch_size);
  CYG_CHECK(ranks_ >= 1 && rank_ >= 0 && rank_ < ranks_, "loader shard ", rank_, " of ", ranks_);
  CYG_CHECK(size_ < kMaxSamples, "dataset '", dataset.name, "' of ", size_,
            " samples: the loader takes fewer than 2^32");
  CYG_CHECK(augment_.crop_padding >= 0 && augment_.cutout >= 0, "crop padding ", augment_.crop_padding, ", cutout ",
            augment_.cutout);
  CYG_CHECK(mixup_alpha_ >= 0.0 && std::isfinite(mixup_alpha_) && mixup_micro_batches_ >= 1, cutmix_ ? "cutmix alpha " : "mixup alpha ",
            mixup_alpha_, " (0: none) with ", mixup_micro_batches_, " micro-batch(es)");
  channels_ = images.size(1);
  height_ = images.size(2);
  width_ = images.size(3);
  const size_t C = static_cast<size_t>(channels_);
  CYG_CHECK(normalization.mean.size() == C && normalization.std.size() == C, "normalization with ",
            normalization.mean.size(), " means and ", normalization.std.size(), " stds for dataset '", dataset.name,
            "' of ", channels_, " channel(s): one of each per channel");
  std::vector<float> inv_std(C);
  for (size_t c = 0; c < C; ++c) {
    CYG_CHECK(normalization.std[c] > 0.0f, "normalization std ", normalization.std[c], " of channel ", c);
    inv_std[c] = 1.0f / normalization.std[c];
  }
  images_ = images.contiguous().to(device_);
  labels_ = dataset.labels.contiguous().to(device_);
  if (options.balanced_) {
    const Tensor host = dataset.labels.contiguous().to(Device::cpu());
    balanced_labels_.assign(host.data<int32_t>(), host.data<int32_t>() + host.numel());
  }
  mean_ = Tensor::from_vector(normalization.mean, {channels_}, device_);
  inv_std_ = Tensor::from_vector(inv_std, {channels_}, device_);
  start_epoch(0);
}

int64_t Loader::batches_per_epoch() const {
  return drop_last_ ? size_ / batch_size_ : (size_ + batch_size_ - 1) / batch_size_;
}

int64_t Loader::smallest_batch() const {
  const int64_t remainder = size_ % batch_size_;
  return drop_last_ || remainder == 0 ? std::min(batch_size_, size_) : remainder;
}

void Loader::start_epoch(int64_t epoch, int64_t skip_batches) {
  CYG_CHECK(epoch >= 0, "start_epoch(", epoch, ")");
  CYG_CHECK(skip_batches >= 0 && skip_batches <= batches_per_epoch(), "start_epoch skipping ", skip_batches,
            " batches of an epoch of ", batches_per_epoch());
  std::vector<int64_t> order(static_cast<size_t>(size_));
  std::iota(order.begin(), order.end(), int64_t(0));
  if (!balanced_labels_.empty())
    order = balanced_epoch_sample(balanced_labels_, seed_, epoch);
  else if (shuffle_)
    order = epoch_permutation(size_, seed_, epoch);
  Tensor host = Tensor::empty({size_}, DType::I64);
  std::copy(order.begin(), order.end(), host.data<int64_t>());
  order_ = host.to(device_);
  if (mixup_alpha_ > 0.0) {
    const BatchParts parts{size_, batch_size_, drop_last_, ranks_, mixup_micro_batches_};
    const MixUpPlan plan = cutmix_ ? cutmix_plan(seed_, epoch, mixup_alpha_, parts, height_, width_)
                                   : mixup_plan(seed_, epoch, mixup_alpha_, parts);
    mixing_ = {Tensor::from_vector_i32(plan.partner, {size_}, device_),
               Tensor::from_vector(plan.weight, {size_}, device_),
               cutmix_ ? Tensor::from_vector_i32(plan.box, {size_, 4}, device_) : Tensor()};
  }
  epoch_ = epoch;
  next_batch_ = skip_batches;
}

bool Loader::next(Batch& out) {
  if (next_batch_ >= batches_per_epoch()) return false;
  const int64_t global_first = next_batch_ * batch_size_;
  const int64_t global_count = std::min(batch_size_, size_ - global_first);
  // This rank's slice of the global batch.
  const int64_t first = global_first + global_count * rank_ / ranks_;
  const int64_t count = global_first + global_count * (rank_ + 1) / ranks_ - first;
  Tensor images = Tensor::empty({count, channels_, height_, width_}, DType::F32, device_,
                                channels_last_ ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous);
  Tensor labels = Tensor::empty({count}, DType::I32, device_);
  const int64_t* indices = order_.data<int64_t>() + first;
  const uint64_t augmentation_seed = random_bits(seed_, kAugmentationStream);
  const uint64_t counter = (static_cast<uint64_t>(epoch_) << 32) + static_cast<uint64_t>(first);
  kernels_for(device_).assemble_batch(images_.data<uint8_t>(), labels_.data<int32_t>(), indices, count, channels_,
                                      height_, width_, mean_.data<float>(), inv_std_.data<float>(),
                                      augment_, augmentation_seed, counter,
                                      channels_last_ ? 1 : 0, images.data<float>(), labels.data<int32_t>());
  out.images = std::move(images);
  out.labels = std::move(labels);
  out.index_in_epoch = next_batch_++;
  out.global_size = global_count;
  out.first_position = first;
  out.mixing = mixing_.slice(first, first + count);
  return true;
}

}  // namespace cyg
