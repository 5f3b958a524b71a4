// safetensors files (the format PyTorch users load with safetensors.torch.load_file):
// 8 bytes of little-endian header length, a JSON header naming each tensor's dtype,
// shape and byte range, then the raw little-endian data. Written atomically.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace cyg {

using NamedTensorList = std::vector<std::pair<std::string, Tensor>>;

struct SafetensorsContent {
  NamedTensorList tensors;  // in file order, on the CPU
  std::map<std::string, std::string> metadata;
};

// Tensors may live on any device; they are copied to the host. Writes `path` through a
// temporary file in the same folder and a rename, so a crash never leaves half a file.
void save_safetensors(const std::string& path, const NamedTensorList& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Every problem (missing file, truncated data, bad header, unknown dtype, overlapping
// or out-of-range offsets) is a cyg::Error naming the file and what is wrong.
SafetensorsContent load_safetensors(const std::string& path);


}  // namespace cyg
