// JPEG files (apps/common/jpeg.h) and image-folder datasets (apps/common/image_folder.h):
// the decoder against images it was given to encode, and the datasets against folders
// built here, with their order, labels, limits, sizes and every error worked out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "apps/common/config.h"
#include "apps/common/dataset_factory.h"
#include "apps/common/image_folder.h"
#include "apps/common/image_input.h"
#include "apps/common/jpeg.h"
#include "apps/common/png.h"
#include "data/datasets.h"
#include "data/loader.h"
#include "kernels/error.h"
#include "tests/error_of.h"
#include "tests/scratch_dir.h"

namespace {

namespace fs = std::filesystem;
using cyg::app::DecodedImage;
using cyg::app::ImageFolderOptions;

#define SKIP_WITHOUT_JPEG() \
  if (!cyg::app::jpeg_available()) GTEST_SKIP() << "this build has no libjpeg (CYGNET_JPEG=OFF or not found)"

// A smooth HWC image: ramps in x and y, a different mix per channel, within 30..240.
std::vector<uint8_t> smooth(int64_t width, int64_t height, int channels) {
  std::vector<uint8_t> px(static_cast<size_t>(width * height * channels));
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c)
        px[static_cast<size_t>((y * width + x) * channels + c)] =
            static_cast<uint8_t>(30 + (c + 1) * 50 * x / std::max<int64_t>(1, width - 1) + (3 - c) * 20 * y / height);
  return px;
}

void write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

using cyg::test::error_of;

// The decoder gives back, to JPEG's loss at quality 100, the pixels it was given: RGB
// (4:2:0 chroma, libjpeg's default) and grayscale, of sizes that are not multiples of
// the 8 or 16 pixel blocks.
TEST(Jpeg, DecodeGivesBackWhatWasEncoded) {
  SKIP_WITHOUT_JPEG();
  for (int channels : {1, 3})
    for (auto [w, h] : {std::pair<int64_t, int64_t>{32, 32}, {37, 19}, {1, 1}}) {
      const std::vector<uint8_t> px = smooth(w, h, channels);
      const std::string bytes = cyg::app::jpeg_bytes(px.data(), w, h, channels, 100);
      ASSERT_TRUE(cyg::app::looks_like_jpeg(bytes));
      const DecodedImage image = cyg::app::jpeg_decode(bytes, "x.jpg");
      ASSERT_EQ(image.width, w);
      ASSERT_EQ(image.height, h);
      ASSERT_EQ(image.channels, channels);
      ASSERT_EQ(image.pixels.size(), px.size());
      int worst = 0;
      double total = 0;
      for (size_t i = 0; i < px.size(); ++i) {
        const int d = std::abs(int{image.pixels[i]} - int{px[i]});
        worst = std::max(worst, d);
        total += d;
      }
      // Grayscale at quality 100 loses only rounding; colour also its chroma's
      // subsampling, which a smooth image barely feels.
      EXPECT_LE(worst, channels == 1 ? 2 : 6) << channels << " channels, " << w << "x" << h;
      EXPECT_LE(total / static_cast<double>(px.size()), channels == 1 ? 0.6 : 1.5) << channels << " channels";
    }
  // A flat colour comes back flat, to one level.
  const std::vector<uint8_t> flat = {200, 30, 90};
  std::vector<uint8_t> px;
  for (int i = 0; i < 16 * 16; ++i) px.insert(px.end(), flat.begin(), flat.end());
  const DecodedImage image = cyg::app::jpeg_decode(cyg::app::jpeg_bytes(px.data(), 16, 16, 3, 100), "flat.jpg");
  for (size_t i = 0; i < image.pixels.size(); ++i) ASSERT_NEAR(image.pixels[i], flat[i % 3], 1) << i;
}

// A lower quality loses more: the decoder reads the file, not a cache of what went in.
// Grayscale noise, which no chroma subsampling blurs.
TEST(Jpeg, LowerQualityLosesMore) {
  SKIP_WITHOUT_JPEG();
  std::vector<uint8_t> px(64 * 64);
  uint32_t state = 7;
  for (uint8_t& v : px) v = static_cast<uint8_t>((state = state * 1664525u + 1013904223u) >> 24);  // noise
  auto error_at = [&](int quality) {
    const DecodedImage image = cyg::app::jpeg_decode(cyg::app::jpeg_bytes(px.data(), 64, 64, 1, quality), "n.jpg");
    double total = 0;
    for (size_t i = 0; i < px.size(); ++i) total += std::abs(int{image.pixels[i]} - int{px[i]});
    return total / static_cast<double>(px.size());
  };
  const double q95 = error_at(95), q25 = error_at(25);
  EXPECT_GT(q25, 2 * q95);
  EXPECT_GT(q95, 0.5);
}

// Damage is an error naming the file, never an image with gray where the data ran out.
TEST(Jpeg, DamagedFilesAreErrors) {
  SKIP_WITHOUT_JPEG();
  const std::vector<uint8_t> px = smooth(40, 40, 3);
  const std::string good = cyg::app::jpeg_bytes(px.data(), 40, 40, 3, 90);
  EXPECT_EQ(error_of([&] { cyg::app::jpeg_decode("GIF89a....", "a.jpg"); }),
            "'a.jpg' is not a JPEG file (it does not begin with FF D8 FF)");
  const std::string cut = error_of([&] { cyg::app::jpeg_decode(good.substr(0, good.size() - 50), "cut.jpg"); });
  EXPECT_EQ(cut.rfind("'cut.jpg' is a damaged JPEG file: ", 0), 0u) << cut;
  const std::string headless = error_of([&] { cyg::app::jpeg_decode(good.substr(0, 40), "head.jpg"); });
  EXPECT_EQ(headless.rfind("'head.jpg' ", 0), 0u) << headless;
  EXPECT_NE(headless, "(no error)");
  // Scrambled entropy-coded data after the headers.
  std::string scrambled = good;
  for (size_t i = scrambled.size() / 2; i < scrambled.size() - 2; i += 3) scrambled[i] = static_cast<char>(0xFF);
  const std::string bad = error_of([&] { cyg::app::jpeg_decode(scrambled, "s.jpg"); });
  EXPECT_EQ(bad.rfind("'s.jpg' ", 0), 0u) << bad;
  EXPECT_NE(bad, "(no error)");
}

// CMYK is refused by name; warnings about headers alone (an unknown JFIF revision, stray
// bytes between markers) pass, with the pixels the clean file gives.
TEST(Jpeg, CmykIsRefusedAndHarmlessWarningsPass) {
  SKIP_WITHOUT_JPEG();
  const std::vector<uint8_t> cmyk(8 * 8 * 4, 100);
  EXPECT_EQ(error_of([&] { cyg::app::jpeg_decode(cyg::app::jpeg_bytes(cmyk.data(), 8, 8, 4, 90), "c.jpg"); }),
            "'c.jpg' is a CMYK JPEG file; only grayscale and RGB (YCbCr) ones are read: save it as RGB");
  const std::vector<uint8_t> px = smooth(24, 16, 3);
  const std::string clean = cyg::app::jpeg_bytes(px.data(), 24, 16, 3, 90);
  const DecodedImage reference = cyg::app::jpeg_decode(clean, "clean.jpg");
  // SOI, then the JFIF APP0 segment: FF E0, length 16, "JFIF\0", version 1.01.
  ASSERT_EQ(clean.substr(2, 11), std::string("\xFF\xE0\x00\x10JFIF\x00\x01\x01", 11));
  std::string revision = clean;
  revision[11] = 2;  // JFIF 2.01
  EXPECT_EQ(cyg::app::jpeg_decode(revision, "v2.jpg").pixels, reference.pixels);
  std::string stray = clean;
  stray.insert(20, "junk");  // before the marker after APP0
  ASSERT_EQ(static_cast<unsigned char>(clean[20]), 0xFF);
  EXPECT_EQ(cyg::app::jpeg_decode(stray, "stray.jpg").pixels, reference.pixels);
}

// An image over the limit is refused, or, about to be resized, decoded at the largest of
// 1/2, 1/4 and 1/8 of its size that fits: 4100 x 4100 (16,810,000 pixels, over 2^24) at
// 1/2 is 2050 x 2050.
TEST(Jpeg, AnImageOverTheLimitIsRefusedOrShrunk) {
  SKIP_WITHOUT_JPEG();
  const std::vector<uint8_t> px(4100 * 4100, 77);
  const std::string big = cyg::app::jpeg_bytes(px.data(), 4100, 4100, 1, 50);
  EXPECT_EQ(error_of([&] { cyg::app::jpeg_decode(big, "big.jpg"); }),
            "'big.jpg': an image of 4100x4100 pixels (at most 16777216 pixels, and 16384 a side, are read)");
  const DecodedImage half = cyg::app::jpeg_decode(big, "big.jpg", /*shrink=*/true);
  EXPECT_EQ(half.width, 2050);
  EXPECT_EQ(half.height, 2050);
  ASSERT_EQ(half.channels, 1);
  for (size_t i = 0; i < half.pixels.size(); i += 997) ASSERT_NEAR(half.pixels[i], 77, 1) << i;
}

// A folder of three classes, built by hand: PNG and JPEG files, an upper-case extension,
// and files that are not images or are hidden, which are passed over.
class ImageFolder : public ::testing::Test {
 protected:
  cyg::test::ScratchDir scratch_{"image_folder"};
  fs::path root_ = scratch_.path();

  // A w x h RGB PNG whose pixels are all `value`.
  static std::string flat_png(int64_t w, int64_t h, uint8_t value) {
    const std::vector<uint8_t> px(static_cast<size_t>(w * h * 3), value);
    return cyg::app::png_bytes(px.data(), w, h, 3);
  }
  ImageFolderOptions options(const std::string& split) const {
    ImageFolderOptions o;
    o.root = root_.string();
    o.split = split;
    return o;
  }
};

TEST_F(ImageFolder, ClassesAreSortedFolderNamesAndImagesFollowByName) {
  // cat: 3 files, bird: 1, dog: 2 (one of them JPEG when this build reads JPEG).
  write(root_ / "train" / "cat" / "b.png", flat_png(4, 4, 30));
  write(root_ / "train" / "cat" / "a.PNG", flat_png(4, 4, 20));
  write(root_ / "train" / "cat" / "c.png", flat_png(4, 4, 40));
  write(root_ / "train" / "cat" / "notes.txt", "not an image");
  write(root_ / "train" / "cat" / ".hidden.png", "not read");
  write(root_ / "train" / "bird" / "z.png", flat_png(4, 4, 10));
  write(root_ / "train" / "dog" / "x.png", flat_png(4, 4, 50));
  if (cyg::app::jpeg_available()) {
    std::vector<uint8_t> px(4 * 4 * 3, 60);
    write(root_ / "train" / "dog" / "y.jpeg", cyg::app::jpeg_bytes(px.data(), 4, 4, 3, 100));
  } else {
    write(root_ / "train" / "dog" / "y.png", flat_png(4, 4, 60));
  }
  write(root_ / "train" / "README", "a file beside the class folders");
  const cyg::Dataset d = cyg::app::load_image_folder(options("train"));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"bird", "cat", "dog"}));
  EXPECT_EQ(d.num_classes, 3);
  ASSERT_EQ(d.size(), 6);
  ASSERT_EQ(d.images.shape(), (std::vector<int64_t>{6, 3, 4, 4}));
  // By class, then by file name ("a.PNG" < "b.png" < "c.png"): each image's value.
  const std::vector<int32_t> labels = {0, 1, 1, 1, 2, 2};
  const std::vector<int> values = {10, 20, 30, 40, 50, 60};
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_EQ(d.labels.data<int32_t>()[i], labels[static_cast<size_t>(i)]) << i;
    for (int64_t k = 0; k < 48; ++k)
      ASSERT_NEAR(d.images.data<uint8_t>()[i * 48 + k], values[static_cast<size_t>(i)], 1) << i << " " << k;
  }

  // A limit takes the classes in turn: bird z, cat a, dog x, then cat b.
  ImageFolderOptions limited = options("train");
  limited.limit = 4;
  const cyg::Dataset l = cyg::app::load_image_folder(limited);
  ASSERT_EQ(l.size(), 4);
  const std::vector<int> limited_values = {10, 20, 30, 50};
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(l.images.data<uint8_t>()[i * 48], limited_values[static_cast<size_t>(i)]);
  EXPECT_EQ(l.class_names, d.class_names);

  // The validation split takes the training classes: one missing is fine, and labels
  // follow the training split's numbering.
  write(root_ / "val" / "dog" / "v.png", flat_png(4, 4, 70));
  EXPECT_EQ(cyg::app::validation_folder(root_.string(), ""), "val");
  ImageFolderOptions val = options("val");
  val.classes = d.class_names;
  const cyg::Dataset v = cyg::app::load_image_folder(val);
  ASSERT_EQ(v.size(), 1);
  EXPECT_EQ(v.labels.data<int32_t>()[0], 2);
  EXPECT_EQ(v.class_names, d.class_names);
  // "valid" comes first when both are there; a given name wins.
  write(root_ / "valid" / "cat" / "w.png", flat_png(4, 4, 70));
  EXPECT_EQ(cyg::app::validation_folder(root_.string(), ""), "valid");
  EXPECT_EQ(cyg::app::validation_folder(root_.string(), "holdout"), "holdout");
  // A class the training split has not is an error naming it.
  write(root_ / "val" / "fox" / "f.png", flat_png(4, 4, 70));
  EXPECT_EQ(error_of([&] { cyg::app::load_image_folder(val); }),
            "image folder '" + (root_ / "val").string() +
                "' has a class folder 'fox' that the training split has not (its classes: bird, cat, dog)");
}

// Without a size every image must have the first one's; with one, each is resized as the
// images a model is asked about are, and made grayscale by luma when asked.
TEST_F(ImageFolder, SizesAndChannels) {
  std::vector<uint8_t> px = smooth(6, 5, 3);
  write(root_ / "train" / "a" / "0.png", cyg::app::png_bytes(px.data(), 6, 5, 3));
  write(root_ / "train" / "b" / "1.png", flat_png(3, 3, 90));
  EXPECT_EQ(error_of([&] { cyg::app::load_image_folder(options("train")); }),
            "image '" + (root_ / "train" / "b" / "1.png").string() + "' is 3x3 pixels where '" +
                (root_ / "train" / "a" / "0.png").string() +
                "' is 6x5: set data.image_size to resize every image to one size");
  ImageFolderOptions o = options("train");
  o.size = 4;
  o.channels = 1;
  const cyg::Dataset d = cyg::app::load_image_folder(o);
  ASSERT_EQ(d.images.shape(), (std::vector<int64_t>{2, 1, 4, 4}));
  DecodedImage first;
  first.width = 6;
  first.height = 5;
  first.channels = 3;
  first.pixels = px;
  const std::vector<uint8_t> expected = cyg::app::dataset_image(first, 1, 4, 4);
  EXPECT_EQ(std::vector<uint8_t>(d.images.data<uint8_t>(), d.images.data<uint8_t>() + 16), expected);
  for (int64_t k = 16; k < 32; ++k) EXPECT_EQ(d.images.data<uint8_t>()[k], 90);

  // By hand: a flat (200, 100, 50) image is flat at any size, and its luma is
  // (200 * 19595 + 100 * 38470 + 50 * 7471 + 32768) >> 16 = 8172318 >> 16 = 124.
  const std::vector<uint8_t> orange = {200, 100, 50};
  std::vector<uint8_t> flat;
  for (int k = 0; k < 9; ++k) flat.insert(flat.end(), orange.begin(), orange.end());
  write(root_ / "train" / "b" / "1.png", cyg::app::png_bytes(flat.data(), 3, 3, 3));
  const cyg::Dataset gray = cyg::app::load_image_folder(o);
  for (int64_t k = 16; k < 32; ++k) EXPECT_EQ(gray.images.data<uint8_t>()[k], 124) << k;

  // data.resize_method: a gray 12x4 image whose middle 4x4 is 0..15 (its sides 255) is,
  // cropped, that middle; padded to 12x12 (black rows 0-3 and 8-11) and made 4x4, its
  // first and last rows black.
  std::vector<uint8_t> wide(48, 255);
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 4; ++x) wide[static_cast<size_t>(y * 12 + 4 + x)] = static_cast<uint8_t>(y * 4 + x);
  write(root_ / "train" / "a" / "0.png", cyg::app::png_bytes(wide.data(), 12, 4, 1));
  o.resize = cyg::app::ResizeMethod::Crop;
  const cyg::Dataset cropped = cyg::app::load_image_folder(o);
  for (int64_t k = 0; k < 16; ++k) EXPECT_EQ(cropped.images.data<uint8_t>()[k], k) << k;
  o.resize = cyg::app::ResizeMethod::Pad;
  const cyg::Dataset padded = cyg::app::load_image_folder(o);
  for (int64_t k : {0, 1, 2, 3, 12, 13, 14, 15}) EXPECT_EQ(padded.images.data<uint8_t>()[k], 0) << k;
  for (int64_t k = 4; k < 12; ++k) EXPECT_GT(padded.images.data<uint8_t>()[k], 0) << k;
}

// A run's recorded classes (data.classes): the folder must still hold exactly those class
// folders, so that a class added, removed or renamed since is an error naming it, not
// labels that mean other classes; given in the folder's own order, the same dataset.
TEST_F(ImageFolder, TheRunsClassesMustStillBeTheFolders) {
  for (const char* name : {"cat", "dog", "ship"}) {
    write(root_ / "train" / name / "0.png", flat_png(4, 4, 10));
    write(root_ / "val" / name / "0.png", flat_png(4, 4, 10));
  }
  cyg::app::RunConfig c;
  c.data.dataset = "folder";
  c.data.root = root_.string();
  c.data.classes = {"cat", "dog", "ship"};
  const cyg::app::DataSplits same = cyg::app::load_data(c);
  EXPECT_EQ(same.train.class_names, c.data.classes);
  EXPECT_EQ(same.val.class_names, c.data.classes);
  const std::string train = (root_ / "train").string();
  // A class added.
  write(root_ / "train" / "zebra" / "0.png", flat_png(4, 4, 10));
  EXPECT_EQ(error_of([&] { cyg::app::load_data(c); }),
            "image folder '" + train + "' has a class folder 'zebra' that data.classes (the classes the run was "
            "trained on) has not (its classes: cat, dog, ship)");
  fs::remove_all(root_ / "train" / "zebra");
  // Renamed: ship is now airplane (the first by name, which would have taken label 0).
  fs::rename(root_ / "train" / "ship", root_ / "train" / "airplane");
  EXPECT_EQ(error_of([&] { cyg::app::load_data(c); }),
            "image folder '" + train + "' has a class folder 'airplane' that data.classes (the classes the run was "
            "trained on) has not (its classes: cat, dog, ship)");
  // Removed.
  fs::remove_all(root_ / "train" / "airplane");
  EXPECT_EQ(error_of([&] { cyg::app::load_data(c); }),
            "image folder '" + train + "' has no class folder 'ship', which data.classes (the classes the run was "
            "trained on) has (its classes: cat, dog, ship)");
}

// The images of a dataset written out as PNG files, a folder per class, come back as the
// dataset's images, ordered by class and file name, with their labels.
TEST_F(ImageFolder, ADatasetWrittenAsFilesReadsBack) {
  const cyg::Dataset s = cyg::make_synthetic(30, 3, 8, 3, 5);
  for (int64_t i = 0; i < s.size(); ++i) {
    const int32_t label = s.labels.data<int32_t>()[i];
    std::vector<uint8_t> hwc(8 * 8 * 3);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t p = 0; p < 64; ++p) hwc[static_cast<size_t>(p * 3 + c)] = s.images.data<uint8_t>()[i * 192 + c * 64 + p];
    char name[16];
    std::snprintf(name, sizeof name, "%03d.png", static_cast<int>(i));
    write(root_ / "train" / ("class" + std::to_string(label)) / name, cyg::app::png_bytes(hwc.data(), 8, 8, 3));
  }
  const cyg::Dataset d = cyg::app::load_image_folder(options("train"));
  ASSERT_EQ(d.size(), 30);
  int64_t row = 0;
  for (int32_t label = 0; label < 3; ++label)
    for (int64_t i = 0; i < s.size(); ++i) {
      if (s.labels.data<int32_t>()[i] != label) continue;
      EXPECT_EQ(d.labels.data<int32_t>()[row], label);
      ASSERT_TRUE(std::equal(d.images.data<uint8_t>() + row * 192, d.images.data<uint8_t>() + (row + 1) * 192,
                             s.images.data<uint8_t>() + i * 192))
          << "image " << i << " at row " << row;
      ++row;
    }
}

// data.valid_pct: fastai's RandomSplitter. The held-out part is the first int(0.3 * 20) = 6
// images of a shuffle drawn from the seed; the rest train; together they are the folder;
// another seed holds out others; a limit applies to its part.
TEST_F(ImageFolder, AShareHeldOutOfTheTrainingFolder) {
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 10; ++i)
      write(root_ / "train" / ("c" + std::to_string(c)) / (std::to_string(i) + ".png"),
            flat_png(2, 2, static_cast<uint8_t>(10 * c + i)));
  auto values = [](const cyg::Dataset& d) {
    std::vector<int> v;
    for (int64_t i = 0; i < d.size(); ++i) {
      v.push_back(d.images.data<uint8_t>()[i * 12]);
      EXPECT_EQ(d.labels.data<int32_t>()[i], v.back() / 10) << "its folder's class";
    }
    return v;
  };
  ImageFolderOptions o = options("train");
  o.holdout = 0.3;
  o.holdout_seed = 7;
  const cyg::Dataset rest = cyg::app::load_image_folder(o);
  o.held_out = true;
  const cyg::Dataset held = cyg::app::load_image_folder(o);
  ASSERT_EQ(held.size(), 6);
  ASSERT_EQ(rest.size(), 14);
  EXPECT_EQ(held.name, root_.filename().string() + "-train-held-out");
  std::vector<int> together = values(rest), held_values = values(held);
  together.insert(together.end(), held_values.begin(), held_values.end());
  std::sort(together.begin(), together.end());
  for (int k = 0; k < 20; ++k) EXPECT_EQ(together[static_cast<size_t>(k)], k) << "each image in one part";
  // In class order, the files indexed 0..19: the first 6 of the seed's shuffle.
  std::vector<int64_t> order = cyg::epoch_permutation(20, 7, int64_t{1} << 40);
  std::vector<int> expected(order.begin(), order.begin() + 6);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(held_values, expected);
  o.holdout_seed = 8;
  EXPECT_NE(values(cyg::app::load_image_folder(o)), held_values) << "another seed";
  o.held_out = false;
  o.limit = 4;
  const cyg::Dataset limited = cyg::app::load_image_folder(o);
  ASSERT_EQ(limited.size(), 4);
  EXPECT_EQ(limited.labels.data<int32_t>()[1], 0);
  EXPECT_EQ(limited.labels.data<int32_t>()[2], 1) << "two of each class";
  o.limit = 0;
  o.holdout = 0.01;
  EXPECT_EQ(error_of([&] { cyg::app::load_image_folder(o); }),
            "image folder '" + (root_ / "train").string() +
                "': data.valid_pct = 0.01 of its 20 images holds out 0: expected at least one image in each part");
}

// Image files in folders under a class folder count (torchvision walks them); hidden
// folders and files do not.
TEST_F(ImageFolder, FilesInFoldersUnderAClassCount) {
  write(root_ / "train" / "a" / "0.png", flat_png(2, 2, 10));
  write(root_ / "train" / "a" / "more" / "1.png", flat_png(2, 2, 20));
  write(root_ / "train" / "a" / "more" / "deeper" / "2.png", flat_png(2, 2, 30));
  write(root_ / "train" / "a" / ".cache" / "3.png", flat_png(2, 2, 99));
  write(root_ / "train" / "b" / "sub" / "4.png", flat_png(2, 2, 40));
  const cyg::Dataset d = cyg::app::load_image_folder(options("train"));
  ASSERT_EQ(d.size(), 4);
  EXPECT_EQ(d.files, (std::vector<std::string>{(root_ / "train" / "a" / "0.png").string(),
                                              (root_ / "train" / "a" / "more" / "1.png").string(),
                                              (root_ / "train" / "a" / "more" / "deeper" / "2.png").string(),
                                              (root_ / "train" / "b" / "sub" / "4.png").string()}));
  const std::vector<int> values = {10, 20, 30, 40};
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(d.images.data<uint8_t>()[i * 12], values[static_cast<size_t>(i)]);
  EXPECT_EQ(d.labels.data<int32_t>()[3], 1);
}

// Hundreds of files decoded on every thread: the failure reported is the first by
// position, with a count of the others, whichever thread met it first.
TEST_F(ImageFolder, TheFirstBadFileIsReportedWithTheOthersCounted) {
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 100; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "%03d.png", i);
      write(root_ / "train" / ("c" + std::to_string(c)) / name, flat_png(3, 3, static_cast<uint8_t>(i)));
    }
  const fs::path first = root_ / "train" / "c0" / "071.png", second = root_ / "train" / "c1" / "003.png",
                 third = root_ / "train" / "c2" / "099.png";
  write(second, "not an image");
  write(third, "not an image either");
  write(first, "\x89PNG\r\n\x1a\n cut short");
  const std::string error = error_of([&] { cyg::app::load_image_folder(options("train")); });
  EXPECT_EQ(error.rfind("'" + first.string() + "'", 0), 0u) << error;
  EXPECT_NE(error.find(" (2 more of the 300 files failed too: '" + second.string() + "', '" + third.string() + "')"),
            std::string::npos)
      << error;
}

// The validation split may not be the training split's folder, and must have its size.
TEST_F(ImageFolder, TheValidationSplitIsAnotherFolderOfTheSameSize) {
  write(root_ / "valid" / "a" / "0.png", flat_png(4, 4, 1));
  write(root_ / "valid" / "b" / "0.png", flat_png(4, 4, 1));
  write(root_ / "val" / "a" / "0.png", flat_png(5, 5, 1));
  EXPECT_EQ(cyg::app::validation_folder(root_.string(), "", "valid"), "val");
  cyg::app::RunConfig c;
  c.data.dataset = "folder";
  c.data.root = root_.string();
  c.data.train_folder = "valid";
  EXPECT_EQ(error_of([&] { cyg::app::load_data(c); }),
            "the validation images under '" + root_.string() +
                "/val' are 5x5 pixels and the training images 4x4: set data.image_size to resize them to one size");
  c.data.image_size = 3;
  const cyg::app::DataSplits resized = cyg::app::load_data(c);
  EXPECT_EQ(resized.val.images.shape(), (std::vector<int64_t>{1, 3, 3, 3}));
  EXPECT_EQ(resized.val.labels.data<int32_t>()[0], 0);
  // The training folder under another name is refused: ./valid, valid/, a link to it.
  fs::create_directory_symlink(root_ / "valid", root_ / "link");
  for (const std::string name : {"./valid", "valid/", "link"}) {
    c.data.valid_folder = name;
    EXPECT_EQ(error_of([&] { cyg::app::load_data(c); }),
              "'data.valid_folder' = '" + name + "' is the training folder '" + (root_ / "valid").string() +
                  "' itself: expected the validation images in another folder (or data.valid_pct)");
  }
}

TEST_F(ImageFolder, BadFoldersAreErrorsNamingThem) {
  const std::string train = (root_ / "train").string();
  EXPECT_EQ(error_of([&] { cyg::app::load_image_folder(options("train")); }),
            "image folder '" + train +
                "' not found: an image-folder dataset holds its splits as folders of class folders (" + train +
                "/<class>/<image>.png)");
  fs::create_directories(root_ / "train");
  write(root_ / "train" / "loose.png", flat_png(2, 2, 1));
  EXPECT_EQ(error_of([&] { cyg::app::load_image_folder(options("train")); }),
            "image folder '" + train + "' holds no class folder (expected one folder of images per class)");
  write(root_ / "train" / "only" / "a.png", flat_png(2, 2, 1));
  EXPECT_EQ(error_of([&] { cyg::app::load_image_folder(options("train")); }),
            "image folder '" + train + "' holds 1 class folder ('only'); a classifier needs at least 2");
  fs::create_directories(root_ / "train" / "empty");
  write(root_ / "train" / "empty" / "list.txt", "no images");
  EXPECT_EQ(error_of([&] { cyg::app::load_image_folder(options("train")); }),
            "class folder '" + (root_ / "train" / "empty").string() + "' holds no .png, .jpg or .jpeg file");
  write(root_ / "train" / "empty" / "bad.jpg", "this is text in a .jpg file");
  EXPECT_EQ(error_of([&] { cyg::app::load_image_folder(options("train")); }),
            "image '" + (root_ / "train" / "empty" / "bad.jpg").string() +
                "' is neither a PNG nor a JPEG file (by its first bytes)");
  EXPECT_EQ(error_of([&] { cyg::app::validation_folder(root_.string(), ""); }),
            "image folder '" + root_.string() +
                "' has no validation split: expected a folder valid, val or test in it (or set data.valid_folder)");
}

// Each channel's mean and population standard deviation of the pixels scaled to [0, 1],
// by hand; a channel of one value is centred and not scaled.
TEST(ImageFolderNormalization, EachChannelsMeanAndStd) {
  cyg::Dataset d;
  d.images = cyg::Tensor::empty({2, 2, 1, 2}, cyg::DType::U8);
  // Channel 0: 0, 255, 255, 255 -> mean 0.75, std sqrt(0.1875); channel 1: all 51.
  const std::vector<uint8_t> values = {0, 255, 51, 51, 255, 255, 51, 51};
  std::copy(values.begin(), values.end(), d.images.data<uint8_t>());
  const cyg::Normalization n = cyg::app::normalization_of(d);
  ASSERT_EQ(n.mean.size(), 2u);
  EXPECT_FLOAT_EQ(n.mean[0], 0.75f);
  EXPECT_FLOAT_EQ(n.std[0], static_cast<float>(std::sqrt(0.1875)));
  EXPECT_FLOAT_EQ(n.mean[1], 0.2f);
  EXPECT_FLOAT_EQ(n.std[1], 1.0f);
}

}  // namespace
