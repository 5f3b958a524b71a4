#include "tests/fuzz/readers.h"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <system_error>

#include "apps/common/config.h"
#include "apps/common/image_input.h"
#include "apps/common/png.h"
#include "data/datasets.h"
#include "engine/safetensors.h"
#include "kernels/error.h"

namespace fs = std::filesystem;

namespace cyg::fuzz {

Bytes read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::vector<Seed> load_seeds(const fs::path& corpus) {
  std::vector<Seed> seeds;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(corpus, error))
    if (entry.is_regular_file()) seeds.push_back({entry.path().filename().string(), read_file(entry.path())});
  if (error) seeds.clear();
  std::sort(seeds.begin(), seeds.end(), [](const Seed& a, const Seed& b) { return a.name < b.name; });
  return seeds;
}

void read_cifar10(const fs::path& dir, const Bytes& input) {
  write_file(dir / "test_batch.bin", input);
  load_cifar10(dir.string(), Split::Test);
}

void read_idx(const fs::path& dir, const Bytes& input, bool images, bool gz, const std::vector<Seed>& seeds) {
  for (const char* stale : {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "t10k-images-idx3-ubyte.gz",
                            "t10k-labels-idx1-ubyte.gz"})
    fs::remove(dir / stale);
  const std::string suffix = gz ? ".gz" : "";
  const std::string mutated = images ? "t10k-images-idx3-ubyte" : "t10k-labels-idx1-ubyte";
  const std::string partner = images ? "t10k-labels-idx1-ubyte" : "t10k-images-idx3-ubyte";
  write_file(dir / (mutated + suffix), input);
  for (const Seed& s : seeds)
    if (s.name == (images ? "labels.idx" : "images.idx") + suffix) write_file(dir / (partner + suffix), s.bytes);
  load_fashion_mnist(dir.string(), Split::Test);
}

void read_safetensors(const fs::path& dir, const Bytes& input) {
  write_file(dir / "input.safetensors", input);
  load_safetensors((dir / "input.safetensors").string());
}

void read_config(const fs::path& dir, const Bytes& input) {
  write_file(dir / "input.yaml", input);
  app::RunConfig config;
  app::apply_yaml_file(config, (dir / "input.yaml").string());
  app::validate(config);
}

namespace {

// A mutated PNG seldom survives its CRCs: each chunk that fits in the input gets its right
// CRC, so that the mutations reach the header, the inflation and the filters.
Bytes with_crcs_made_right(Bytes b) {
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) v = (v << 8) | static_cast<uint8_t>(b[at + k]);
    return v;
  };
  for (size_t at = 8; at + 12 <= b.size();) {
    const uint32_t length = u32(at);
    if (length > b.size() - at - 12) break;
    const auto crc = static_cast<uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(b.data() + at + 4), static_cast<uInt>(length + 4)));
    for (size_t k = 0; k < 4; ++k) b[at + 8 + length + k] = static_cast<char>((crc >> (24 - 8 * k)) & 0xff);
    at += 12 + static_cast<size_t>(length);
  }
  return b;
}

}  // namespace

void read_png(const fs::path& dir, const Bytes& input) {
  for (const Bytes& bytes : {input, with_crcs_made_right(input)}) {
    write_file(dir / "input.png", bytes);
    try {
      const app::DecodedImage image = app::png_decode(read_file(dir / "input.png"), (dir / "input.png").string());
      app::dataset_image(image, 3, 32, 32);
      app::dataset_image(image, 1, 7, 45);
    } catch (const Error&) {
      if (&bytes == &input) continue;  // the CRCs' refusal: try the input with them made right
      throw;
    }
  }
}

void read_jpeg(const fs::path& dir, const Bytes& input) {
  // As it is, then with JPEG's first three bytes, so that a mutation there still reaches
  // the decoder; each also shrunk as an image about to be resized is.
  Bytes signed_input = input;
  for (size_t k = 0; k < 3 && k < signed_input.size(); ++k) signed_input[k] = "\xFF\xD8\xFF"[k];
  const Bytes* const tries[] = {&input, &signed_input};
  for (const Bytes* bytes : tries) {
    write_file(dir / "input.jpg", *bytes);
    for (bool shrink : {false, true}) {
      try {
        const app::DecodedImage image = app::read_image((dir / "input.jpg").string(), shrink);
        app::dataset_image(image, 3, 32, 32);
        app::dataset_image(image, 1, 7, 45);
      } catch (const Error&) {
        if (bytes == &signed_input && shrink) throw;  // the last try's refusal is the input's
      }
    }
  }
}

}  // namespace cyg::fuzz
