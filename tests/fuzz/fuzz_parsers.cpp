// A mutation fuzzer for the five readers of outside input: CIFAR-10 binary batches, IDX
// files (plain and gzipped), safetensors, YAML configs (read and validated) and PNG
// images (decoded and made a dataset's image). It starts
// from the seed corpus in tests/fuzz/corpus/<target>/, mutates the inputs (bit flips,
// interesting bytes, cuts, copies, splices, and for YAML interesting numbers) and hands each
// to the reader. A cyg::Error is a clean refusal; any other exception is a finding, as is a
// crash, which ctest reports. Deterministic for a given seed and number of runs.
//
//   cygnet_fuzz TARGET SECONDS CORPUS_DIR [SEED]      TARGET: cifar10 | idx | safetensors | config | png | jpeg
//
// The input under test is written to a file in a fresh temporary folder, whose path is
// printed first: after a crash it holds the input that caused it. Findings are written
// beside it as finding-<n>.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <typeinfo>
#include <vector>

#include "kernels/error.h"
#include "tests/fuzz/readers.h"

namespace fs = std::filesystem;

namespace {

using cyg::fuzz::Bytes;
using cyg::fuzz::Seed;

// One random change of `b`; `others` for splicing, `text` for YAML-aware changes.
void mutate_once(Bytes& b, const std::vector<Seed>& others, bool text, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t(0) : static_cast<size_t>(rng() % n); };
  static const char kInteresting[] = {'\0', '\xff', '\x7f', '\x80', '\x01', '9', '-', '.', 'e', '[', '{', ':'};
  static const char* kNumbers[] = {"1e308", "-1", "9223372036854775807", "-9223372036854775808", ".nan", ".inf",
                                   "0", "2147483648", "4294967296", "[]", "{}", "1.5", "\"x\"", "~", "1e-320"};
  switch (rng() % (text ? 8 : 7)) {
    case 0:  // flip bits
      for (int k = 0, n = 1 + static_cast<int>(rng() % 8); k < n && !b.empty(); ++k)
        b[pick(b.size())] ^= static_cast<char>(1 << (rng() % 8));
      break;
    case 1:  // an interesting byte
      if (!b.empty()) b[pick(b.size())] = kInteresting[pick(sizeof kInteresting)];
      break;
    case 2:  // cut short
      b.resize(pick(b.size() + 1));
      break;
    case 3: {  // copy a piece elsewhere
      if (b.empty()) break;
      const size_t from = pick(b.size()), len = 1 + pick(std::min<size_t>(b.size() - from, 64));
      b.insert(pick(b.size() + 1), b.substr(from, len));
      break;
    }
    case 4: {  // delete a piece
      if (b.empty()) break;
      const size_t from = pick(b.size());
      b.erase(from, 1 + pick(std::min<size_t>(b.size() - from, 64)));
      break;
    }
    case 5: {  // splice with another seed
      const Bytes& other = others[pick(others.size())].bytes;
      const size_t cut = pick(b.size() + 1), from = pick(other.size() + 1);
      b = b.substr(0, cut) + other.substr(from);
      break;
    }
    case 6:  // random bytes
      for (int k = 0, n = 1 + static_cast<int>(rng() % 16); k < n && !b.empty(); ++k)
        b[pick(b.size())] = static_cast<char>(rng());
      break;
    default: {  // YAML: a number replaced by an interesting one
      std::vector<size_t> starts;
      for (size_t i = 0; i < b.size(); ++i)
        if (b[i] >= '0' && b[i] <= '9' && (i == 0 || (!(b[i - 1] >= '0' && b[i - 1] <= '9') && b[i - 1] != '.')))
          starts.push_back(i);
      if (starts.empty()) break;
      const size_t at = starts[pick(starts.size())];
      size_t end = at;
      while (end < b.size() && ((b[end] >= '0' && b[end] <= '9') || b[end] == '.' || b[end] == 'e')) ++end;
      b.replace(at, end - at, kNumbers[pick(sizeof kNumbers / sizeof kNumbers[0])]);
      break;
    }
  }
}

// What one target does with an input; `seed` names what the input grew from (it picks
// the file's name where the reader cares).
using Reader = std::function<void(const fs::path& dir, const std::string& seed, const Bytes& input)>;

int usage() {
  std::fputs("usage: cygnet_fuzz cifar10|idx|safetensors|config|png|jpeg SECONDS CORPUS_DIR [SEED]\n", stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) return usage();
  const std::string target = argv[1];
  const double seconds = std::atof(argv[2]);
  const fs::path corpus = argv[3];
  std::mt19937_64 rng(argc == 5 ? std::strtoull(argv[4], nullptr, 10) : 1);

  const std::vector<Seed> seeds = cyg::fuzz::load_seeds(corpus);
  if (seeds.empty()) {
    std::fprintf(stderr, "cygnet_fuzz: no seed files in '%s'\n", corpus.string().c_str());
    return 2;
  }

  Reader read;
  bool text = false;
  if (target == "cifar10") {
    read = [](const fs::path& dir, const std::string&, const Bytes& input) { cyg::fuzz::read_cifar10(dir, input); };
  } else if (target == "idx") {
    // The IDX target mutates either file of the test split; the other is the matching seed.
    read = [&](const fs::path& dir, const std::string& seed, const Bytes& input) {
      const bool gz = seed.size() > 3 && seed.compare(seed.size() - 3, 3, ".gz") == 0;
      cyg::fuzz::read_idx(dir, input, seed.find("images") != std::string::npos, gz, seeds);
    };
  } else if (target == "safetensors") {
    read = [](const fs::path& dir, const std::string&, const Bytes& input) { cyg::fuzz::read_safetensors(dir, input); };
  } else if (target == "config") {
    read = [](const fs::path& dir, const std::string&, const Bytes& input) { cyg::fuzz::read_config(dir, input); };
    text = true;
  } else if (target == "png") {
    read = [](const fs::path& dir, const std::string&, const Bytes& input) { cyg::fuzz::read_png(dir, input); };
  } else if (target == "jpeg") {
    read = [](const fs::path& dir, const std::string&, const Bytes& input) { cyg::fuzz::read_jpeg(dir, input); };
  } else {
    return usage();
  }

  const fs::path dir = fs::temp_directory_path() / ("cygnet_fuzz_" + target + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::printf("fuzzing %s from %zu seeds for %.0f s; inputs go to %s\n", target.c_str(), seeds.size(), seconds,
              dir.string().c_str());
  std::fflush(stdout);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int64_t runs = 0, refused = 0, findings = 0;
  // Every seed as it is first: each must be read or refused cleanly too.
  for (size_t i = 0; std::chrono::steady_clock::now() < deadline || i < seeds.size(); ++i, ++runs) {
    const Seed& seed = seeds[i < seeds.size() ? i : static_cast<size_t>(rng() % seeds.size())];
    Bytes input = seed.bytes;
    if (i >= seeds.size())
      for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k) mutate_once(input, seeds, text, rng);
    try {
      read(dir, seed.name, input);
    } catch (const cyg::Error&) {
      ++refused;
    } catch (const std::exception& e) {
      const fs::path finding = dir / ("finding-" + std::to_string(++findings));
      cyg::fuzz::write_file(finding, input);
      std::printf("FINDING: %s from seed %s raised %s (not cyg::Error): %s; input in %s\n", target.c_str(),
                  seed.name.c_str(), typeid(e).name(), e.what(), finding.string().c_str());
    }
  }
  std::printf("%s: %lld inputs, %lld refused cleanly, %lld findings\n", target.c_str(), static_cast<long long>(runs),
              static_cast<long long>(refused), static_cast<long long>(findings));
  std::error_code error;
  if (findings == 0) fs::remove_all(dir, error);
  return findings == 0 ? 0 : 1;
}
