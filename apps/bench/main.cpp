// cygnet_bench: times the training step the apps run (apps/common/train_step: forward,
// loss, backward, SGD update) of a model at a batch size on a device, after warm-up, and
// prints one line: images/s and ms per step (median of the timed steps), and peak
// memory. scripts/bench_pytorch.py prints the same line for PyTorch, so the two can run
// side by side. --counters then counts one more step: launches by kernel, library calls,
// copies, host waits, allocations, declared bytes, and a modelled H200 time; on a GPU
// also each convolution's cuDNN algorithms, with the times their search measured. On the
// emulated device --count-only counts without running anything (full-size shapes).
// On a GPU (and the emulated device) the timed steps are CUDA graph replays, as in the
// apps (cuda_graphs), unless --graphs off; the counted step runs eagerly, so that its
// table shows what the graph holds. --precision as the apps' key: auto (bf16 autocast
// on a GPU of compute capability 8.0 or newer, else fp32), fp32, tf32 or bf16;
// --memory-format as the apps' key (auto: channels_last where the device has its kernels).
//   cygnet_bench --model resnet18 --batch 64 --device cpu [--warmup 2] [--steps 5]
//                [--image 32] [--channels 3] [--classes 10] [--width 0] [--counters]
//                [--graphs on|off] [--precision auto|fp32|tf32|bf16]
//   cygnet_bench --model resnet18 --batch 128 --device emu --counters --count-only
// CPU threads: --threads N, the apps' `threads` key (default: OMP_NUM_THREADS where set,
// else all cores).
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "apps/bench/step_counts.h"
#include "apps/common/config.h"
#include "apps/common/train_step.h"
#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/dispatch.h"
#include "engine/functional.h"
#include "engine/optim.h"
#include "engine/runtime.h"
#include "kernels/counters.h"
#include "kernels/emu/device.h"
#include "kernels/error.h"
#include "models/registry.h"

namespace {

struct Options {
  std::string model = "resnet18", device = "auto", precision = "auto", memory_format = "auto";
  std::string cudnn_cache;  // cuDNN's algorithm choices kept across runs (CUDA; "" for none)
  int64_t batch = 64, warmup = 2, steps = 5, image = 32, channels = 3, classes = 10, width = 0;
  int64_t threads = 0;      // CPU threads (0: OMP_NUM_THREADS, else every core)
  bool show_help = false;
  bool counters = false;    // count one step after the timed ones
  bool count_only = false;  // the emulated device counts without running
  bool graphs = true;       // time CUDA graph replays (not on the CPU)
  bool cudnn_benchmark = true;  // cuDNN's algorithms searched and timed (off: its heuristics)
  std::string cudnn_engines = "both";  // what the search times (the apps' key cudnn_engines)
};

std::string usage() {
  std::string models;
  for (const std::string& name : cyg::models::model_names()) models += (models.empty() ? "" : "|") + name;
  return "usage: cygnet_bench [--model " + models + "] [--batch N] [--device auto|cpu|cuda|emu]\n" +
         "                    [--warmup N] [--steps N] [--image PIXELS] [--channels N] [--classes N] [--width N]\n" +
         "                    [--counters] [--count-only (device emu)] [--graphs on|off]\n" +
         "                    [--precision auto|fp32|tf32|bf16] [--memory-format auto|channels_last|nchw]\n" +
         "                    [--threads N (CPU; 0: every core)] [--cudnn-cache FILE (CUDA)]\n" +
         "                    [--cudnn-benchmark on|off (CUDA; off: cuDNN's heuristics choose)]\n" +
         "                    [--cudnn-engines both|legacy|graph (CUDA; what the search times)]\n";
}

int64_t parse_int(const char* flag, const char* value) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(value, &end, 10);
  CYG_INPUT_CHECK(*value >= '0' && *value <= '9' && end && *end == '\0' && errno == 0, flag,
            ": expected a non-negative integer, got '", value, "'");
  return v;
}

// Stops at --help (show_help).
Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help") {
      o.show_help = true;
      return o;
    }
    if (flag == "--counters" || flag == "--count-only") {
      o.counters = true;
      o.count_only = o.count_only || flag == "--count-only";
      continue;
    }
    CYG_INPUT_CHECK(i + 1 < argc, flag, ": missing value (try --help)");
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
    else if (flag == "--cudnn-cache") {
      CYG_INPUT_CHECK(*v != '\0', "--cudnn-cache: expected a file name, got ''");
      o.cudnn_cache = v;
    } else if (flag == "--threads") {
      o.threads = parse_int("--threads", v);
      CYG_INPUT_CHECK(o.threads <= 4096, "--threads: expected at most 4096, got ", o.threads);
    }
    else if (flag == "--precision") {
      const std::string p = v;
      CYG_INPUT_CHECK(p == "auto" || p == "fp32" || p == "tf32" || p == "bf16",
                "--precision: expected auto, fp32, tf32 or bf16, got '", p, "'");
      o.precision = p;
    } else if (flag == "--memory-format") {
      const std::string f = v;
      CYG_INPUT_CHECK(f == "auto" || f == "channels_last" || f == "nchw",
                "--memory-format: expected auto, channels_last or nchw, got '", f, "'");
      o.memory_format = f;
    } else if (flag == "--cudnn-benchmark") {
      CYG_INPUT_CHECK(std::strcmp(v, "on") == 0 || std::strcmp(v, "off") == 0,
                      "--cudnn-benchmark: expected on or off, got '", v, "'");
      o.cudnn_benchmark = std::strcmp(v, "on") == 0;
    } else if (flag == "--cudnn-engines") {
      const auto& names = cyg::app::cudnn_engines_names();
      CYG_INPUT_CHECK(std::find(names.begin(), names.end(), v) != names.end(),
                      "--cudnn-engines: expected both, legacy or graph, got '", v, "'");
      o.cudnn_engines = v;
    } else if (flag == "--graphs") {
      CYG_INPUT_CHECK(std::strcmp(v, "on") == 0 || std::strcmp(v, "off") == 0, "--graphs: expected on or off, got '", v,
                "'");
      o.graphs = std::strcmp(v, "on") == 0;
    }
    else CYG_INPUT_CHECK(false, "unknown option '", flag, "' (try --help)");
  }
  CYG_INPUT_CHECK(o.batch >= 1 && o.steps >= 1 && o.image >= 1, "--batch, --steps and --image must be at least 1");
  std::string names;
  for (const std::string& name : cyg::models::model_names()) names += (names.empty() ? "" : ", ") + name;
  CYG_INPUT_CHECK(cyg::models::is_model_name(o.model), "--model '", o.model, "': expected one of ", names);
  // The ranges of the training apps' keys (data.synthetic_channels, data.synthetic_classes, model.width).
  CYG_INPUT_CHECK(o.channels >= 1 && o.channels <= 64, "--channels ", o.channels, ": expected 1 to 64");
  CYG_INPUT_CHECK(o.classes >= 2 && o.classes <= 100000, "--classes ", o.classes, ": expected 2 to 100000");
  CYG_INPUT_CHECK(o.width <= 4096, "--width ", o.width, ": expected 0 (the model's own) to 4096");
  const std::string width_problem = cyg::models::width_problem(o.model, o.width);
  CYG_INPUT_CHECK(width_problem.empty(), "--width ", o.width, ": ", width_problem);
  return o;
}

// A seeded batch of normal images with labels cycling through the classes.
struct BenchBatch {
  cyg::Tensor images, labels;
};

BenchBatch make_batch(const Options& o, cyg::Device device) {
  cyg::Tensor labels = cyg::Tensor::empty({o.batch}, cyg::DType::I32);
  for (int64_t i = 0; i < o.batch; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>(i % o.classes);
  return {cyg::Tensor::normal({o.batch, o.channels, o.image, o.image}, 0, 1, 1, cyg::DType::F32, device),
          labels.to(device)};
}

// Whether the timed steps are graph replays.
bool uses_graphs(const Options& o, cyg::Device device) { return o.graphs && !device.is_cpu() && !o.count_only; }

// Milliseconds per step, sorted, after the warm-up steps. With graphs, the warm-up goes
// on until the step is captured.
std::vector<double> time_steps(const Options& o, cyg::Device device, cyg::nn::Module& model,
                               cyg::Optimizer& optimizer, const BenchBatch& batch) {
  constexpr double kNoLabelSmoothing = 0.0;
  cyg::app::MetricsRing ring(1, device);
  cyg::app::StepRunner runner(model, optimizer, ring, kNoLabelSmoothing,
                              uses_graphs(o, device) ? cyg::app::StepGraphs::On : cyg::app::StepGraphs::Off, device);
  auto step = [&] {
    runner.run(batch.images, batch.labels);
    ring.read_losses();  // waits for the step, as the timing needs
  };
  std::vector<double> warm_up_ms;
  for (int64_t i = 0; i < o.warmup || (runner.graphed() && !runner.replaying()); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    warm_up_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  // What autotuning cost, at once: a run stopped during the timed steps still says it.
  // The first step holds every search (none where a --cudnn-cache file already had the
  // shapes), and the cold start; the second, beside it, neither.
  if (!o.count_only && device.is_cuda() && !warm_up_ms.empty()) {
    char second[48] = "no second warm-up step";
    if (warm_up_ms.size() > 1) std::snprintf(second, sizeof second, "the second %.2f s", warm_up_ms[1] / 1000.0);
    std::printf("cygnet  first step %.2f s, with %lld cuDNN searches (a convolution direction each); %s\n",
                warm_up_ms.front() / 1000.0, static_cast<long long>(cyg::fn::cudnn_searches()), second);
  }
  // A replay allocates nothing (its memory is the graph pool's, taken in the warm-up), so
  // with graphs the peak is the warm-up's.
  if (!device.is_cpu() && !runner.replaying()) cyg::allocator_for(device).reset_peak();
  std::vector<double> ms;
  for (int64_t i = 0; i < o.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms;
}

// One more step, eager, with the counters on, then the table. Its allocations reaching
// the runtime are a steady-state step's: the cache is warm. Graph replays take their
// memory from the graph's own pool, so after timed replays one uncounted eager step
// warms the cache first (without it, every block of the counted step came from the
// runtime: 93 allocations, 396 MB on an H200).
std::string count_one_step(const Options& o, cyg::Device device, cyg::nn::Module& model, cyg::Optimizer& optimizer,
                           const BenchBatch& batch, double measured_ms) {
  if (uses_graphs(o, device)) cyg::app::train_step(model, optimizer, batch.images, batch.labels, 0.0);
  cyg::reset_counts();
  cyg::set_counting(true);
  cyg::app::train_step(model, optimizer, batch.images, batch.labels, 0.0);
  cyg::set_counting(false);  // work is counted when queued: the wait below is the benchmark's, not the step's
  if (!device.is_cpu()) cyg::runtime_for(device).synchronize();
  const cyg::DeviceCounts counts = cyg::device_counts();
  char title[256];
  std::snprintf(title, sizeof title, "one %straining step of %s, batch %lld, %lldx%lld, on %s%s",
                uses_graphs(o, device) ? "eager " : "", o.model.c_str(), static_cast<long long>(o.batch),
                static_cast<long long>(o.image), static_cast<long long>(o.image), device.str().c_str(),
                o.count_only ? " (counted without running the kernels: --count-only; every figure below comes "
                               "from the shapes)"
                             : "");
  return cyg::bench::step_counts_table(counts, title, o.count_only ? -1.0 : measured_ms);
}

// The device's peak allocation, or on the CPU the process' peak resident set.
std::string peak_memory(cyg::Device device) {
  double peak_mib;
  const char* kind;
  if (!device.is_cpu()) {
    peak_mib = static_cast<double>(cyg::allocator_for(device).stats().peak_bytes_in_use) / (1 << 20);
    kind = "device";
  } else {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    peak_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
    kind = "host RSS";
  }
  char text[64];
  std::snprintf(text, sizeof text, "peak %s memory %.0f MiB", kind, peak_mib);
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  // A line at a time: what a run printed survives its being stopped (a time limit's kill).
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    const Options o = parse(argc, argv);
    if (o.show_help) {
      std::fputs(usage().c_str(), stdout);
      return 0;
    }
    const cyg::Device device = cyg::parse_device(o.device);
    // The choices of an earlier run, so that this one searches no shape it already knows
    // (scripts/profile.sh profiles a step with no search in it).
    if (device.is_cuda() && !o.cudnn_cache.empty()) cyg::fn::set_cudnn_cache(o.cudnn_cache);
    cyg::fn::set_cudnn_benchmark(o.cudnn_benchmark);
    cyg::fn::set_cudnn_engines(cyg::app::conv_engines_named(o.cudnn_engines));
    CYG_INPUT_CHECK(!o.count_only || device == cyg::Device::emu(), "--count-only needs --device emu");
    if (o.count_only) cyg::emu::set_running(false);
    cyg::fn::set_cpu_threads(o.threads);
    const bool bf16_gpu = device.is_cuda() && cyg::cuda_device_info(device.index).compute_major >= 8;
    const std::string precision = o.precision != "auto" ? o.precision : bf16_gpu ? "bf16" : "fp32";
    if (precision != "bf16") cyg::fn::set_allow_tf32(precision == "tf32");
    const cyg::fn::AutocastBf16 autocast(precision == "bf16");
    // As the apps' memory_format: where the device has the channels-last kernels of the
    // precision, and for auto on the CPU or in bf16.
    const bool channels_last =
        (o.memory_format == "channels_last" ||
         (o.memory_format == "auto" && (device.is_cpu() || precision == "bf16"))) &&
        cyg::kernels_for(device).has_channels_last(precision == "bf16" ? cyg::DType::BF16 : cyg::DType::F32);
    const cyg::fn::ChannelsLast layout(channels_last);
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
    const BenchBatch batch = make_batch(o, device);
    const std::vector<double> ms = time_steps(o, device, *model, optimizer, batch);
    const double median = ms[ms.size() / 2];
    const std::string threads = device.is_cuda() ? std::string() : ", " + std::to_string(cyg::fn::cpu_threads()) + " threads";
    const std::string graphs = device.is_cpu() ? std::string() : uses_graphs(o, device) ? ", CUDA graph" : ", eager";
    if (!o.count_only)
      std::printf("cygnet  %s batch %lld on %s: %.1f images/s, %.1f ms/step (median of %lld), %s%s%s, %s, %s%s\n",
                  o.model.c_str(), static_cast<long long>(o.batch), device.str().c_str(),
                  1000.0 * static_cast<double>(o.batch) / median, median, static_cast<long long>(o.steps),
                  peak_memory(device).c_str(), threads.c_str(), graphs.c_str(), precision.c_str(),
                  channels_last ? "channels_last" : "nchw",
                  device.is_cuda() && !o.cudnn_benchmark     ? ", cuDNN heuristics"
                  : device.is_cuda() && o.cudnn_engines != "both" ? (", cuDNN " + o.cudnn_engines).c_str()
                                                                  : "");
    if (o.counters) {
      std::fputs(count_one_step(o, device, *model, optimizer, batch, median).c_str(), stdout);
      if (device.is_cuda()) std::fputs(cyg::fn::cudnn_choices_table().c_str(), stdout);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cygnet_bench: %s\n", e.what());
    return 1;
  }
}
