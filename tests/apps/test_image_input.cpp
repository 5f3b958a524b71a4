// The PNG reader (apps/common/png.h) against files built here by the specification's
// rules (every filter type, colour type and depth it takes, and the damage it refuses),
// and the making of a file's image into a dataset's (apps/common/image_input.h): its
// channels and its size, worked out by hand.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "apps/common/image_input.h"
#include "apps/common/png.h"
#include "kernels/error.h"
#include "tests/error_of.h"

namespace {

using cyg::app::DecodedImage;
constexpr uint32_t kMostSide = static_cast<uint32_t>(cyg::app::kMostImageSide);

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// A chunk as the specification lays it out: length, type, data, CRC-32 of type and data.
std::string chunk(const std::string& type, const std::string& data) {
  std::string out;
  put_u32(out, static_cast<uint32_t>(data.size()));
  const std::string typed = type + data;
  out += typed;
  put_u32(out, static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(typed.data()),
                                           static_cast<uInt>(typed.size()))));
  return out;
}

std::string ihdr(uint32_t width, uint32_t height, int depth, int color, int interlace = 0) {
  std::string data;
  put_u32(data, width);
  put_u32(data, height);
  data += {static_cast<char>(depth), static_cast<char>(color), 0, 0, static_cast<char>(interlace)};
  return chunk("IHDR", data);
}

std::string deflated(const std::string& raw) {
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string out(size, '\0');
  EXPECT_EQ(compress(reinterpret_cast<Bytef*>(&out[0]), &size, reinterpret_cast<const Bytef*>(raw.data()),
                     static_cast<uLong>(raw.size())),
            Z_OK);
  out.resize(size);
  return out;
}

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// Rows of `row_bytes` bytes each filtered with filters[y % filters.size()], as an encoder
// does (filtered = byte - predictor, mod 256), each led by its filter type.
std::string filtered(const std::vector<uint8_t>& rows, size_t row_bytes, size_t pixel_bytes,
                     const std::vector<int>& filters) {
  std::string out;
  const size_t height = rows.size() / row_bytes;
  for (size_t y = 0; y < height; ++y) {
    const int f = filters[y % filters.size()];
    out.push_back(static_cast<char>(f));
    for (size_t i = 0; i < row_bytes; ++i) {
      const int x = rows[y * row_bytes + i], a = i >= pixel_bytes ? rows[y * row_bytes + i - pixel_bytes] : 0,
                b = y > 0 ? rows[(y - 1) * row_bytes + i] : 0,
                c = y > 0 && i >= pixel_bytes ? rows[(y - 1) * row_bytes + i - pixel_bytes] : 0;
      const int p = f == 0 ? 0 : f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) / 2 : paeth(a, b, c);
      out.push_back(static_cast<char>((x - p) & 0xff));
    }
  }
  return out;
}

std::string png(const std::string& header, const std::string& raw, const std::string& extra = "") {
  return "\x89PNG\r\n\x1a\n" + header + extra + chunk("IDAT", deflated(raw)) + chunk("IEND", "");
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::string error_of(const std::string& bytes) {
  return cyg::test::error_of([&] { cyg::app::png_decode(bytes, "pic.png"); });
}

// 8-bit RGB, RGBA, gray and gray+alpha, rows filtered with each of the five filters in
// turn (the Paeth and average predictors against their neighbours in every row).
TEST(Png, DecodeUndoesEveryFilterInEveryEightBitColourType) {
  const uint32_t W = 7, H = 10;
  for (const auto& [color, samples] : std::vector<std::pair<int, int>>{{2, 3}, {6, 4}, {0, 1}, {4, 2}}) {
    const size_t row = W * static_cast<size_t>(samples);
    const std::vector<uint8_t> pixels = random_bytes(row * H, 7u + static_cast<uint32_t>(color));
    const DecodedImage image = cyg::app::png_decode(
        png(ihdr(W, H, 8, color), filtered(pixels, row, static_cast<size_t>(samples), {0, 1, 2, 3, 4})), "x.png");
    EXPECT_EQ(image.width, W);
    EXPECT_EQ(image.height, H);
    EXPECT_EQ(image.channels, samples);
    EXPECT_EQ(image.pixels, pixels) << "colour type " << color;
  }
}

// 16 bits keep their high byte; a palette image is its entries; gray below 8 bits is
// scaled to 0..255 (1 bit: 0 or 255; 2 bits: 0, 85, 170, 255).
TEST(Png, DecodeReadsSixteenBitsPalettesAndPackedGray) {
  // 16-bit RGB, 3x2: high bytes from one set, low bytes random.
  const std::vector<uint8_t> high = random_bytes(18, 1), low = random_bytes(18, 2);
  std::vector<uint8_t> wide;
  for (size_t i = 0; i < high.size(); ++i) {
    wide.push_back(high[i]);
    wide.push_back(low[i]);
  }
  EXPECT_EQ(cyg::app::png_decode(png(ihdr(3, 2, 16, 2), filtered(wide, 18, 6, {4, 3})), "x").pixels, high);

  // A 2-bit palette image 5x2: indices 0..3 packed four to a byte, most significant first.
  const std::string palette = chunk("PLTE", std::string("\x0a\x0b\x0c\x14\x15\x16\x1e\x1f\x20\x28\x29\x2a", 12));
  const std::vector<int> indices = {0, 1, 2, 3, 1, 3, 2, 1, 0, 0};
  std::vector<uint8_t> packed;
  for (int y = 0; y < 2; ++y) {
    uint8_t byte0 = 0, byte1 = 0;
    for (int x = 0; x < 4; ++x) byte0 = static_cast<uint8_t>(byte0 | indices[y * 5 + x] << (6 - 2 * x));
    byte1 = static_cast<uint8_t>(indices[y * 5 + 4] << 6);
    packed.push_back(byte0);
    packed.push_back(byte1);
  }
  const DecodedImage indexed = cyg::app::png_decode(png(ihdr(5, 2, 2, 3), filtered(packed, 2, 1, {0, 2}), palette), "x");
  ASSERT_EQ(indexed.channels, 3);
  std::vector<uint8_t> expected;
  for (int i : indices)
    for (int k = 0; k < 3; ++k) expected.push_back(static_cast<uint8_t>(10 * (i + 1) + k));
  EXPECT_EQ(indexed.pixels, expected);

  // 1-bit gray, 9 wide: two bytes a row, the last 7 bits padding.
  const std::vector<uint8_t> bits = {0b10110010, 0b10000000, 0b01001101, 0b00000000};
  const DecodedImage mono = cyg::app::png_decode(png(ihdr(9, 2, 1, 0), filtered(bits, 2, 1, {1, 2})), "x");
  EXPECT_EQ(mono.pixels, (std::vector<uint8_t>{255, 0, 255, 255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 0, 255, 0}));
  // 2-bit gray: the four levels.
  const DecodedImage levels = cyg::app::png_decode(png(ihdr(4, 1, 2, 0), filtered({0b00011011}, 1, 1, {0})), "x");
  EXPECT_EQ(levels.pixels, (std::vector<uint8_t>{0, 85, 170, 255}));
}

// Rows whose first filter is Up or Average (their missing row above is zeros), 4-bit gray
// (each level times 17), an 8-bit palette, 16-bit gray with alpha.
TEST(Png, DecodeReadsUpAndAverageFirstRowsAndTheOtherDepths) {
  for (const std::vector<int>& filters : std::vector<std::vector<int>>{{2, 3, 4}, {3, 4, 2}, {4, 0}}) {
    const std::vector<uint8_t> pixels = random_bytes(6 * 4 * 3, 9);
    EXPECT_EQ(cyg::app::png_decode(png(ihdr(6, 4, 8, 2), filtered(pixels, 18, 3, filters)), "x").pixels, pixels)
        << "first filter " << filters[0];
  }
  // 4-bit gray, 3 wide: levels 0, 7, 15 and 1, 8, 14; the last byte's low half padding.
  const std::vector<uint8_t> nibbles = {0x07, 0xf0, 0x18, 0xe0};
  EXPECT_EQ(cyg::app::png_decode(png(ihdr(3, 2, 4, 0), filtered(nibbles, 2, 1, {0, 1})), "x").pixels,
            (std::vector<uint8_t>{0, 119, 255, 17, 136, 238}));
  // An 8-bit palette of 200 entries (entry k: k, 255 - k, k / 2).
  std::string entries;
  for (int k = 0; k < 200; ++k) entries += {static_cast<char>(k), static_cast<char>(255 - k), static_cast<char>(k / 2)};
  const std::vector<uint8_t> indices = {0, 199, 57, 3, 100, 150};
  std::vector<uint8_t> expected;
  for (uint8_t i : indices) expected.insert(expected.end(), {i, static_cast<uint8_t>(255 - i), static_cast<uint8_t>(i / 2)});
  EXPECT_EQ(cyg::app::png_decode(png(ihdr(3, 2, 8, 3), filtered(indices, 3, 1, {1, 4}), chunk("PLTE", entries)), "x")
                .pixels,
            expected);
  // 16-bit gray with alpha, 2x2: the high bytes of each sample.
  const std::vector<uint8_t> wide = random_bytes(2 * 2 * 4, 10);
  std::vector<uint8_t> high;
  for (size_t i = 0; i < wide.size(); i += 2) high.push_back(wide[i]);
  const DecodedImage gray_alpha = cyg::app::png_decode(png(ihdr(2, 2, 16, 4), filtered(wide, 8, 4, {3, 4})), "x");
  EXPECT_EQ(gray_alpha.channels, 2);
  EXPECT_EQ(gray_alpha.pixels, high);
}

// The image data split over several IDAT chunks, ancillary chunks before, between and
// after, and bytes after IEND: the same pixels.
TEST(Png, DecodeJoinsIdatChunksAndSkipsAncillaryOnes) {
  const std::vector<uint8_t> pixels = random_bytes(9 * 7 * 4, 12);
  const std::string packed = deflated(filtered(pixels, 36, 4, {4, 1, 2, 3, 0}));
  const size_t third = packed.size() / 3;
  const std::string file = "\x89PNG\r\n\x1a\n" + ihdr(9, 7, 8, 6) + chunk("gAMA", std::string("\0\0\xb1\x8f", 4)) +
                           chunk("IDAT", packed.substr(0, third)) + chunk("IDAT", packed.substr(third, third)) +
                           chunk("IDAT", packed.substr(2 * third)) + chunk("tEXt", std::string("Comment\0x", 9)) +
                           chunk("IEND", "") + "trailing bytes";
  EXPECT_EQ(cyg::app::png_decode(file, "x").pixels, pixels);
}

// A file from another encoder (Pillow 13.0.0, optimize=True: its own filter choices,
// Sub then None), with the pixels Pillow reads from it.
TEST(Png, DecodeReadsAnotherEncodersFile) {
  const std::string file(
      "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x04\x00\x00\x00\x03\x08\x02"
      "\x00\x00\x00\x3b\x96\x39\x91\x00\x00\x00\x32\x49\x44\x41\x54\x78\xda\x01\x27\x00\xd8\xff\x01\xe7\xee\xe7"
      "\x7a\x70\x0c\xfe\xd2\xf1\x3c\x18\x4a\x00\x15\xca\xe7\x50\x07\x20\x1e\x12\x61\x7b\x0f\xed\x00\xa7\xe1\x64"
      "\x77\x96\xff\x02\x2b\xea\x8e\xd0\x2a\x6d\xae\x11\xef\x90\xcb\x46\xeb\x00\x00\x00\x00\x49\x45\x4e\x44\xae"
      "\x42\x60\x82",
      107);
  const DecodedImage image = cyg::app::png_decode(file, "pillow.png");
  EXPECT_EQ(image.width, 4);
  EXPECT_EQ(image.height, 3);
  EXPECT_EQ(image.pixels, (std::vector<uint8_t>{231, 238, 231, 97,  94,  243, 95, 48,  228, 155, 72, 46,
                                                21,  202, 231, 80, 7,   32,  30, 18,  97,  123, 15, 237,
                                                167, 225, 100, 119, 150, 255, 2, 43, 234, 142, 208, 42}));
}

// What this project writes, it reads back.
TEST(Png, DecodeReadsWhatPngBytesWrites) {
  const std::vector<uint8_t> rgb = random_bytes(5 * 4 * 3, 3), gray = random_bytes(5 * 4, 4);
  EXPECT_EQ(cyg::app::png_decode(cyg::app::png_bytes(rgb.data(), 5, 4, 3), "x").pixels, rgb);
  EXPECT_EQ(cyg::app::png_decode(cyg::app::png_bytes(gray.data(), 5, 4, 1), "x").pixels, gray);
}

// Damage and what the reader does not take: one error, naming the file and the trouble.
TEST(Png, DecodeRefusesDamagedAndUnsupportedFiles) {
  const std::vector<uint8_t> pixels = random_bytes(4 * 3 * 3, 5);
  const std::string good = png(ihdr(4, 3, 8, 2), filtered(pixels, 12, 3, {0}));
  ASSERT_EQ(error_of(good), "(no error)");
  auto expect = [](const std::string& bytes, const std::string& part) {
    const std::string e = error_of(bytes);
    EXPECT_NE(e.find("pic.png"), std::string::npos) << e;
    EXPECT_NE(e.find(part), std::string::npos) << e << "\n  lacks: " << part;
  };
  expect("GIF89a" + good.substr(6), "is not a PNG file");
  expect(good.substr(0, good.size() - 12), "cut short: no IEND chunk");  // IEND gone
  std::string flipped = good;
  flipped[42] = static_cast<char>(flipped[42] ^ 1);  // inside IDAT's data (IDAT's header: bytes 33 to 40)
  expect(flipped, "fails its CRC check");
  expect(png(ihdr(4, 3, 8, 2, 1), filtered(pixels, 12, 3, {0})), "interlaced");
  expect(png(ihdr(4, 3, 16, 3), filtered(pixels, 12, 3, {0})), "colour type 3 with 16-bit samples");
  expect(png(ihdr(4, 3, 8, 5), filtered(pixels, 12, 3, {0})), "colour type 5");
  expect(png(ihdr(4, 3, 8, 2), filtered(pixels, 12, 3, {0}), chunk("ABCD", "x")), "unknown critical chunk 'ABCD'");
  expect(png(ihdr(4, 3, 8, 2), filtered(pixels, 12, 3, {0}).substr(13)), "does not inflate to the 39 bytes");
  std::string bad_filter = filtered(pixels, 12, 3, {0});
  bad_filter[13] = 5;  // row 1's filter type
  expect(png(ihdr(4, 3, 8, 2), bad_filter), "row 1 has filter type 5");
  expect(png(ihdr(1u << 13, 1u << 12, 8, 0), ""), "at most 16777216 pixels");
  expect(png(ihdr(0xffffffffu, 0xffffffffu, 8, 0), ""), "at most 16777216 pixels");
  expect(png(ihdr(2, 1, 8, 3), std::string("\0\0\1", 3), chunk("PLTE", "abc")), "palette entry 1, and the palette has 1");
  expect(png(ihdr(2, 1, 8, 3), std::string("\0\0\0", 3)), "without a PLTE chunk");
  expect(png(ihdr(2, 1, 8, 3), std::string("\0\0\0", 3), chunk("PLTE", "abcd")), "a palette of 4 bytes");
  expect(png(ihdr(4, 3, 8, 2), filtered(pixels, 12, 3, {0}), ihdr(4, 3, 8, 2)), "a misplaced or malformed IHDR");
  expect(png(ihdr(1, kMostSide + 1, 8, 0), ""), "16384 a side");
  expect(png(ihdr(4096, 4096, 16, 6), std::string(100, '\0')), "cannot inflate to the");
  expect("\x89PNG\r\n\x1a\n" + chunk("IDAT", deflated("\0")) + chunk("IEND", ""), "the first chunk is IDAT");
  std::string huge = good.substr(0, 8);
  put_u32(huge, 0x7fffffffu);
  expect(huge + "IHDR" + std::string(20, '\0'), "claims 2147483647 bytes");
}

// Resizing, worked out by hand: the triangle's taps at half-integer centres.
TEST(ImageInput, ResizeAveragesWhatEachPixelCovers) {
  // [0 0 100 100] to 2: centres 1 and 3, radius 2: taps 0.75 0.75 0.25 (and 0.25 0.75
  // 0.75), normalised by 1.75: 25/1.75 = 14.3 and 150/1.75 = 85.7.
  const std::vector<uint8_t> row = {0, 0, 100, 100};
  EXPECT_EQ(cyg::app::resize_plane(row.data(), 1, 4, 1, 2), (std::vector<uint8_t>{14, 86}));
  // [0 100] to 4: centres 0.25 .. 1.75, radius 1: bilinear with the ends held.
  const std::vector<uint8_t> two = {0, 100};
  EXPECT_EQ(cyg::app::resize_plane(two.data(), 1, 2, 1, 4), (std::vector<uint8_t>{0, 25, 75, 100}));
  // The same size: the plane as it is.
  const std::vector<uint8_t> any = random_bytes(6 * 5, 6);
  EXPECT_EQ(cyg::app::resize_plane(any.data(), 6, 5, 6, 5), any);
  // Separable: a column resized as the row was.
  EXPECT_EQ(cyg::app::resize_plane(row.data(), 4, 1, 2, 1), (std::vector<uint8_t>{14, 86}));
  // A constant stays constant at any scale.
  const std::vector<uint8_t> flat(9 * 7, 200);
  EXPECT_EQ(cyg::app::resize_plane(flat.data(), 9, 7, 4, 11), std::vector<uint8_t>(4 * 11, 200));
}

// Channels: alpha dropped, RGB to luma (0.299, 0.587, 0.114), gray repeated into RGB; the
// result CHW.
TEST(ImageInput, ChannelsBecomeTheDatasets) {
  DecodedImage rgba;
  rgba.width = 2;
  rgba.height = 1;
  rgba.channels = 4;
  rgba.pixels = {255, 0, 0, 9, 0, 255, 0, 9};
  // Red: 0.299 * 255 = 76.2; green: 0.587 * 255 = 149.7, in fixed point 150.
  EXPECT_EQ(cyg::app::dataset_image(rgba, 1, 1, 2), (std::vector<uint8_t>{76, 150}));
  EXPECT_EQ(cyg::app::dataset_image(rgba, 3, 1, 2), (std::vector<uint8_t>{255, 0, 0, 255, 0, 0}));
  DecodedImage gray_alpha;
  gray_alpha.width = 1;
  gray_alpha.height = 2;
  gray_alpha.channels = 2;
  gray_alpha.pixels = {10, 255, 20, 0};
  EXPECT_EQ(cyg::app::dataset_image(gray_alpha, 3, 2, 1), (std::vector<uint8_t>{10, 20, 10, 20, 10, 20}));
  EXPECT_EQ(cyg::app::dataset_image(gray_alpha, 1, 2, 1), (std::vector<uint8_t>{10, 20}));
  // Then the size: [0 0 100 100] in both channel orders' first plane.
  DecodedImage wide;
  wide.width = 4;
  wide.height = 1;
  wide.channels = 1;
  wide.pixels = {0, 0, 100, 100};
  EXPECT_EQ(cyg::app::dataset_image(wide, 1, 1, 2), (std::vector<uint8_t>{14, 86}));
}

}  // namespace

// fastai's Resize methods: the box each makes of an image before resizing, worked out by
// hand (the kept side whole, the other floor(kept x the target's ratio), the offsets half
// the difference truncated towards zero), and the pixels: a crop is the image's centre, a
// pad the image between black bars, each then resized as resize_plane resizes.
TEST(ImageInput, CropAndPadMakeTheAspectRatioBeforeResizing) {
  using cyg::app::ResizeMethod;
  auto box = [](int64_t h, int64_t w, int64_t ho, int64_t wo, ResizeMethod m) {
    const cyg::app::ResizeBox b = cyg::app::resize_box(h, w, ho, wo, m);
    return std::vector<int64_t>{b.top, b.left, b.height, b.width};
  };
  // 6 wide, 2 high, made 2x2: the middle two columns, or two black rows above and below.
  EXPECT_EQ(box(2, 6, 2, 2, ResizeMethod::Squish), (std::vector<int64_t>{0, 0, 2, 6}));
  EXPECT_EQ(box(2, 6, 2, 2, ResizeMethod::Crop), (std::vector<int64_t>{0, 2, 2, 2}));
  EXPECT_EQ(box(2, 6, 2, 2, ResizeMethod::Pad), (std::vector<int64_t>{-2, 0, 6, 6}));
  // 5 wide: the odd column cut on the right; the odd black row added below.
  EXPECT_EQ(box(2, 5, 2, 2, ResizeMethod::Crop), (std::vector<int64_t>{0, 1, 2, 2}));
  EXPECT_EQ(box(2, 5, 2, 2, ResizeMethod::Pad), (std::vector<int64_t>{-1, 0, 5, 5}));
  // Tall, 3 wide and 7 high, made 4 high and 2 wide (ratio 1/2): a crop keeps the width
  // and 6 rows; a pad would be 3.5 wide, floored to the image's own 3.
  EXPECT_EQ(box(7, 3, 4, 2, ResizeMethod::Crop), (std::vector<int64_t>{0, 0, 6, 3}));
  EXPECT_EQ(box(7, 3, 4, 2, ResizeMethod::Pad), (std::vector<int64_t>{0, 0, 7, 3}));
  EXPECT_EQ(box(9, 2, 2, 2, ResizeMethod::Pad), (std::vector<int64_t>{0, -3, 9, 9}));
  // The target's ratio already: the image itself.
  for (ResizeMethod m : {ResizeMethod::Squish, ResizeMethod::Crop, ResizeMethod::Pad})
    EXPECT_EQ(box(4, 8, 16, 32, m), (std::vector<int64_t>{0, 0, 4, 8}));

  DecodedImage wide;  // gray, 6 wide and 2 high: 10..15 over 20..25
  wide.width = 6;
  wide.height = 2;
  wide.channels = 1;
  wide.pixels = {10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25};
  EXPECT_EQ(cyg::app::dataset_image(wide, 1, 2, 2, ResizeMethod::Crop), (std::vector<uint8_t>{12, 13, 22, 23}));
  std::vector<uint8_t> padded(36, 0);  // 6x6: two black rows, the image, two black rows
  std::copy(wide.pixels.begin(), wide.pixels.end(), padded.begin() + 12);
  EXPECT_EQ(cyg::app::dataset_image(wide, 1, 2, 2, ResizeMethod::Pad), cyg::app::resize_plane(padded.data(), 6, 6, 2, 2));
  EXPECT_EQ(cyg::app::dataset_image(wide, 1, 2, 2, ResizeMethod::Squish),
            cyg::app::resize_plane(wide.pixels.data(), 2, 6, 2, 2));
  EXPECT_NE(cyg::app::dataset_image(wide, 1, 2, 2, ResizeMethod::Pad),
            cyg::app::dataset_image(wide, 1, 2, 2, ResizeMethod::Squish));
  // RGB, 1 wide and 3 high, padded to 3x3 (a black column each side) and kept at 3x3:
  // every channel alike.
  DecodedImage tall;
  tall.width = 1;
  tall.height = 3;
  tall.channels = 3;
  tall.pixels = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(cyg::app::dataset_image(tall, 3, 3, 3, ResizeMethod::Pad),
            (std::vector<uint8_t>{0, 1, 0, 0, 4, 0, 0, 7, 0,    // R
                                  0, 2, 0, 0, 5, 0, 0, 8, 0,    // G
                                  0, 3, 0, 0, 6, 0, 0, 9, 0}));  // B
  // Cropped to its middle pixel, then made 2x2.
  EXPECT_EQ(cyg::app::dataset_image(tall, 1, 2, 2, ResizeMethod::Crop).size(), 4u);
  const uint8_t middle_luma = static_cast<uint8_t>((4 * 19595u + 5 * 38470u + 6 * 7471u + 0x8000u) >> 16);
  EXPECT_EQ(cyg::app::dataset_image(tall, 1, 2, 2, ResizeMethod::Crop), std::vector<uint8_t>(4, middle_luma));

  // A pad that would grow past the decoders' limit (4097x1 to 4097x4097) is refused.
  DecodedImage line;
  line.width = 4097;
  line.height = 1;
  line.channels = 1;
  line.pixels.assign(4097, 7);
  EXPECT_EQ(cyg::test::error_of([&] { cyg::app::dataset_image(line, 1, 8, 8, ResizeMethod::Pad); }),
            "a 4097x1 image padded to 4097x4097 is over the 16777216-pixel limit: use data.resize_method=crop or "
            "squish");
  EXPECT_EQ(cyg::app::dataset_image(line, 1, 8, 8, ResizeMethod::Squish), std::vector<uint8_t>(64, 7));

  EXPECT_EQ(cyg::app::resize_method_named("pad"), ResizeMethod::Pad);
  EXPECT_EQ(cyg::test::error_of([] { cyg::app::resize_method_named("zoom"); }),
            "resize method 'zoom': expected squish, crop or pad");
}
