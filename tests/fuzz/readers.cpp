#include "tests/fuzz/readers.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <system_error>

#include "apps/common/config.h"
#include "data/datasets.h"
#include "engine/safetensors.h"

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

}  // namespace cyg::fuzz
