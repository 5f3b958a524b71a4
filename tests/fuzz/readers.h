// The readers of outside input as fuzz targets see them: each takes one input's
// bytes, writes them where its reader looks (in `dir`) and reads them. A cyg::Error is a
// clean refusal; anything else escaping is a finding. Shared by the plain mutation driver
// (fuzz_parsers.cpp) and the libFuzzer targets (libfuzzer_target.cpp).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace cyg::fuzz {

using Bytes = std::string;

struct Seed {
  std::string name;
  Bytes bytes;
};

Bytes read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const Bytes& bytes);
// The regular files of a corpus folder, sorted by name; empty if there are none.
std::vector<Seed> load_seeds(const std::filesystem::path& corpus);

void read_cifar10(const std::filesystem::path& dir, const Bytes& input);
// IDX: `input` is the images file when `images`, else the labels file, gzipped when `gz`;
// the other file of the pair is the matching seed ("images.idx[.gz]", "labels.idx[.gz]").
void read_idx(const std::filesystem::path& dir, const Bytes& input, bool images, bool gz,
              const std::vector<Seed>& seeds);
void read_safetensors(const std::filesystem::path& dir, const Bytes& input);
void read_config(const std::filesystem::path& dir, const Bytes& input);
// An image a user asks a model about: decoded, then made a 32x32 RGB and a 7x45 gray
// image (channels and size changed, as cygnet_evaluate --image does); read as it is and
// with every chunk's CRC made right, so that mutations get past the CRCs.
void read_png(const std::filesystem::path& dir, const Bytes& input);
// A JPEG file as an image folder or cygnet_evaluate --image reads one (by what its first
// bytes say it is, as it is and shrunk), then made a 32x32 RGB and a 7x45 gray image; read
// as it is and with JPEG's first three bytes, so that mutations there reach the decoder.
void read_jpeg(const std::filesystem::path& dir, const Bytes& input);

}  // namespace cyg::fuzz
