// PNG and base64 (apps/common/png.h).
#include "apps/common/png.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/error.h"

namespace cyg::app {
namespace {

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// Length, type, data, and the CRC-32 of type and data.
void put_chunk(std::string& out, const char type[5], const std::string& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  const std::string typed = std::string(type, 4) + data;
  out += typed;
  put_u32(out, static_cast<uint32_t>(
                   crc32(0L, reinterpret_cast<const Bytef*>(typed.data()), static_cast<uInt>(typed.size()))));
}

uint32_t get_u32(const std::string& bytes, size_t at) {
  uint32_t v = 0;
  for (size_t k = 0; k < 4; ++k) v = (v << 8) | static_cast<uint8_t>(bytes[at + k]);
  return v;
}

// The Paeth predictor of the specification: the neighbour (left, up, upper left) nearest
// to left + up - upper left.
uint8_t paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return static_cast<uint8_t>(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

}  // namespace

DecodedImage png_decode(const std::string& bytes, const std::string& what) {
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  CYG_INPUT_CHECK(bytes.size() >= 8 && std::memcmp(bytes.data(), kSignature, 8) == 0, "'", what,
                  "' is not a PNG file (its first 8 bytes are not PNG's signature)");
  int64_t width = 0, height = 0;
  int depth = 0, color = -1;
  std::string palette, packed;
  bool ended = false;
  for (size_t at = 8; !ended;) {
    CYG_INPUT_CHECK(at + 12 <= bytes.size(), "'", what, "' is cut short: no IEND chunk after byte ", at);
    const uint32_t length = get_u32(bytes, at);
    CYG_INPUT_CHECK(length <= bytes.size() - at - 12, "'", what, "': the chunk at byte ", at, " claims ", length,
                    " bytes, more than the file has left");
    const std::string type = bytes.substr(at + 4, 4), data = bytes.substr(at + 8, length);
    const uint32_t crc = get_u32(bytes, at + 8 + length);
    const uint32_t computed = static_cast<uint32_t>(
        crc32(crc32(0L, reinterpret_cast<const Bytef*>(type.data()), 4), reinterpret_cast<const Bytef*>(data.data()),
              static_cast<uInt>(data.size())));
    CYG_INPUT_CHECK(crc == computed, "'", what, "': the ", type, " chunk at byte ", at,
                    " fails its CRC check (the file is damaged)");
    CYG_INPUT_CHECK(at > 8 || type == "IHDR", "'", what, "': the first chunk is ", type, ", not IHDR");
    if (type == "IHDR") {
      CYG_INPUT_CHECK(at == 8 && length == 13, "'", what, "': a misplaced or malformed IHDR chunk");
      width = get_u32(data, 0);
      height = get_u32(data, 4);
      depth = static_cast<uint8_t>(data[8]);
      color = static_cast<uint8_t>(data[9]);
      CYG_INPUT_CHECK(width > 0 && height > 0 && width <= kMostImageSide && height <= kMostImageSide &&
                          width * height <= kMostImagePixels,
                      "'", what, "': an image of ", width, "x", height, " pixels (at most ", kMostImagePixels,
                      " pixels, and ", kMostImageSide, " a side, are read)");
      const bool depth_ok = color == 0   ? depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
                            : color == 3 ? depth == 1 || depth == 2 || depth == 4 || depth == 8
                            : color == 2 || color == 4 || color == 6 ? depth == 8 || depth == 16
                                                                     : false;
      CYG_INPUT_CHECK(depth_ok, "'", what, "': colour type ", color, " with ", depth,
                      "-bit samples is not a PNG image this reader takes (grayscale, RGB, palette, with or without "
                      "alpha, in the depths the specification allows)");
      CYG_INPUT_CHECK(data[10] == 0 && data[11] == 0, "'", what, "': an unknown compression or filter method");
      CYG_INPUT_CHECK(data[12] == 0, "'", what, "' is interlaced (Adam7); save it without interlacing");
    } else if (type == "PLTE") {
      CYG_INPUT_CHECK(length > 0 && length % 3 == 0 && length <= 768, "'", what, "': a palette of ", length,
                      " bytes (expected 1 to 256 entries of 3)");
      palette = data;
    } else if (type == "IDAT") {
      packed += data;
    } else if (type == "IEND") {
      ended = true;
    } else {
      // Ancillary chunks (a lowercase first letter) may be skipped; critical ones may not.
      CYG_INPUT_CHECK(type[0] >= 'a' && type[0] <= 'z', "'", what, "': an unknown critical chunk '", type, "'");
    }
    at += 12 + length;
  }
  CYG_INPUT_CHECK(color == 3 ? !palette.empty() : true, "'", what, "': a palette image without a PLTE chunk");
  const int samples = color == 0 ? 1 : color == 2 ? 3 : color == 3 ? 1 : color == 4 ? 2 : 4;
  const size_t row_bytes = (static_cast<size_t>(width) * static_cast<size_t>(samples * depth) + 7) / 8;
  const size_t pixel_bytes = std::max<size_t>(1, static_cast<size_t>(samples * depth) / 8);
  const size_t raw_bytes = static_cast<size_t>(height) * (row_bytes + 1);
  // Deflate packs at most about 1032 bytes into one: less data than that cannot be the
  // image, and is refused before the image's memory is taken.
  CYG_INPUT_CHECK(packed.size() * 1032 + 64 >= raw_bytes, "'", what, "': ", packed.size(),
                  " bytes of image data cannot inflate to the ", raw_bytes, " bytes a ", width, "x", height,
                  " image has");
  std::vector<uint8_t> raw(raw_bytes);
  uLongf raw_size = static_cast<uLongf>(raw.size());
  const int rc = uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(packed.data()),
                            static_cast<uLong>(packed.size()));
  CYG_INPUT_CHECK(rc == Z_OK && raw_size == raw.size(), "'", what, "': its image data does not inflate to the ",
                  raw.size(), " bytes a ", width, "x", height, " image has (zlib: ",
                  rc == Z_OK ? "too few bytes" : rc == Z_BUF_ERROR ? "too many bytes" : "damaged or cut short",
                  ")");
  // Undo each row's filter, in place: the row before is already unfiltered.
  for (int64_t y = 0; y < height; ++y) {
    uint8_t* row = raw.data() + static_cast<size_t>(y) * (row_bytes + 1);
    const uint8_t* up = y > 0 ? row - (row_bytes + 1) + 1 : nullptr;
    const int filter = row[0];
    CYG_INPUT_CHECK(filter <= 4, "'", what, "': row ", y, " has filter type ", filter, " (expected 0 to 4)");
    uint8_t* cur = row + 1;
    for (size_t i = 0; i < row_bytes; ++i) {
      const int a = i >= pixel_bytes ? cur[i - pixel_bytes] : 0, b = up ? up[i] : 0,
                c = up && i >= pixel_bytes ? up[i - pixel_bytes] : 0;
      const int predicted = filter == 0 ? 0 : filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2 : paeth(a, b, c);
      cur[i] = static_cast<uint8_t>(cur[i] + predicted);
    }
  }
  DecodedImage image;
  image.width = width;
  image.height = height;
  image.channels = color == 3 ? 3 : samples;
  image.pixels.resize(static_cast<size_t>(width * height) * static_cast<size_t>(image.channels));
  const int most = (1 << std::min(depth, 8)) - 1;
  for (int64_t y = 0; y < height; ++y) {
    const uint8_t* cur = raw.data() + static_cast<size_t>(y) * (row_bytes + 1) + 1;
    for (int64_t x = 0; x < width; ++x)
      for (int s = 0; s < samples; ++s) {
        const int64_t index = x * samples + s;  // the sample's place in the row
        int value;
        if (depth == 16) {
          value = cur[index * 2];  // the high byte
        } else if (depth == 8) {
          value = cur[index];
        } else {  // 1, 2 or 4 bits, packed from the most significant bit
          const int64_t bit = index * depth;
          value = (cur[bit / 8] >> (8 - depth - bit % 8)) & most;
        }
        uint8_t* out = image.pixels.data() + static_cast<size_t>((y * width + x) * image.channels);
        if (color == 3) {
          CYG_INPUT_CHECK(static_cast<size_t>(value) * 3 < palette.size(), "'", what, "': pixel (", x, ", ", y,
                          ") is palette entry ", value, ", and the palette has ", palette.size() / 3);
          for (int k = 0; k < 3; ++k) out[k] = static_cast<uint8_t>(palette[static_cast<size_t>(value) * 3 + k]);
        } else {
          // Below 8 bits a grayscale sample is scaled to the full range (1 bit: 0 or 255).
          out[s] = static_cast<uint8_t>(depth < 8 ? value * 255 / most : value);
        }
      }
  }
  return image;
}

std::string png_bytes(const uint8_t* pixels, int64_t width, int64_t height, int channels) {
  CYG_CHECK(width > 0 && height > 0 && width <= (int64_t{1} << 16) && height <= (int64_t{1} << 16),
            "png_bytes: an image of ", width, "x", height, " pixels");
  CYG_CHECK(channels == 1 || channels == 3, "png_bytes: ", channels, " channels (expected 1 or 3)");
  const size_t row = static_cast<size_t>(width) * static_cast<size_t>(channels);
  // Each row: its filter type (0, none), then its samples.
  std::vector<uint8_t> raw;
  raw.reserve(static_cast<size_t>(height) * (row + 1));
  for (int64_t y = 0; y < height; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), pixels + static_cast<size_t>(y) * row, pixels + static_cast<size_t>(y + 1) * row);
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(packed_size, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(&packed[0]), &packed_size, raw.data(),
                           static_cast<uLong>(raw.size()), Z_BEST_COMPRESSION);
  CYG_CHECK(rc == Z_OK, "png_bytes: zlib's compress2 failed (", rc, ")");
  packed.resize(packed_size);

  std::string out = "\x89PNG\r\n\x1a\n";
  std::string header;
  put_u32(header, static_cast<uint32_t>(width));
  put_u32(header, static_cast<uint32_t>(height));
  header.push_back(8);                                   // bits per sample
  header.push_back(static_cast<char>(channels == 1 ? 0 : 2));  // colour type: grayscale, RGB
  header.append(3, '\0');                                // deflate, adaptive filtering, no interlace
  put_chunk(out, "IHDR", header);
  put_chunk(out, "IDAT", packed);
  put_chunk(out, "IEND", "");
  return out;
}

std::string base64(const std::string& bytes) {
  static const char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t group = 0;
    for (size_t k = 0; k < 3; ++k)
      group = (group << 8) | (k < n ? static_cast<uint8_t>(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k) out.push_back(k <= n ? kDigits[(group >> (18 - 6 * k)) & 0x3f] : '=');
  }
  return out;
}

}  // namespace cyg::app
