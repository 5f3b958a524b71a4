// JPEG files, read and written through libjpeg (libjpeg-turbo's libjpeg API, Debian's
// libjpeg-dev): the images of an image-folder dataset and those a user asks a model about.
// A build without libjpeg (CYGNET_JPEG=OFF, or AUTO where it is not found) reads PNG only
// and says so when it meets a JPEG file.
#pragma once
#include <cstdint>
#include <string>

#include "apps/common/png.h"

namespace cyg::app {

// Whether this build reads and writes JPEG files.
bool jpeg_available();

// Whether the bytes begin as a JPEG file does (SOI and a marker: FF D8 FF).
bool looks_like_jpeg(const std::string& bytes);

// Decodes a baseline or progressive JPEG file's bytes as libjpeg does by default (the
// accurate integer DCT and smooth chroma upsampling, as Pillow decodes): a grayscale file
// gives 1 channel, a YCbCr or RGB one 3 (RGB). With `shrink` (for an image about to be
// resized), one over kMostImagePixels pixels or kMostImageSide a side is decoded at 1/2,
// 1/4 or 1/8 of its size, the largest that fits (libjpeg's DCT scaling). `what` names the
// input (a file's path) in the errors, cyg::Error: not a JPEG file, CMYK or YCCK colour,
// too large, damaged or cut-short data (libjpeg's warnings about the image data are errors
// here: it would fill what is missing with gray; those about headers alone, such as stray
// bytes between markers or an unknown JFIF revision, pass, as Pillow lets them), or a
// build without libjpeg. Out of memory is std::bad_alloc.
DecodedImage jpeg_decode(const std::string& bytes, const std::string& what, bool shrink = false);

// The JPEG file (baseline, 4:2:0 chroma for RGB, as libjpeg's defaults) of a width x
// height image of `channels` (1: grayscale, 3: RGB, 4: CMYK, for tests) 8-bit samples
// given row by row, HWC, at `quality` (1..100).
std::string jpeg_bytes(const uint8_t* pixels, int64_t width, int64_t height, int channels, int quality);

}  // namespace cyg::app
