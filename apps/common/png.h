// PNG files of small 8-bit images (grayscale or RGB, no interlacing), compressed with
// zlib, and base64 for inlining one in an SVG or a page as a data: URI; and a PNG reader
// for the images a user asks a model about.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cyg::app {

// The PNG of a width x height image of `channels` (1: grayscale, 3: RGB) 8-bit samples,
// given row by row with the channels of a pixel together (HWC). Each row is stored
// unfiltered (filter type 0). Errors (a bad size or channel count, zlib failing) are
// cyg::Error.
std::string png_bytes(const uint8_t* pixels, int64_t width, int64_t height, int channels);

// A decoded image (a PNG's here, a JPEG's in jpeg.h): width x height pixels of `channels` 8-bit samples (1: grayscale,
// 2: grayscale and alpha, 3: RGB, 4: RGBA), row by row, a pixel's channels together (HWC).
struct DecodedImage {
  int64_t width = 0, height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;
};

// The most pixels png_decode and jpeg_decode accept (a 4096 x 4096 image), and the
// longest side: more is refused before any memory is taken for it.
constexpr int64_t kMostImagePixels = int64_t{1} << 24;
constexpr int64_t kMostImageSide = 16384;

// Reads a PNG file's bytes (the PNG specification, third edition): grayscale (1, 2, 4, 8
// or 16 bits; below 8 scaled to 0..255), RGB, grayscale with alpha and RGBA (8 or 16 bits;
// 16 keep their high byte) and palette images (1 to 8 bits, expanded to RGB), not
// interlaced, every chunk's CRC checked. `what` names the input (a file's path) in the
// errors: cyg::Error for anything else or anything malformed, saying what was found.
DecodedImage png_decode(const std::string& bytes, const std::string& what);

// RFC 4648 base64, with '=' padding.
std::string base64(const std::string& bytes);

}  // namespace cyg::app
