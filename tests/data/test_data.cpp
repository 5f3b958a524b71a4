// The data layer: readers on small files written here (good and broken), the synthetic
// set, normalisation and augmentation as seen through the loader, and the loader's
// epoch order, batching and resumption. Real datasets are used only where installed.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "engine/device.h"
#include "engine/random.h"
#include "kernels/batch.h"
#include "kernels/error.h"

namespace {

using cyg::Augmentation;
using cyg::Batch;
using cyg::Dataset;
using cyg::DType;
using cyg::Loader;
using cyg::LoaderOptions;
using cyg::Normalization;
using cyg::Tensor;
using Bytes = std::vector<uint8_t>;

// A fresh, empty folder per test.
std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "cygnet_test_data" / (std::string(info->name()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// Runs `load`, expecting a cyg::Error whose message holds every one of `parts`.
void expect_error(const std::function<void()>& load, std::initializer_list<std::string> parts) {
  try {
    load();
    ADD_FAILURE() << "no error thrown";
  } catch (const cyg::Error& e) {
    const std::string what = e.what();
    for (const std::string& part : parts)
      EXPECT_NE(what.find(part), std::string::npos) << "'" << part << "' not in: " << what;
  }
}

uint8_t u8_at(const Tensor& t, int64_t n, int64_t c, int64_t y, int64_t x) {
  const auto& s = t.shape();
  return t.data<uint8_t>()[((n * s[1] + c) * s[2] + y) * s[3] + x];
}

// ---- CIFAR-10 ----

// Record r: the label, then pixel byte k (k = c*1024 + y*32 + x) = (31r + k) mod 251.
Bytes cifar_records(const std::vector<int>& labels, int first_record = 0) {
  Bytes bytes;
  for (size_t i = 0; i < labels.size(); ++i) {
    const int r = first_record + static_cast<int>(i);
    bytes.push_back(static_cast<uint8_t>(labels[i]));
    for (int k = 0; k < 3072; ++k) bytes.push_back(static_cast<uint8_t>((31 * r + k) % 251));
  }
  return bytes;
}

TEST(Cifar10, ReadsRecordsChannelsAndPixels) {
  const std::string dir = test_dir();
  write_file(dir + "/test_batch.bin", cifar_records({3, 0, 9}));
  const Dataset d = cyg::load_cifar10(dir, false);
  EXPECT_EQ(d.name, "cifar10-test");
  EXPECT_EQ(d.num_classes, 10);
  ASSERT_EQ(d.images.shape(), (cyg::Shape{3, 3, 32, 32}));
  ASSERT_EQ(d.labels.dtype(), DType::I32);
  EXPECT_EQ(std::vector<int32_t>(d.labels.data<int32_t>(), d.labels.data<int32_t>() + 3),
            (std::vector<int32_t>{3, 0, 9}));
  // (record, channel, y, x) -> byte 31*record + 1024*channel + 32*y + x, mod 251.
  EXPECT_EQ(u8_at(d.images, 0, 0, 0, 0), 0);
  EXPECT_EQ(u8_at(d.images, 0, 0, 0, 5), 5);
  EXPECT_EQ(u8_at(d.images, 0, 0, 1, 0), 32);
  EXPECT_EQ(u8_at(d.images, 1, 1, 0, 0), (31 + 1024) % 251);
  EXPECT_EQ(u8_at(d.images, 2, 2, 31, 31), (62 + 2048 + 31 * 32 + 31) % 251);
  EXPECT_EQ(u8_at(d.images, 1, 2, 7, 3), (31 + 2048 + 7 * 32 + 3) % 251);
}

TEST(Cifar10, TrainConcatenatesBatchesAndLimitReadsOnlyWhatItNeeds) {
  const std::string dir = test_dir();
  write_file(dir + "/data_batch_1.bin", cifar_records({1, 2}, 0));
  write_file(dir + "/data_batch_2.bin", cifar_records({3}, 2));
  // Files 3..5 are absent: a limit of 3 never opens them, no limit does.
  const Dataset three = cyg::load_cifar10(dir, true, 3);
  EXPECT_EQ(three.name, "cifar10-train");
  ASSERT_EQ(three.images.size(0), 3);
  EXPECT_EQ(three.labels.data<int32_t>()[2], 3);
  EXPECT_EQ(u8_at(three.images, 2, 0, 0, 1), (62 + 1) % 251);
  const Dataset one = cyg::load_cifar10(dir, true, 1);
  ASSERT_EQ(one.images.size(0), 1);
  EXPECT_EQ(one.labels.data<int32_t>()[0], 1);
  expect_error([&] { cyg::load_cifar10(dir, true); }, {dir + "/data_batch_3.bin", "not found"});
  for (int k = 3; k <= 5; ++k) write_file(dir + "/data_batch_" + std::to_string(k) + ".bin", cifar_records({k}, k));
  const Dataset all = cyg::load_cifar10(dir, true);
  ASSERT_EQ(all.images.size(0), 6);
  EXPECT_EQ(all.labels.data<int32_t>()[5], 5);
  EXPECT_EQ(u8_at(all.images, 5, 1, 2, 3), (31 * 5 + 1024 + 64 + 3) % 251);
}

TEST(Cifar10, ErrorsNameTheFileAndTheProblem) {
  const std::string dir = test_dir();
  expect_error([&] { cyg::load_cifar10(dir, false); },
               {dir + "/test_batch.bin", "not found", "binary version", "cifar-10-batches-bin"});

  Bytes truncated = cifar_records({1, 2});
  truncated.resize(truncated.size() - 5);
  write_file(dir + "/test_batch.bin", truncated);
  expect_error([&] { cyg::load_cifar10(dir, false); },
               {dir + "/test_batch.bin", "6141 bytes", "3073-byte records", "truncated"});

  write_file(dir + "/test_batch.bin", cifar_records({1, 10, 2}));
  expect_error([&] { cyg::load_cifar10(dir, false); }, {dir + "/test_batch.bin", "record 1", "label 10"});

  write_file(dir + "/test_batch.bin", {});
  expect_error([&] { cyg::load_cifar10(dir, false); }, {dir + "/test_batch.bin", "0 bytes"});
}

// ---- Fashion-MNIST ----

void put_u32_be(Bytes& b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(v >> shift));
}

// Image i: pixel (y, x) = (i*37 + y*28 + x) mod 256.
Bytes idx_images(uint32_t count, uint32_t rows = 28, uint32_t cols = 28, uint32_t magic = 2051) {
  Bytes b;
  put_u32_be(b, magic);
  put_u32_be(b, count);
  put_u32_be(b, rows);
  put_u32_be(b, cols);
  for (uint32_t i = 0; i < count; ++i)
    for (uint32_t p = 0; p < rows * cols; ++p) b.push_back(static_cast<uint8_t>((i * 37 + p) % 256));
  return b;
}

Bytes idx_labels(const std::vector<int>& labels, uint32_t magic = 2049) {
  Bytes b;
  put_u32_be(b, magic);
  put_u32_be(b, static_cast<uint32_t>(labels.size()));
  for (int l : labels) b.push_back(static_cast<uint8_t>(l));
  return b;
}

void check_three_images(const Dataset& d) {
  ASSERT_EQ(d.images.shape(), (cyg::Shape{3, 1, 28, 28}));
  EXPECT_EQ(d.num_classes, 10);
  EXPECT_EQ(std::vector<int32_t>(d.labels.data<int32_t>(), d.labels.data<int32_t>() + 3),
            (std::vector<int32_t>{7, 0, 9}));
  EXPECT_EQ(u8_at(d.images, 0, 0, 0, 3), 3);
  EXPECT_EQ(u8_at(d.images, 1, 0, 2, 1), 37 + 56 + 1);
  EXPECT_EQ(u8_at(d.images, 2, 0, 27, 27), (74 + 27 * 28 + 27) % 256);
}

TEST(FashionMnist, ReadsPlainAndGzippedIdx) {
  const std::string plain = test_dir(), gz = plain + "/gz";
  std::filesystem::create_directories(gz);
  write_file(plain + "/t10k-images-idx3-ubyte", idx_images(3));
  write_file(plain + "/t10k-labels-idx1-ubyte", idx_labels({7, 0, 9}));
  write_gz(gz + "/train-images-idx3-ubyte.gz", idx_images(3));
  write_gz(gz + "/train-labels-idx1-ubyte.gz", idx_labels({7, 0, 9}));
  const Dataset p = cyg::load_fashion_mnist(plain, false);
  EXPECT_EQ(p.name, "fashion-mnist-test");
  check_three_images(p);
  const Dataset g = cyg::load_fashion_mnist(gz, true);
  EXPECT_EQ(g.name, "fashion-mnist-train");
  check_three_images(g);
  const Dataset two = cyg::load_fashion_mnist(gz, true, 2);
  ASSERT_EQ(two.images.size(0), 2);
  EXPECT_EQ(u8_at(two.images, 1, 0, 2, 1), 37 + 56 + 1);
}

TEST(FashionMnist, ErrorsNameTheFileAndTheProblem) {
  const std::string dir = test_dir();
  const std::string images = dir + "/t10k-images-idx3-ubyte", labels = dir + "/t10k-labels-idx1-ubyte";
  auto load = [&] { cyg::load_fashion_mnist(dir, false); };
  expect_error(load, {images, "not found", "dataset-fashion-mnist"});

  write_file(images, idx_images(3));
  expect_error(load, {labels, "not found"});

  write_file(labels, idx_labels({1, 2, 3}));
  write_file(images, idx_images(3, 28, 28, 2049));
  expect_error(load, {images, "bad magic number 2049", "expected 2051"});
  write_file(images, idx_images(3));
  write_file(labels, idx_labels({1, 2, 3}, 2051));
  expect_error(load, {labels, "bad magic number 2051", "expected 2049"});

  write_file(images, idx_images(3, 27, 28));
  write_file(labels, idx_labels({1, 2, 3}));
  expect_error(load, {images, "27x28", "expected 28x28"});

  write_file(images, idx_images(3));
  write_file(labels, idx_labels({1, 2}));
  expect_error(load, {images, "3 images", labels, "2 labels"});

  write_file(labels, idx_labels({1, 10, 3}));
  expect_error(load, {labels, "label 10", "index 1"});

  Bytes short_images = idx_images(3);
  short_images.resize(short_images.size() - 100);
  write_file(images, short_images);
  write_file(labels, idx_labels({1, 2, 3}));
  expect_error(load, {images, "truncated", "2352", "2252"});

  Bytes short_labels = idx_labels({1, 2, 3});
  short_labels.pop_back();
  write_file(images, idx_images(3));
  write_file(labels, short_labels);
  expect_error(load, {labels, "truncated", "expected 3", "found 2"});

  Bytes long_images = idx_images(3);
  long_images.push_back(0);
  write_file(images, long_images);
  write_file(labels, idx_labels({1, 2, 3}));
  expect_error(load, {images, "longer than its header says"});

  // A gzip stream cut short: zlib reads what is there and the count comes up short.
  std::filesystem::remove(images);
  write_gz(images + ".gz", idx_images(3));
  std::ifstream in(images + ".gz", std::ios::binary);
  Bytes gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  write_file(images + ".gz", gz);
  expect_error(load, {images + ".gz", "truncated"});
}

// ---- synthetic ----

TEST(Synthetic, DeterministicBalancedAndClassDependent) {
  const Dataset a = cyg::make_synthetic(200, 3, 16, 10, 7), b = cyg::make_synthetic(200, 3, 16, 10, 7);
  const Dataset c = cyg::make_synthetic(200, 3, 16, 10, 8);
  ASSERT_EQ(a.images.shape(), (cyg::Shape{200, 3, 16, 16}));
  EXPECT_EQ(a.num_classes, 10);
  const auto bytes = [](const Dataset& d) {
    return Bytes(d.images.data<uint8_t>(), d.images.data<uint8_t>() + d.images.numel());
  };
  EXPECT_EQ(bytes(a), bytes(b));
  EXPECT_NE(bytes(a), bytes(c));
  std::vector<int> counts(10, 0);
  for (int64_t i = 0; i < a.size(); ++i) ++counts[static_cast<size_t>(a.labels.data<int32_t>()[i])];
  EXPECT_EQ(counts, std::vector<int>(10, 20));
  const Dataset odd = cyg::make_synthetic(23, 1, 8, 10, 1);
  std::vector<int> odd_counts(10, 0);
  for (int64_t i = 0; i < odd.size(); ++i) ++odd_counts[static_cast<size_t>(odd.labels.data<int32_t>()[i])];
  for (int k = 0; k < 10; ++k) EXPECT_EQ(odd_counts[static_cast<size_t>(k)], k < 3 ? 3 : 2) << "class " << k;

  // Learnable: nearest class mean, fitted on `a`, classifies a set drawn with another seed.
  const int64_t pixels = 3 * 16 * 16;
  std::vector<double> means(static_cast<size_t>(10 * pixels), 0.0);
  for (int64_t i = 0; i < a.size(); ++i)
    for (int64_t p = 0; p < pixels; ++p)
      means[static_cast<size_t>(a.labels.data<int32_t>()[i] * pixels + p)] +=
          a.images.data<uint8_t>()[i * pixels + p] / 20.0;
  int64_t right = 0;
  for (int64_t i = 0; i < c.size(); ++i) {
    int best = 0;
    double best_distance = INFINITY;
    for (int k = 0; k < 10; ++k) {
      double distance = 0;
      for (int64_t p = 0; p < pixels; ++p) {
        const double diff = c.images.data<uint8_t>()[i * pixels + p] - means[static_cast<size_t>(k * pixels + p)];
        distance += diff * diff;
      }
      if (distance < best_distance) best_distance = distance, best = k;
    }
    right += best == c.labels.data<int32_t>()[i];
  }
  EXPECT_GE(right, 180) << "of 200";
}

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

// ---- the real data, where installed ----

TEST(RealData, DebianFashionMnist) {
  const std::string root = cyg::kFashionMnistDefaultRoot;
  if (!std::filesystem::exists(root + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST not installed in " << root << " (Debian package dataset-fashion-mnist)";
  const Dataset test = cyg::load_fashion_mnist(root, false);
  ASSERT_EQ(test.images.shape(), (cyg::Shape{10000, 1, 28, 28}));
  EXPECT_EQ(std::vector<int32_t>(test.labels.data<int32_t>(), test.labels.data<int32_t>() + 10),
            (std::vector<int32_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}));
  const Dataset train = cyg::load_fashion_mnist(root, true);
  ASSERT_EQ(train.size(), 60000);
  std::vector<int> counts(10, 0);
  for (int64_t i = 0; i < train.size(); ++i) ++counts[static_cast<size_t>(train.labels.data<int32_t>()[i])];
  EXPECT_EQ(counts, std::vector<int>(10, 6000));
}

// CYGNET_CIFAR10_DIR: a folder holding the CIFAR-10 binary files (data_batch_1.bin ...).
TEST(RealData, ConvertedCifar10) {
  const char* dir = std::getenv("CYGNET_CIFAR10_DIR");
  if (dir == nullptr || !std::filesystem::exists(std::string(dir) + "/data_batch_1.bin"))
    GTEST_SKIP() << "set CYGNET_CIFAR10_DIR to a folder of the CIFAR-10 binary files to check them";
  const Dataset train = cyg::load_cifar10(dir, true, 10000);
  ASSERT_EQ(train.images.shape(), (cyg::Shape{10000, 3, 32, 32}));
  // The converter's fixed shuffle (seed 0) puts these labels first.
  EXPECT_EQ(std::vector<int32_t>(train.labels.data<int32_t>(), train.labels.data<int32_t>() + 10),
            (std::vector<int32_t>{2, 3, 9, 5, 8, 6, 6, 2, 6, 5}));
  const Dataset test = cyg::load_cifar10(dir, false);
  ASSERT_EQ(test.size(), 10000);
  EXPECT_EQ(test.labels.data<int32_t>()[0], 9);
}

}  // namespace
