// cygnet_bench: times the full training step (forward, loss, backward, SGD update) of a
// model at a batch size on a device, after warm-up, and prints one line: images/s and
// ms per step (median of the timed steps), and peak memory. scripts/bench_pytorch.py
// prints the same line for PyTorch, so the two can run side by side.
//   cygnet_bench --model resnet18 --batch 64 --device cpu [--warmup 2] [--steps 5]
//                [--image 32] [--channels 3] [--classes 10] [--width 0]
// CPU threads: OMP_NUM_THREADS (default: all cores).
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/functional.h"
#include "engine/optim.h"
#include "engine/profiling.h"
#include "kernels/error.h"
#include "models/registry.h"

namespace {

struct Options {
  std::string model = "resnet18", device = "auto";
  int64_t batch = 64, warmup = 2, steps = 5, image = 32, channels = 3, classes = 10, width = 0;
};

int64_t parse_int(const char* flag, const char* value) {
  char* end = nullptr;
  const long long v = std::strtoll(value, &end, 10);
  CYG_CHECK(end && *end == '\0' && v >= 0, flag, ": expected a non-negative integer, got '", value, "'");
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help") {
      std::printf(
          "usage: cygnet_bench [--model resnet18|resnet20|resnet56|small_cnn] [--batch N] [--device auto|cpu|cuda]\n"
          "                    [--warmup N] [--steps N] [--image PIXELS] [--channels N] [--classes N] [--width N]\n");
      std::exit(0);
    }
    CYG_CHECK(i + 1 < argc, flag, ": missing value (try --help)");
    const char* v = argv[++i];
    if (flag == "--model") o.model = v;
    else if (flag == "--device") o.device = v;
    else if (flag == "--batch") o.batch = parse_int("--batch", v);
    else if (flag == "--warmup") o.warmup = parse_int("--warmup", v);
    else if (flag == "--steps") o.steps = parse_int("--steps", v);
    else if (flag == "--image") o.image = parse_int("--image", v);
    else if (flag == "--channels") o.channels = parse_int("--channels", v);
    else if (flag == "--classes") o.classes = parse_int("--classes", v);
    else if (flag == "--width") o.width = parse_int("--width", v);
    else CYG_CHECK(false, "unknown option '", flag, "' (try --help)");
  }
  CYG_CHECK(o.batch >= 1 && o.steps >= 1 && o.image >= 1, "--batch, --steps and --image must be at least 1");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    const cyg::Device device = cyg::parse_device(o.device);
    cyg::models::ModelOptions mo;
    mo.in_channels = o.channels;
    mo.num_classes = o.classes;
    mo.width = o.width;
    auto model = cyg::models::make_model(o.model, mo);
    model->to(device);
    model->train();
    cyg::SgdOptions so;
    so.lr = 0.01;
    so.momentum = 0.9;
    so.weight_decay = 5e-4;
    cyg::SGD optimizer(model->parameters(), so);

    const cyg::Tensor images =
        cyg::Tensor::normal({o.batch, o.channels, o.image, o.image}, 0, 1, 1, cyg::DType::F32, device);
    cyg::Tensor labels_host = cyg::Tensor::empty({o.batch}, cyg::DType::I32);
    for (int64_t i = 0; i < o.batch; ++i) labels_host.data<int32_t>()[i] = static_cast<int32_t>(i % o.classes);
    const cyg::Tensor labels = labels_host.to(device);

    auto step = [&] {
      cyg::NvtxRange r("step");
      optimizer.zero_grad();
      cyg::fn::CrossEntropy ce;
      {
        cyg::NvtxRange f("forward");
        ce = cyg::fn::cross_entropy((*model)(cyg::Variable(images)), labels);
      }
      {
        cyg::NvtxRange b("backward");
        cyg::backward(ce.loss);
      }
      {
        cyg::NvtxRange u("optimizer");
        optimizer.step();
      }
      if (device.is_cuda()) cyg::rt::cuda_synchronize();
    };
    for (int64_t i = 0; i < o.warmup; ++i) step();
    if (device.is_cuda()) cyg::cuda_allocator().reset_peak();
    std::vector<double> ms;
    for (int64_t i = 0; i < o.steps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      step();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    double peak_mib;
    const char* peak_kind;
    if (device.is_cuda()) {
      peak_mib = static_cast<double>(cyg::cuda_allocator().stats().peak_bytes_in_use) / (1 << 20);
      peak_kind = "device";
    } else {
      rusage usage{};
      getrusage(RUSAGE_SELF, &usage);
      peak_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
      peak_kind = "host RSS";
    }
    const std::string threads = device.is_cuda() ? "" : ", " + std::to_string(omp_get_max_threads()) + " threads";
    std::printf("cygnet  %s batch %lld on %s: %.1f images/s, %.1f ms/step (median of %lld), peak %s memory %.0f MiB%s\n",
                o.model.c_str(), static_cast<long long>(o.batch), device.str().c_str(),
                1000.0 * static_cast<double>(o.batch) / median, median, static_cast<long long>(o.steps), peak_kind,
                peak_mib, threads.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cygnet_bench: %s\n", e.what());
    return 1;
  }
}
