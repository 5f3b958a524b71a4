// The loader: the epoch order, batching and resumption, normalisation and augmentation
// as seen through its batches, CUDA batches against the CPU's; and the transforms'
// defaults.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "data/datasets.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "engine/device.h"
#include "kernels/random.h"
#include "tests/data/data_helpers.h"

namespace {

using cyg::Augmentation;
using cyg::Batch;
using cyg::Dataset;
using cyg::DType;
using cyg::Loader;
using cyg::LoaderOptions;
using cyg::Normalization;
using cyg::Tensor;
using cyg::test::Bytes;
using cyg::test::expect_error;

// ---- normalisation and augmentation defaults ----

TEST(Transforms, DefaultsAreTheDatasetStatistics) {
  const Normalization cifar = cyg::cifar10_normalization(), fashion = cyg::fashion_mnist_normalization();
  EXPECT_EQ(cifar.mean, (std::vector<float>{0.4914f, 0.4822f, 0.4465f}));
  EXPECT_EQ(cifar.std, (std::vector<float>{0.2470f, 0.2435f, 0.2616f}));
  EXPECT_EQ(fashion.mean, (std::vector<float>{0.2860f}));
  EXPECT_EQ(fashion.std, (std::vector<float>{0.3530f}));
  const Augmentation none;
  EXPECT_EQ(none.crop_padding, 0);
  EXPECT_FALSE(none.horizontal_flip);
}

TEST(Transforms, RandomBitsAreSplitmix64) {
  // splitmix64's first output for state 0 is 0xe220a8397b1dcdaf; mix(mix(7) ^ 5) worked
  // out with Python's integers.
  EXPECT_EQ(cyg::mix64(0), 0xe220a8397b1dcdafull);
  EXPECT_EQ(cyg::random_bits(7, 5), 0x88bf589a5ce00596ull);
}

// ---- the loader ----

// Image i is 1x1x2 with bytes (i, 255 - i) and label i % 3: with mean 0 and std 1 the
// batch holds i/255, so every sample says which dataset index it came from.
Dataset indexed_dataset(int64_t n) {
  Dataset d;
  d.name = "indexed";
  d.num_classes = 3;
  d.images = Tensor::empty({n, 1, 1, 2}, DType::U8);
  d.labels = Tensor::empty({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) {
    d.images.data<uint8_t>()[2 * i] = static_cast<uint8_t>(i);
    d.images.data<uint8_t>()[2 * i + 1] = static_cast<uint8_t>(255 - i);
    d.labels.data<int32_t>()[i] = static_cast<int32_t>(i % 3);
  }
  return d;
}

const Normalization kIdentity{{0.0f}, {1.0f}};

// The dataset indices of one epoch's batches, checking labels and pixels on the way.
std::vector<std::vector<int64_t>> epoch_indices(Loader& loader, int64_t epoch, int64_t skip = 0) {
  loader.start_epoch(epoch, skip);
  std::vector<std::vector<int64_t>> batches;
  Batch b;
  while (loader.next(b)) {
    EXPECT_EQ(b.index_in_epoch, skip + static_cast<int64_t>(batches.size()));
    const std::vector<float> px = b.images.to_vector(), labels = b.labels.to_vector();
    std::vector<int64_t> indices;
    for (size_t s = 0; s < labels.size(); ++s) {
      const auto i = static_cast<int64_t>(std::lround(px[2 * s] * 255.0f));
      EXPECT_FLOAT_EQ(px[2 * s + 1], static_cast<float>(255 - i) / 255.0f);
      EXPECT_EQ(labels[s], static_cast<float>(i % 3));
      indices.push_back(i);
    }
    batches.push_back(indices);
  }
  return batches;
}

std::vector<int64_t> flatten(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

TEST(Loader, EveryIndexOncePerEpochAndBatchCounts) {
  const Dataset d = indexed_dataset(10);
  Loader keep(d, LoaderOptions(4).shuffle(true).seed(42).normalization(kIdentity));
  EXPECT_EQ(keep.size(), 10);
  EXPECT_EQ(keep.batches_per_epoch(), 3);
  const auto batches = epoch_indices(keep, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].size(), 4u);
  EXPECT_EQ(batches[2].size(), 2u);
  std::vector<int64_t> all = flatten(batches);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));

  Loader drop(d, LoaderOptions(4).shuffle(true).drop_last(true).seed(42).normalization(kIdentity));
  EXPECT_EQ(drop.batches_per_epoch(), 2);
  const auto dropped = epoch_indices(drop, 0);
  ASSERT_EQ(dropped.size(), 2u);
  std::vector<int64_t> eight = flatten(dropped);
  EXPECT_EQ(std::set<int64_t>(eight.begin(), eight.end()).size(), 8u);
  EXPECT_EQ(flatten(batches).front(), eight.front()) << "drop_last changes only the tail";

  Loader ordered(d, LoaderOptions(4).seed(42).normalization(kIdentity));
  EXPECT_EQ(flatten(epoch_indices(ordered, 5)), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  Loader exact(indexed_dataset(8), LoaderOptions(4).shuffle(true).drop_last(true).seed(1).normalization(kIdentity));
  EXPECT_EQ(exact.batches_per_epoch(), 2);
}

TEST(Loader, OrderDependsOnSeedAndEpochOnly) {
  const Dataset d = indexed_dataset(200);
  const LoaderOptions shuffled = LoaderOptions(64).shuffle(true).seed(42).normalization(kIdentity);
  Loader a(d, shuffled), b(d, shuffled), c(d, LoaderOptions(shuffled).seed(43));
  const auto a0 = flatten(epoch_indices(a, 0)), a1 = flatten(epoch_indices(a, 1));
  EXPECT_NE(a0, a1);
  EXPECT_EQ(flatten(epoch_indices(b, 1)), a1);  // another loader, epoch 0 skipped
  EXPECT_EQ(flatten(epoch_indices(b, 0)), a0);
  EXPECT_NE(flatten(epoch_indices(c, 0)), a0);
  EXPECT_EQ(a0, cyg::epoch_permutation(200, 42, 0));
  std::vector<int64_t> identity(200);
  for (int64_t i = 0; i < 200; ++i) identity[static_cast<size_t>(i)] = i;
  EXPECT_NE(a0, identity);
  // A fresh loader stands at the start of epoch 0.
  Loader fresh(d, LoaderOptions(64).shuffle(true).seed(42).normalization(kIdentity));
  Batch first;
  ASSERT_TRUE(fresh.next(first));
  EXPECT_EQ(std::lround(first.images.to_vector()[0] * 255.0f), a0[0]);
}

// data.sampler=balanced: on labels of 900, 100 and 10 images (and a class number with
// none), each class is drawn a third of the time, each image of the rarest class about
// equally often; the draws depend on the seed and epoch only; and a loader with
// balanced(true) hands out those draws' images, in that order.
TEST(Loader, ABalancedSampleDrawsEveryClassEquallyOften) {
  std::vector<int32_t> labels;
  for (int k = 0; k < 900; ++k) labels.push_back(0);
  for (int k = 0; k < 100; ++k) labels.push_back(3);
  for (int k = 0; k < 10; ++k) labels.push_back(1);
  std::shuffle(labels.begin(), labels.end(), std::mt19937(5));
  const int64_t epochs = 20, draws = epochs * static_cast<int64_t>(labels.size());
  std::map<int32_t, int64_t> per_class;
  std::map<int64_t, int64_t> per_rare_image;
  for (int64_t e = 0; e < epochs; ++e) {
    const std::vector<int64_t> order = cyg::balanced_epoch_sample(labels, 42, e);
    ASSERT_EQ(order.size(), labels.size());
    for (int64_t i : order) {
      ASSERT_GE(i, 0);
      ASSERT_LT(i, static_cast<int64_t>(labels.size()));
      ++per_class[labels[static_cast<size_t>(i)]];
      if (labels[static_cast<size_t>(i)] == 1) ++per_rare_image[i];
    }
  }
  EXPECT_EQ(per_class.count(2), 0u) << "a class without images is never drawn";
  // Binomial(20200, 1/3): sd 67; five of them.
  for (int32_t c : {0, 1, 3}) EXPECT_NEAR(static_cast<double>(per_class[c]), draws / 3.0, 5 * 67.0) << "class " << c;
  // Each of the rare class's 10 images: about 673 draws, sd 25.
  ASSERT_EQ(per_rare_image.size(), 10u);
  for (const auto& [i, n] : per_rare_image) EXPECT_NEAR(static_cast<double>(n), draws / 30.0, 5 * 25.0) << "image " << i;
  EXPECT_EQ(cyg::balanced_epoch_sample(labels, 42, 3), cyg::balanced_epoch_sample(labels, 42, 3));
  EXPECT_NE(cyg::balanced_epoch_sample(labels, 42, 3), cyg::balanced_epoch_sample(labels, 42, 4));
  EXPECT_NE(cyg::balanced_epoch_sample(labels, 42, 3), cyg::balanced_epoch_sample(labels, 43, 3));

  // The loader: indexed_dataset's labels are i % 3; make class 0 rare (6 of 60 images).
  Dataset d = indexed_dataset(60);
  for (int64_t i = 0; i < 60; ++i) d.labels.data<int32_t>()[i] = i % 10 == 0 ? 0 : 1 + static_cast<int32_t>(i % 2);
  std::vector<int32_t> dataset_labels(d.labels.data<int32_t>(), d.labels.data<int32_t>() + 60);
  Loader loader(d, LoaderOptions(16).shuffle(true).balanced(true).seed(7).normalization(kIdentity));
  loader.start_epoch(2);
  std::vector<int64_t> seen;
  Batch b;
  while (loader.next(b)) {
    const std::vector<float> px = b.images.to_vector(), batch_labels = b.labels.to_vector();
    for (size_t s = 0; s < batch_labels.size(); ++s) {
      const auto i = static_cast<int64_t>(std::lround(px[2 * s] * 255.0f));
      EXPECT_EQ(batch_labels[s], static_cast<float>(dataset_labels[static_cast<size_t>(i)]));
      seen.push_back(i);
    }
  }
  EXPECT_EQ(seen, cyg::balanced_epoch_sample(dataset_labels, 7, 2));
  EXPECT_NE(seen, cyg::epoch_permutation(60, 7, 2));
}

TEST(Loader, SkipBatchesResumesWithTheSameBatches) {
  const Dataset d = indexed_dataset(10);
  Loader loader(d, LoaderOptions(3).shuffle(true).seed(9).normalization(kIdentity));
  const auto full = epoch_indices(loader, 4);
  ASSERT_EQ(full.size(), 4u);
  const auto tail = epoch_indices(loader, 4, 2);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0], full[2]);
  EXPECT_EQ(tail[1], full[3]);
  EXPECT_TRUE(epoch_indices(loader, 4, 4).empty());
  EXPECT_THROW(loader.start_epoch(4, 5), cyg::Error);
  EXPECT_THROW(loader.start_epoch(-1), cyg::Error);
}

TEST(Loader, NormalisesAKnownPixelByHand) {
  Dataset d;
  d.name = "one";
  d.num_classes = 1;
  d.images = Tensor::zeros({1, 3, 2, 2}, DType::U8);
  d.labels = Tensor::zeros({1}, DType::I32);
  d.images.data<uint8_t>()[1 * 4 + 0 * 2 + 1] = 200;  // channel 1 (green), y 0, x 1
  Loader loader(d, LoaderOptions(1).normalization(cyg::cifar10_normalization()));
  Batch b;
  ASSERT_TRUE(loader.next(b));
  ASSERT_EQ(b.images.shape(), (cyg::Shape{1, 3, 2, 2}));
  ASSERT_EQ(b.images.dtype(), DType::F32);
  ASSERT_EQ(b.labels.dtype(), DType::I32);
  const std::vector<float> v = b.images.to_vector();
  EXPECT_NEAR(v[5], (200.0 / 255.0 - 0.4822) / 0.2435, 1e-5);  // 1.2406...
  EXPECT_NEAR(v[4], -0.4822 / 0.2435, 1e-5);
  EXPECT_NEAR(v[0], -0.4914 / 0.2470, 1e-5);
  EXPECT_NEAR(v[11], -0.4465 / 0.2616, 1e-5);
}

TEST(Loader, RejectsNormalizationOfTheWrongChannelCount) {
  const Dataset d = indexed_dataset(4);
  expect_error([&] { Loader(d, LoaderOptions(2).normalization(cyg::cifar10_normalization())); },
               {"3 means and 3 stds", "1 channel"});
  expect_error([&] { Loader(d, LoaderOptions(2).normalization(Normalization{{0.0f}, {0.0f}})); }, {"std 0"});
  expect_error([&] { Loader(d, LoaderOptions(0).normalization(kIdentity)); }, {"batch size 0"});
}

// n copies of one 1x4x4 image whose pixels are all different: pixel p = 10 + 15p.
Dataset copies_of_one_image(int64_t n, Bytes* image) {
  Dataset d;
  d.name = "copies";
  d.num_classes = 1;
  d.images = Tensor::empty({n, 1, 4, 4}, DType::U8);
  d.labels = Tensor::zeros({n}, DType::I32);
  image->resize(16);
  for (int p = 0; p < 16; ++p) (*image)[static_cast<size_t>(p)] = static_cast<uint8_t>(10 + 15 * p);
  for (int64_t i = 0; i < n; ++i) std::copy(image->begin(), image->end(), d.images.data<uint8_t>() + 16 * i);
  return d;
}

// The 4x4 image shifted so that output (y, x) shows source (y + dy, x' + dx), x' = x or
// its mirror; outside the source it is a zero pixel. Values as bytes/255 (mean 0, std 1).
std::vector<float> shifted(const Bytes& image, int dy, int dx, bool flip) {
  std::vector<float> out(16);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) {
      const int sy = y + dy, sx = (flip ? 3 - x : x) + dx;
      const bool inside = sy >= 0 && sy < 4 && sx >= 0 && sx < 4;
      out[static_cast<size_t>(y * 4 + x)] = inside ? image[static_cast<size_t>(sy * 4 + sx)] / 255.0f : 0.0f;
    }
  return out;
}

// Which of the given transforms each sample of the epoch shows (-1: none).
std::vector<int> classify(Loader& loader, const std::vector<std::vector<float>>& candidates) {
  std::vector<int> seen;
  loader.start_epoch(0);
  Batch b;
  while (loader.next(b)) {
    const std::vector<float> v = b.images.to_vector();
    for (size_t s = 0; s * 16 < v.size(); ++s) {
      const std::vector<float> sample(v.begin() + static_cast<std::ptrdiff_t>(16 * s),
                                      v.begin() + static_cast<std::ptrdiff_t>(16 * s + 16));
      const auto it = std::find(candidates.begin(), candidates.end(), sample);
      seen.push_back(it == candidates.end() ? -1 : static_cast<int>(it - candidates.begin()));
    }
  }
  return seen;
}

// Data parallelism: the shards of 3 ranks, batch by batch, put together in rank order,
// are the whole loader's batches, with the same pixels (crops and flips included) and
// labels; each says the size of the whole batch; their sizes differ by at most one,
// also in the partial last batch.
TEST(Loader, ShardsOfEveryBatchMakeTheWholeBatch) {
  Bytes image;
  Dataset d = copies_of_one_image(23, &image);
  for (int64_t i = 0; i < 23; ++i) {  // each image and label its own
    d.images.data<uint8_t>()[16 * i + 5] = static_cast<uint8_t>(i);
    d.labels.data<int32_t>()[i] = static_cast<int32_t>(i % 4);
  }
  d.num_classes = 4;
  Augmentation augmentation;
  augmentation.crop_padding = 1;
  augmentation.horizontal_flip = true;
  augmentation.cutout = 2;  // each slice cuts the squares the whole batch would
  const LoaderOptions options =
      LoaderOptions(8).shuffle(true).seed(5).normalization(kIdentity).augmentation(augmentation);
  Loader whole(d, options);
  std::vector<Loader> shards;
  for (int64_t r = 0; r < 3; ++r) shards.emplace_back(d, LoaderOptions(options).shard(r, 3));
  EXPECT_EQ(shards[2].batches_per_epoch(), whole.batches_per_epoch());
  EXPECT_EQ(whole.smallest_batch(), 7);
  for (int64_t epoch : {0, 1}) {
    whole.start_epoch(epoch);
    for (Loader& s : shards) s.start_epoch(epoch);
    Batch all;
    int64_t batches = 0;
    while (whole.next(all)) {
      std::vector<float> images, labels;
      std::vector<int64_t> sizes;
      for (Loader& s : shards) {
        Batch part;
        ASSERT_TRUE(s.next(part));
        EXPECT_EQ(part.global_size, all.labels.numel());
        EXPECT_EQ(part.index_in_epoch, all.index_in_epoch);
        const std::vector<float> px = part.images.to_vector(), lb = part.labels.to_vector();
        images.insert(images.end(), px.begin(), px.end());
        labels.insert(labels.end(), lb.begin(), lb.end());
        sizes.push_back(part.labels.numel());
      }
      EXPECT_EQ(images, all.images.to_vector()) << "epoch " << epoch << " batch " << batches;
      EXPECT_EQ(labels, all.labels.to_vector());
      EXPECT_LE(*std::max_element(sizes.begin(), sizes.end()) - *std::min_element(sizes.begin(), sizes.end()), 1);
      ++batches;
    }
    EXPECT_EQ(batches, 3);
    for (Loader& s : shards) {
      Batch none;
      EXPECT_FALSE(s.next(none));
    }
  }
  EXPECT_THROW(Loader(d, LoaderOptions(options).shard(3, 3)), cyg::Error);
}

// Without shuffle, each batch's first_position is its first image's index in the dataset,
// also for each rank's slice (an odd last batch split unevenly): every image once, the
// ranks' slices in rank order, each image (its first byte is its index) where it says.
TEST(Loader, FirstPositionIsTheImagesIndexInEveryShard) {
  const Dataset d = indexed_dataset(11);
  const LoaderOptions options = LoaderOptions(4).normalization(kIdentity);
  std::vector<int64_t> seen;
  for (int64_t ranks : {1, 2, 3}) {
    SCOPED_TRACE(ranks);
    seen.clear();
    std::vector<Loader> shards;
    for (int64_t r = 0; r < ranks; ++r) shards.emplace_back(d, LoaderOptions(options).shard(r, ranks));
    for (int64_t b = 0; b < shards[0].batches_per_epoch(); ++b)
      for (Loader& s : shards) {
        Batch part;
        ASSERT_TRUE(s.next(part));
        const std::vector<float> pixels = part.images.to_vector();
        for (int64_t i = 0; i < part.labels.numel(); ++i) {
          EXPECT_EQ(pixels[static_cast<size_t>(2 * i)], static_cast<float>(part.first_position + i) / 255.0f);
          seen.push_back(part.first_position + i);
        }
      }
    std::vector<int64_t> all(11);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(seen, all);
  }
}

// 11 RGB images of 5x4 pixels, of 5 classes, every byte different from its neighbours.
Dataset small_rgb_dataset() {
  Dataset d;
  d.name = "rgb";
  d.num_classes = 5;
  d.images = Tensor::empty({11, 3, 5, 4}, DType::U8);
  d.labels = Tensor::empty({11}, DType::I32);
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37) % 251);
  for (int64_t i = 0; i < 11; ++i) d.labels.data<int32_t>()[i] = static_cast<int32_t>(i % 5);
  return d;
}

// Channels-last batches (LoaderOptions::channels_last) hold the NCHW batches' values,
// laid out NHWC, with the same crops and flips; on the CPU and on the emulated device.
TEST(Loader, ChannelsLastBatchesHoldTheSameValues) {
  const Dataset d = small_rgb_dataset();
  const Normalization norm{{0.1f, 0.2f, 0.3f}, {0.5f, 0.25f, 2.0f}};
  for (cyg::Device device : {cyg::Device::cpu(), cyg::Device::emu()}) {
    SCOPED_TRACE(device.str());
    const LoaderOptions options =
        LoaderOptions(4).shuffle(true).seed(9).normalization(norm).augmentation({1, true}).device(device);
    Loader nchw(d, options), nhwc(d, LoaderOptions(options).channels_last(true));
    Batch a, b;
    int64_t batches = 0;
    while (nchw.next(a)) {
      ASSERT_TRUE(nhwc.next(b));
      EXPECT_TRUE(b.images.is_contiguous(cyg::MemoryFormat::ChannelsLast));
      EXPECT_FALSE(b.images.is_contiguous());
      EXPECT_EQ(b.images.shape(), a.images.shape());
      EXPECT_EQ(b.images.contiguous().to_vector(), a.images.to_vector()) << "batch " << batches;
      EXPECT_EQ(b.labels.to_vector(), a.labels.to_vector());
      ++batches;
    }
    EXPECT_EQ(batches, 3);
  }
}

TEST(Loader, FlipMirrorsAboutHalfTheImages) {
  Bytes image;
  const Dataset d = copies_of_one_image(64, &image);
  Augmentation flip;
  flip.horizontal_flip = true;
  Loader loader(d, LoaderOptions(16).seed(3).normalization(kIdentity).augmentation(flip));
  const std::vector<int> seen = classify(loader, {shifted(image, 0, 0, false), shifted(image, 0, 0, true)});
  ASSERT_EQ(seen.size(), 64u);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), -1), 0);
  const auto mirrored = std::count(seen.begin(), seen.end(), 1);
  EXPECT_GT(mirrored, 16);
  EXPECT_LT(mirrored, 48);
  Loader plain(d, LoaderOptions(16).seed(3).normalization(kIdentity));
  const std::vector<int> unchanged = classify(plain, {shifted(image, 0, 0, false)});
  EXPECT_EQ(std::count(unchanged.begin(), unchanged.end(), 0), 64);
}

// mirror_every_image (test-time augmentation's second view): the batches of the same
// images mirrored here, row by row, on every device and in both layouts, the random flip
// and the crop of the training augmentation not drawn.
TEST(Loader, MirrorEveryImageGivesTheMirroredImagesBatches) {
  const Dataset d = small_rgb_dataset();
  Dataset mirrored = d;
  mirrored.images = Tensor::empty({11, 3, 5, 4}, DType::U8);
  for (int64_t row = 0; row < 11 * 3 * 5; ++row)
    for (int64_t x = 0; x < 4; ++x)
      mirrored.images.data<uint8_t>()[row * 4 + x] = d.images.data<uint8_t>()[row * 4 + 3 - x];
  const Normalization norm{{0.1f, 0.2f, 0.3f}, {0.5f, 0.25f, 2.0f}};
  Augmentation mirror;
  mirror.mirror_every_image = true;
  for (cyg::Device device : {cyg::Device::cpu(), cyg::Device::emu()})
    for (bool channels_last : {false, true}) {
      SCOPED_TRACE(device.str() + (channels_last ? " channels_last" : " nchw"));
      const LoaderOptions options =
          LoaderOptions(4).seed(9).normalization(norm).device(device).channels_last(channels_last);
      Loader under_test(d, LoaderOptions(options).augmentation(mirror)), reference(mirrored, options);
      Loader plain(d, options);
      Batch a, b, c;
      int64_t batches = 0;
      bool differs_from_plain = false;
      while (under_test.next(a)) {
        ASSERT_TRUE(reference.next(b));
        ASSERT_TRUE(plain.next(c));
        EXPECT_EQ(a.images.contiguous().to_vector(), b.images.contiguous().to_vector()) << "batch " << batches;
        EXPECT_EQ(a.labels.to_vector(), b.labels.to_vector());
        differs_from_plain |= a.images.contiguous().to_vector() != c.images.contiguous().to_vector();
        ++batches;
      }
      EXPECT_EQ(batches, 3);
      EXPECT_TRUE(differs_from_plain);
    }
}

TEST(Loader, CropShiftsWithinThePaddingAndFillsZeros) {
  Bytes image;
  const Dataset d = copies_of_one_image(64, &image);
  Augmentation crop;
  crop.crop_padding = 1;
  Loader loader(d, LoaderOptions(10).seed(5).normalization(kIdentity).augmentation(crop));
  std::vector<std::vector<float>> shifts;
  for (int dy = -1; dy <= 1; ++dy)
    for (int dx = -1; dx <= 1; ++dx) shifts.push_back(shifted(image, dy, dx, false));
  const std::vector<int> seen = classify(loader, shifts);
  ASSERT_EQ(seen.size(), 64u);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), -1), 0) << "a sample that is no shift of the image";
  EXPECT_EQ(std::set<int>(seen.begin(), seen.end()).size(), 9u) << "every offset in [0, 2] x [0, 2] drawn";

  // Resuming mid-epoch draws the same crops: counters follow the position in the epoch.
  loader.start_epoch(2);
  std::vector<Batch> full;
  for (Batch b; loader.next(b);) full.push_back(b);
  loader.start_epoch(2, 3);
  for (size_t k = 3; k < full.size(); ++k) {
    Batch b;
    ASSERT_TRUE(loader.next(b));
    EXPECT_EQ(b.images.to_vector(), full[k].images.to_vector()) << "batch " << k;
  }
  loader.start_epoch(3);
  Batch other;
  ASSERT_TRUE(loader.next(other));
  EXPECT_NE(other.images.to_vector(), full[0].images.to_vector()) << "epochs 2 and 3 drew the same crops";
}

// Cutout: in each image one square of zeros (the normalised mean), of side 4 wherever it
// lies wholly inside the 9x9 image and clipped at the edges elsewhere, its place drawn
// anew per image; the rest of the image as it was, and the crops and flips drawn as
// without cutout.
TEST(Loader, CutoutZeroesOneSquareAtARandomPlace) {
  const int64_t n = 300, side = 9, s = 4;
  Dataset d;
  d.name = "bright";
  d.num_classes = 1;
  d.images = Tensor::empty({n, 1, side, side}, DType::U8);
  d.labels = Tensor::zeros({n}, DType::I32);
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images.data<uint8_t>()[i] = static_cast<uint8_t>(1 + (i * 7) % 250);
  Augmentation with, without;
  with.crop_padding = without.crop_padding = 2;
  with.horizontal_flip = without.horizontal_flip = true;
  with.cutout = s;
  Loader cut(d, LoaderOptions(32).seed(3).normalization(kIdentity).augmentation(with));
  Loader plain(d, LoaderOptions(32).seed(3).normalization(kIdentity).augmentation(without));
  std::set<std::pair<int64_t, int64_t>> corners;
  int64_t whole = 0, clipped = 0, images = 0;
  for (Batch a, b; cut.next(a);) {
    ASSERT_TRUE(plain.next(b));
    const std::vector<float> x = a.images.to_vector(), y = b.images.to_vector();
    for (int64_t k = 0; k < a.labels.numel(); ++k, ++images) {
      // The pixels that differ from the uncut batch (a crop's padding is 0 in both).
      int64_t top = side, left = side, bottom = -1, right = -1;
      for (int64_t r = 0; r < side; ++r)
        for (int64_t c = 0; c < side; ++c) {
          const size_t at = static_cast<size_t>((k * side + r) * side + c);
          if (x[at] == y[at]) continue;
          ASSERT_EQ(x[at], 0.0f) << "image " << images << " pixel " << r << "," << c;
          top = std::min(top, r), left = std::min(left, c), bottom = std::max(bottom, r), right = std::max(right, c);
        }
      if (bottom < 0) continue;  // the square fell on the crop's padding alone
      // Every pixel of the bounding box is cut: one rectangle, at most s x s.
      for (int64_t r = top; r <= bottom; ++r)
        for (int64_t c = left; c <= right; ++c)
          ASSERT_EQ(x[static_cast<size_t>((k * side + r) * side + c)], 0.0f) << "image " << images;
      ASSERT_LE(bottom - top + 1, s);
      ASSERT_LE(right - left + 1, s);
      if (bottom - top + 1 == s && right - left + 1 == s) ++whole;
      if (top == 0 || left == 0 || bottom == side - 1 || right == side - 1) ++clipped;
      corners.insert({top, left});
    }
  }
  EXPECT_EQ(images, n);
  EXPECT_GT(whole, n / 4) << "squares wholly inside";
  EXPECT_GT(clipped, n / 4) << "squares at the edges";
  EXPECT_GE(corners.size(), 30u) << "places drawn per image";
}

TEST(Loader, CudaBatchesMatchTheCpu) {
  if (!cyg::cuda_available()) GTEST_SKIP() << "no GPU answers: " << cyg::cuda_unavailable_reason();
  const Dataset d = cyg::make_synthetic(300, 3, 32, 10, 11);
  Augmentation aug;
  aug.crop_padding = 4;
  aug.horizontal_flip = true;
  const Normalization n = cyg::cifar10_normalization();
  const LoaderOptions options = LoaderOptions(128).shuffle(true).seed(21).normalization(n).augmentation(aug);
  Loader cpu(d, options), gpu(d, LoaderOptions(options).device(cyg::Device::cuda()));
  for (int64_t epoch : {0, 3}) {
    cpu.start_epoch(epoch);
    gpu.start_epoch(epoch);
    Batch a, b;
    while (cpu.next(a)) {
      ASSERT_TRUE(gpu.next(b));
      EXPECT_TRUE(b.images.device().is_cuda());
      const std::vector<float> x = a.images.to_vector(), y = b.images.to_vector();
      ASSERT_EQ(x.size(), y.size());
      for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], 1e-6) << "epoch " << epoch << " element " << i;
      EXPECT_EQ(a.labels.to_vector(), b.labels.to_vector());
    }
    EXPECT_FALSE(gpu.next(b));
  }
}

}  // namespace
