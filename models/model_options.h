// What every model of the registry is built from.
#pragma once
#include <cstdint>

namespace cyg::models {

struct ModelOptions {
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  int64_t width = 0;  // channels of the first stage; 0: the model's own (see models/registry.h)
  uint64_t seed = 0;
};

}  // namespace cyg::models
