// Readers of CIFAR-10 (binary records) and Fashion-MNIST (IDX through zlib, which reads
// plain and gzipped files alike), and the synthetic pattern generator.
#include "data/datasets.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include "engine/random.h"
#include "kernels/error.h"

namespace cyg {
namespace {

template <typename... Args>
[[noreturn]] void fail(const char* kind, const std::string& path, const Args&... problem) {
  throw Error(detail::concat(kind, " file '", path, "': ", problem...));
}

void check_limit(int64_t limit) { CYG_CHECK(limit >= 0, "dataset limit ", limit, ": expected 0 (all) or more"); }

// ---- CIFAR-10 ----

constexpr const char* kCifar = "CIFAR-10";
constexpr int64_t kCifarSide = 32;
constexpr int64_t kCifarPixels = 3 * kCifarSide * kCifarSide;
constexpr int64_t kCifarRecord = 1 + kCifarPixels;

// The records of one file, checked for presence and size before anything is read.
int64_t cifar_records(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    fail(kCifar, path,
         "not found. Download the CIFAR-10 binary version (cifar-10-binary.tar.gz from "
         "https://www.cs.toronto.edu/~kriz/cifar.html), unpack it, and point data.root at its "
         "cifar-10-batches-bin folder (see the README)");
  const auto bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  if (bytes == 0 || bytes % kCifarRecord != 0)
    fail(kCifar, path, "is ", bytes, " bytes, not a whole number of ", kCifarRecord,
         "-byte records (truncated, or not a CIFAR-10 binary file)");
  return bytes / kCifarRecord;
}

void read_cifar_file(const std::string& path, int64_t records, uint8_t* images, int32_t* labels) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(kCifar, path, "cannot be opened");
  constexpr int64_t kChunk = 1000;
  std::vector<char> buffer(static_cast<size_t>(kChunk * kCifarRecord));
  for (int64_t first = 0; first < records; first += kChunk) {
    const int64_t count = std::min(kChunk, records - first);
    if (!in.read(buffer.data(), static_cast<std::streamsize>(count * kCifarRecord)))
      fail(kCifar, path, "read failed at record ", first);
    for (int64_t r = 0; r < count; ++r) {
      const auto* record = reinterpret_cast<const uint8_t*>(buffer.data()) + r * kCifarRecord;
      if (record[0] > 9) fail(kCifar, path, "record ", first + r, " has label ", int(record[0]), " (expected 0..9)");
      labels[first + r] = record[0];
      std::copy(record + 1, record + kCifarRecord, images + (first + r) * kCifarPixels);
    }
  }
}

// ---- Fashion-MNIST (IDX) ----

constexpr const char* kFashion = "Fashion-MNIST";
constexpr uint32_t kIdxImagesMagic = 2051;  // u8 data, 3 dimensions
constexpr uint32_t kIdxLabelsMagic = 2049;  // u8 data, 1 dimension
constexpr int64_t kFashionSide = 28;

// The plain file when present, else the gzipped one.
std::string idx_path(const std::string& root, const std::string& name) {
  const std::string plain = root + "/" + name, gz = plain + ".gz";
  std::error_code ec;
  if (std::filesystem::is_regular_file(plain, ec)) return plain;
  if (std::filesystem::is_regular_file(gz, ec)) return gz;
  fail(kFashion, plain + "(.gz)",
       "not found. Install Debian's package dataset-fashion-mnist (it puts the gzipped files in ",
       kFashionMnistDefaultRoot, ") or download them from https://github.com/zalandoresearch/fashion-mnist");
}

class IdxFile {
 public:
  explicit IdxFile(std::string path) : path_(std::move(path)), file_(gzopen(path_.c_str(), "rb")) {
    if (file_ == nullptr) fail(kFashion, path_, "cannot be opened");
  }
  ~IdxFile() { gzclose(file_); }
  IdxFile(const IdxFile&) = delete;
  IdxFile& operator=(const IdxFile&) = delete;

  const std::string& path() const { return path_; }

  // Fills dst with n bytes, or says how many arrived before the file ended.
  void read_exactly(void* dst, int64_t n, const std::string& what) {
    const int64_t got = read(dst, n);
    if (got < n) fail_truncated(n, got, what);
  }

  // The same into a vector grown as the data arrives, so a corrupt count fails as a
  // short file before it sizes an allocation.
  std::vector<uint8_t> read_growing(int64_t n, const std::string& what) {
    constexpr int64_t kChunk = 1 << 20;
    std::vector<uint8_t> out;
    while (static_cast<int64_t>(out.size()) < n) {
      const int64_t have = static_cast<int64_t>(out.size()), want = std::min(kChunk, n - have);
      out.resize(static_cast<size_t>(have + want));
      const int64_t got = read(out.data() + have, want);
      if (got < want) fail_truncated(n, have + got, what);
    }
    return out;
  }

  uint32_t read_u32_be(const std::string& what) {
    uint8_t b[4];
    read_exactly(b, 4, what);
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
  }

  // Past the last byte the header promises: nothing more, and for a gzip file its
  // trailer (CRC and length) present and right, which zlib checks only now.
  void expect_end(const std::string& header) {
    char extra;
    if (read(&extra, 1) != 0) fail(kFashion, path_, "longer than its header says (", header, ")");
    const std::string error = gz_error();
    if (!error.empty()) fail(kFashion, path_, "its gzip stream ends early or is damaged", error);
  }

 private:
  int64_t read(void* dst, int64_t n) {
    auto* out = static_cast<char*>(dst);
    int64_t total = 0;
    while (total < n) {
      const auto want = static_cast<unsigned>(std::min<int64_t>(n - total, std::numeric_limits<int>::max()));
      const int got = gzread(file_, out + total, want);
      if (got < 0) fail(kFashion, path_, "read failed", gz_error());
      if (got == 0) break;
      total += got;
    }
    return total;
  }

  [[noreturn]] void fail_truncated(int64_t expected, int64_t found, const std::string& what) {
    fail(kFashion, path_, "truncated: expected ", expected, " bytes of ", what, ", found ", found, gz_error());
  }

  std::string gz_error() {
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    return code == Z_OK || code == Z_STREAM_END ? std::string() : std::string(" (zlib: ") + message + ")";
  }

  std::string path_;
  gzFile file_;
};

void check_magic(IdxFile& file, uint32_t expected, const char* holds) {
  const uint32_t magic = file.read_u32_be("header");
  if (magic != expected)
    fail(kFashion, file.path(), "bad magic number ", magic, ", expected ", expected, " (an IDX file of ", holds, ")");
}

}  // namespace

Dataset load_cifar10(const std::string& root, Split split, int64_t limit) {
  check_limit(limit);
  const bool train = split == Split::Train;
  std::vector<std::string> files;
  if (train) {
    for (int k = 1; k <= 5; ++k) files.push_back(root + "/data_batch_" + std::to_string(k) + ".bin");
  } else {
    files.push_back(root + "/test_batch.bin");
  }
  std::vector<int64_t> take;
  int64_t total = 0;
  for (const std::string& path : files) {
    if (limit > 0 && total == limit) break;
    const int64_t records = cifar_records(path);
    take.push_back(limit > 0 ? std::min(records, limit - total) : records);
    total += take.back();
  }
  Dataset d;
  d.name = train ? "cifar10-train" : "cifar10-test";
  d.num_classes = 10;
  d.class_names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  d.images = Tensor::empty({total, 3, kCifarSide, kCifarSide}, DType::U8);
  d.labels = Tensor::empty({total}, DType::I32);
  int64_t first = 0;
  for (size_t k = 0; k < take.size(); ++k) {
    read_cifar_file(files[k], take[k], d.images.data<uint8_t>() + first * kCifarPixels,
                    d.labels.data<int32_t>() + first);
    first += take[k];
  }
  return d;
}

Dataset load_fashion_mnist(const std::string& root, Split split, int64_t limit) {
  check_limit(limit);
  const bool train = split == Split::Train;
  const std::string prefix = train ? "train" : "t10k";
  IdxFile images(idx_path(root, prefix + "-images-idx3-ubyte"));
  IdxFile labels(idx_path(root, prefix + "-labels-idx1-ubyte"));

  check_magic(images, kIdxImagesMagic, "u8 images");
  const int64_t count = images.read_u32_be("header");
  const int64_t rows = images.read_u32_be("header"), cols = images.read_u32_be("header");
  if (rows != kFashionSide || cols != kFashionSide)
    fail(kFashion, images.path(), "images of ", rows, "x", cols, ", expected 28x28");
  check_magic(labels, kIdxLabelsMagic, "u8 labels");
  const int64_t label_count = labels.read_u32_be("header");
  if (label_count != count)
    fail(kFashion, images.path(), "holds ", count, " images but '", labels.path(), "' holds ", label_count, " labels");

  // The labels first: once they have all arrived, the count is real and may size the
  // pixel allocation.
  const int64_t keep = limit > 0 ? std::min(limit, count) : count;
  const std::vector<uint8_t> raw = labels.read_growing(keep, detail::concat("labels (", count, " in the header)"));
  const int64_t pixels = rows * cols;
  Dataset d;
  d.name = train ? "fashion-mnist-train" : "fashion-mnist-test";
  d.num_classes = 10;
  d.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"};
  d.images = Tensor::empty({keep, 1, rows, cols}, DType::U8);
  d.labels = Tensor::empty({keep}, DType::I32);
  images.read_exactly(d.images.data<uint8_t>(), keep * pixels,
                      detail::concat("pixels (", count, " images of ", rows, "x", cols, " in the header)"));
  if (keep == count) {
    images.expect_end(detail::concat(count, " images of ", rows, "x", cols));
    labels.expect_end(detail::concat(count, " labels"));
  }
  int32_t* out = d.labels.data<int32_t>();
  for (int64_t i = 0; i < keep; ++i) {
    if (raw[i] > 9) fail(kFashion, labels.path(), "label ", int(raw[i]), " at index ", i, " (expected 0..9)");
    out[i] = raw[i];
  }
  return d;
}

Dataset make_synthetic(int64_t n, int64_t channels, int64_t size, int64_t num_classes, uint64_t seed) {
  CYG_CHECK(n >= 0 && channels > 0 && size > 0 && num_classes > 0, "make_synthetic of ", n, " images of ", channels,
            "x", size, "x", size, " in ", num_classes, " classes");
  Dataset d;
  d.name = "synthetic";
  d.num_classes = num_classes;
  d.images = Tensor::empty({n, channels, size, size}, DType::U8);
  d.labels = Tensor::empty({n}, DType::I32);
  uint8_t* images = d.images.data<uint8_t>();
  int32_t* labels = d.labels.data<int32_t>();
  // Each class's square fills most of its own cell of a grid x grid layout.
  const auto grid = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(num_classes))));
  const int64_t cell = std::max<int64_t>(1, size / grid), side = std::max<int64_t>(1, cell - cell / 4);
  const double pi = 3.141592653589793;
#pragma omp parallel for if (n * channels * size * size > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = i % num_classes;
    labels[i] = static_cast<int32_t>(k);
    const uint64_t key = random_bits(seed, static_cast<uint64_t>(i));
    const double phase = 2 * pi * random_uniform01(key, 0);
    const double angle = pi * static_cast<double>(k) / static_cast<double>(num_classes);
    const double cycles = static_cast<double>(2 + k % 3);
    const int64_t top = (k / grid) * cell + (cell - side) / 2, left = (k % grid) * cell + (cell - side) / 2;
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t y = 0; y < size; ++y)
        for (int64_t x = 0; x < size; ++x) {
          const int64_t p = (c * size + y) * size + x;
          const bool in_square = y >= top && y < top + side && x >= left && x < left + side;
          const double along = (static_cast<double>(x) * std::cos(angle) + static_cast<double>(y) * std::sin(angle)) /
                               static_cast<double>(size);
          const double noise = 50.0 * (random_uniform01(key, static_cast<uint64_t>(1 + p)) - 0.5);
          const double value = in_square ? 250.0 : 110.0 + 60.0 * std::cos(2 * pi * cycles * along + phase) + noise;
          images[i * channels * size * size + p] = static_cast<uint8_t>(std::clamp(std::lround(value), 0L, 255L));
        }
  }
  return d;
}

}  // namespace cyg
