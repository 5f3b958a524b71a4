// cygnet_summary: a model's parameters and buffers with PyTorch's names and shapes,
// and the parameter count.
//   cygnet_summary [--model resnet18] [--channels 3] [--classes 10] [--width 0] [--buffers]
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "kernels/error.h"
#include "models/registry.h"

namespace {

// A whole decimal integer in [lo, hi], or one error naming the option and the range.
int64_t parse_count(const std::string& flag, const std::string& value, long long lo, long long hi) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(value.c_str(), &end, 10);
  CYG_INPUT_CHECK(!value.empty() && end != nullptr && *end == '\0' && errno == 0 && v >= lo && v <= hi, flag, " '",
                  value, "': expected an integer in [", lo, ", ", hi, "]");
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string model_name = "resnet18";
    cyg::models::ModelOptions o;
    bool buffers = false;
    for (int i = 1; i < argc; ++i) {
      const std::string flag = argv[i];
      if (flag == "--buffers") {
        buffers = true;
        continue;
      }
      if (flag == "--help") {
        std::printf("usage: cygnet_summary [--model NAME] [--channels N] [--classes N] [--width N] [--buffers]\n");
        return 0;
      }
      const bool takes_value = flag == "--model" || flag == "--channels" || flag == "--classes" || flag == "--width";
      CYG_INPUT_CHECK(takes_value, "unknown option '", flag, "' (try --help)");
      CYG_INPUT_CHECK(i + 1 < argc, flag, ": missing value (try --help)");
      const std::string v = argv[++i];
      // The ranges of the training apps' keys (data.synthetic_channels, data.synthetic_classes, model.width).
      if (flag == "--model") model_name = v;
      else if (flag == "--channels") o.in_channels = parse_count(flag, v, 1, 64);
      else if (flag == "--classes") o.num_classes = parse_count(flag, v, 2, 100000);
      else o.width = parse_count(flag, v, 0, 4096);
    }
    if (!cyg::models::is_model_name(model_name)) {
      std::string names;
      for (const std::string& name : cyg::models::model_names()) names += (names.empty() ? "" : ", ") + name;
      CYG_INPUT_CHECK(false, "--model '", model_name, "': expected one of ", names);
    }
    const std::string width_problem = cyg::models::width_problem(model_name, o.width);
    CYG_INPUT_CHECK(width_problem.empty(), "--width ", o.width, ": ", width_problem);
    auto model = cyg::models::make_model(model_name, o);
    for (const auto& [name, p] : model->named_parameters())
      std::printf("%-36s %-20s %10lld\n", name.c_str(), cyg::shape_str(p.data().shape()).c_str(),
                  static_cast<long long>(p.data().numel()));
    if (buffers)
      for (const auto& [name, b] : model->named_buffers())
        std::printf("%-36s %-20s %10s (buffer, %s)\n", name.c_str(), cyg::shape_str(b.shape()).c_str(), "",
                    cyg::dtype_name(b.dtype()));
    std::printf("%s: %zu parameter tensors, %lld parameters\n", model_name.c_str(), model->named_parameters().size(),
                static_cast<long long>(model->parameter_count()));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cygnet_summary: %s\n", e.what());
    return 1;
  }
}
