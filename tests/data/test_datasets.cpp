// The readers, on small files written here (good and broken): CIFAR-10 binary batches,
// Fashion-MNIST IDX files (plain and gzipped); the synthetic set; and the real datasets
// where installed.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "tests/data/data_helpers.h"
#include "tests/scratch_dir.h"

namespace {

using cyg::Dataset;
using cyg::Split;
using cyg::DType;
using cyg::Tensor;
using cyg::test::Bytes;
using cyg::test::expect_error;

// A fresh, empty folder per test.
std::string test_dir() {
  static const cyg::test::ScratchDir scratch("test_data");
  return scratch.fresh(::testing::UnitTest::GetInstance()->current_test_info()->name()).string();
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
  const Dataset d = cyg::load_cifar10(dir, Split::Test);
  EXPECT_EQ(d.name, "cifar10-test");
  EXPECT_EQ(d.num_classes, 10);
  // The names of the CIFAR-10 page, in label order (its batches.meta.txt).
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                     "horse", "ship", "truck"}));
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
  const Dataset three = cyg::load_cifar10(dir, Split::Train, 3);
  EXPECT_EQ(three.name, "cifar10-train");
  ASSERT_EQ(three.images.size(0), 3);
  EXPECT_EQ(three.labels.data<int32_t>()[2], 3);
  EXPECT_EQ(u8_at(three.images, 2, 0, 0, 1), (62 + 1) % 251);
  const Dataset one = cyg::load_cifar10(dir, Split::Train, 1);
  ASSERT_EQ(one.images.size(0), 1);
  EXPECT_EQ(one.labels.data<int32_t>()[0], 1);
  expect_error([&] { cyg::load_cifar10(dir, Split::Train); }, {dir + "/data_batch_3.bin", "not found"});
  for (int k = 3; k <= 5; ++k) write_file(dir + "/data_batch_" + std::to_string(k) + ".bin", cifar_records({k}, k));
  const Dataset all = cyg::load_cifar10(dir, Split::Train);
  ASSERT_EQ(all.images.size(0), 6);
  EXPECT_EQ(all.labels.data<int32_t>()[5], 5);
  EXPECT_EQ(u8_at(all.images, 5, 1, 2, 3), (31 * 5 + 1024 + 64 + 3) % 251);
}

TEST(Cifar10, ErrorsNameTheFileAndTheProblem) {
  const std::string dir = test_dir();
  expect_error([&] { cyg::load_cifar10(dir, Split::Test); },
               {dir + "/test_batch.bin", "not found", "binary version", "cifar-10-batches-bin"});

  Bytes truncated = cifar_records({1, 2});
  truncated.resize(truncated.size() - 5);
  write_file(dir + "/test_batch.bin", truncated);
  expect_error([&] { cyg::load_cifar10(dir, Split::Test); },
               {dir + "/test_batch.bin", "6141 bytes", "3073-byte records", "truncated"});

  write_file(dir + "/test_batch.bin", cifar_records({1, 10, 2}));
  expect_error([&] { cyg::load_cifar10(dir, Split::Test); }, {dir + "/test_batch.bin", "record 1", "label 10"});

  write_file(dir + "/test_batch.bin", {});
  expect_error([&] { cyg::load_cifar10(dir, Split::Test); }, {dir + "/test_batch.bin", "0 bytes"});
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
  // Fashion-MNIST's README's names, in label order.
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                                     "Shirt", "Sneaker", "Bag", "Ankle boot"}));
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
  const Dataset p = cyg::load_fashion_mnist(plain, Split::Test);
  EXPECT_EQ(p.name, "fashion-mnist-test");
  check_three_images(p);
  const Dataset g = cyg::load_fashion_mnist(gz, Split::Train);
  EXPECT_EQ(g.name, "fashion-mnist-train");
  check_three_images(g);
  const Dataset two = cyg::load_fashion_mnist(gz, Split::Train, 2);
  ASSERT_EQ(two.images.size(0), 2);
  EXPECT_EQ(u8_at(two.images, 1, 0, 2, 1), 37 + 56 + 1);
}

// A gzip file cut in its 8-byte trailer (CRC and length) holds all the data but is not a
// whole file: gzip -t rejects it, and so does the reader.
TEST(FashionMnist, AGzipFileWithoutItsTrailerIsRefused) {
  const std::string dir = test_dir();
  const std::string images = dir + "/t10k-images-idx3-ubyte.gz", labels = dir + "/t10k-labels-idx1-ubyte.gz";
  write_gz(images, idx_images(3));
  write_gz(labels, idx_labels({7, 0, 9}));
  EXPECT_NO_THROW(cyg::load_fashion_mnist(dir, Split::Test));
  std::ifstream in(images, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  bytes.resize(bytes.size() - 8);
  std::ofstream(images, std::ios::binary | std::ios::trunc) << bytes;
  expect_error([&] { cyg::load_fashion_mnist(dir, Split::Test); }, {images, "gzip stream ends early"});
}

TEST(FashionMnist, ErrorsNameTheFileAndTheProblem) {
  const std::string dir = test_dir();
  const std::string images = dir + "/t10k-images-idx3-ubyte", labels = dir + "/t10k-labels-idx1-ubyte";
  auto load = [&] { cyg::load_fashion_mnist(dir, Split::Test); };
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

// ---- the real data, where installed ----

TEST(RealData, DebianFashionMnist) {
  const std::string root = cyg::kFashionMnistDefaultRoot;
  if (!std::filesystem::exists(root + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST not installed in " << root << " (Debian package dataset-fashion-mnist)";
  const Dataset test = cyg::load_fashion_mnist(root, Split::Test);
  ASSERT_EQ(test.images.shape(), (cyg::Shape{10000, 1, 28, 28}));
  EXPECT_EQ(std::vector<int32_t>(test.labels.data<int32_t>(), test.labels.data<int32_t>() + 10),
            (std::vector<int32_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}));
  const Dataset train = cyg::load_fashion_mnist(root, Split::Train);
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
  const Dataset train = cyg::load_cifar10(dir, Split::Train, 10000);
  ASSERT_EQ(train.images.shape(), (cyg::Shape{10000, 3, 32, 32}));
  // The converter's fixed shuffle (seed 0) puts these labels first.
  EXPECT_EQ(std::vector<int32_t>(train.labels.data<int32_t>(), train.labels.data<int32_t>() + 10),
            (std::vector<int32_t>{2, 3, 9, 5, 8, 6, 6, 2, 6, 5}));
  const Dataset test = cyg::load_cifar10(dir, Split::Test);
  ASSERT_EQ(test.size(), 10000);
  EXPECT_EQ(test.labels.data<int32_t>()[0], 9);
}

}  // namespace
