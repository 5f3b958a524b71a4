// One reader of outside input as a libFuzzer target (built with clang by
// scripts/fuzz.sh; CYGNET_FUZZ_TARGET names the reader). libFuzzer mutates the inputs,
// guided by the coverage of the readers, which that build compiles with
// -fsanitize=fuzzer-no-link (and AddressSanitizer and UBSan). A cyg::Error is a clean
// refusal; any other exception aborts, which libFuzzer reports and keeps as a finding,
// as it does a crash, a sanitizer report, a leak or a hang.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <typeinfo>
#include <vector>

#include "kernels/error.h"
#include "tests/fuzz/readers.h"

#ifndef CYGNET_FUZZ_TARGET
#error "CYGNET_FUZZ_TARGET names the reader: cifar10, idx, safetensors, config, png or jpeg"
#endif
#ifndef CYGNET_FUZZ_CORPUS
#error "CYGNET_FUZZ_CORPUS is the seed corpus folder (the IDX target takes the other file of a pair from it)"
#endif

namespace fs = std::filesystem;

namespace {

const std::string kTarget = CYGNET_FUZZ_TARGET;
fs::path g_dir;
std::vector<cyg::fuzz::Seed> g_seeds;

void read(const cyg::fuzz::Bytes& input) {
  if (kTarget == "cifar10") {
    cyg::fuzz::read_cifar10(g_dir, input);
  } else if (kTarget == "idx") {
    // Either file of the pair, gzipped when it starts as gzip does: each input is read
    // as the images file and as the labels file.
    const bool gz = input.size() >= 2 && static_cast<unsigned char>(input[0]) == 0x1f &&
                    static_cast<unsigned char>(input[1]) == 0x8b;
    for (bool images : {true, false}) {
      try {
        cyg::fuzz::read_idx(g_dir, input, images, gz, g_seeds);
      } catch (const cyg::Error&) {
      }
    }
  } else if (kTarget == "safetensors") {
    cyg::fuzz::read_safetensors(g_dir, input);
  } else if (kTarget == "png") {
    cyg::fuzz::read_png(g_dir, input);
  } else if (kTarget == "jpeg") {
    cyg::fuzz::read_jpeg(g_dir, input);
  } else {
    cyg::fuzz::read_config(g_dir, input);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (kTarget != "cifar10" && kTarget != "idx" && kTarget != "safetensors" && kTarget != "config" &&
      kTarget != "png" && kTarget != "jpeg") {
    std::fprintf(stderr, "libFuzzer target: unknown reader '%s'\n", kTarget.c_str());
    std::exit(2);
  }
  g_dir = fs::temp_directory_path() / ("cygnet_libfuzzer_" + kTarget + "_" + std::to_string(::getpid()));
  fs::create_directories(g_dir);
  g_seeds = cyg::fuzz::load_seeds(CYGNET_FUZZ_CORPUS);
  std::atexit([] {
    std::error_code error;
    fs::remove_all(g_dir, error);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const cyg::fuzz::Bytes input(reinterpret_cast<const char*>(data), size);
  try {
    read(input);
  } catch (const cyg::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FINDING: the %s reader raised %s (not cyg::Error): %s\n", kTarget.c_str(), typeid(e).name(),
                 e.what());
    std::abort();
  }
  return 0;
}
