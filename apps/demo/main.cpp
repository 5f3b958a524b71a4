// cygnet_demo: runs ReLU and a sum over a million seeded values on CUDA when a GPU
// answers, else on the CPU, says which and why, and checks the result against the CPU.
//   cygnet_demo [--device auto|cpu|cuda|cuda:N|emu]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "engine/device.h"
#include "engine/ops.h"
#include "engine/tensor.h"

int main(int argc, char** argv) {
  try {
    std::string spec = "auto";
    for (int i = 1; i < argc; ++i) {
      if (std::strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
        spec = argv[++i];
      } else if (std::strcmp(argv[i], "--help") == 0) {
        std::printf("usage: cygnet_demo [--device auto|cpu|cuda|cuda:N|emu]\n");
        return 0;
      } else {
        std::fprintf(stderr, "cygnet_demo: unknown argument '%s' (try --help)\n", argv[i]);
        return 2;
      }
    }
    const cyg::Device device = cyg::parse_device(spec);
    std::printf("libraries: %s\n", cyg::cuda_library_versions().c_str());
    if (device.is_cuda()) {
      const cyg::CudaDeviceInfo info = cyg::cuda_device_info(device.index);
      std::printf("device: %s (%s, compute capability %d.%d)\n", device.str().c_str(), info.name.c_str(),
                  info.compute_major, info.compute_minor);
    } else if (spec == "auto") {
      std::printf("device: cpu (no GPU answered: %s)\n", cyg::cuda_unavailable_reason().c_str());
    } else {
      std::printf("device: %s (asked for)\n", device.str().c_str());
    }

    const int64_t n = 1 << 20;
    const cyg::Tensor x = cyg::Tensor::normal({n}, 0.0, 1.0, 2024, cyg::DType::F32, device);
    const auto start = std::chrono::steady_clock::now();
    const double total = cyg::sum(cyg::relu(x)).item();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const cyg::Tensor xc = x.to(cyg::Device::cpu());
    const double reference = cyg::sum(cyg::relu(xc)).item();
    // E[relu(z)] = 1/sqrt(2*pi) for a standard normal z.
    std::printf("sum(relu(x)) over %lld normal values = %.3f (expected about %.0f), %.3f ms on %s\n",
                static_cast<long long>(n), total, static_cast<double>(n) / std::sqrt(2 * M_PI), ms,
                device.str().c_str());
    const bool agrees = std::fabs(total - reference) <= 1e-5 * std::fabs(reference);
    std::printf("CPU reference: %.3f (%s)\n", reference, agrees ? "agrees" : "DISAGREES");
    return agrees ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cygnet_demo: %s\n", e.what());
    return 1;
  }
}
