// cygnet_summary: a model's parameters and buffers with PyTorch's names and shapes,
// and the parameter count.
//   cygnet_summary [--model resnet18] [--channels 3] [--classes 10] [--width 0] [--buffers]
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "kernels/error.h"
#include "models/registry.h"

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
      CYG_CHECK(i + 1 < argc, flag, ": missing value (try --help)");
      const std::string v = argv[++i];
      if (flag == "--model") model_name = v;
      else if (flag == "--channels") o.in_channels = std::atoll(v.c_str());
      else if (flag == "--classes") o.num_classes = std::atoll(v.c_str());
      else if (flag == "--width") o.width = std::atoll(v.c_str());
      else CYG_CHECK(false, "unknown option '", flag, "' (try --help)");
    }
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
