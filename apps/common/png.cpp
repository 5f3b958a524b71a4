// PNG and base64 (apps/common/png.h).
#include "apps/common/png.h"

#include <zlib.h>

#include <algorithm>
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

}  // namespace

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
