// PNG files of small 8-bit images (grayscale or RGB, no interlacing), compressed with
// zlib, and base64 for inlining one in an SVG or a page as a data: URI.
#pragma once
#include <cstdint>
#include <string>

namespace cyg::app {

// The PNG of a width x height image of `channels` (1: grayscale, 3: RGB) 8-bit samples,
// given row by row with the channels of a pixel together (HWC). Each row is stored
// unfiltered (filter type 0). Errors (a bad size or channel count, zlib failing) are
// cyg::Error.
std::string png_bytes(const uint8_t* pixels, int64_t width, int64_t height, int channels);

// RFC 4648 base64, with '=' padding.
std::string base64(const std::string& bytes);

}  // namespace cyg::app
