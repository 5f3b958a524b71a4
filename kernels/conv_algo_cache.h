// The file of cuDNN autotuning choices (config key cudnn_cache): what a search chose for
// each convolution shape and direction, keyed also by the GPU's name, the cuDNN version
// and the settings the search ran under, so that a later run on the same GPU and library
// takes the choice instead of searching again. Host code only (tested without a GPU):
// kernels/cuda/cudnn_conv.cpp fills the cache and has it written atomically.
//
// The format is text: a header line ("cygnet cudnn algorithm cache 2"), then one line
// per choice with tab-separated fields
//   gpu  cudnn_version  N C H W OC KH KW stride_h stride_w pad_h pad_w  allow_tf32
//   deterministic  direction  data  layout  algorithm  math_type  workspace_bytes
// (the shape's numbers separated by spaces, booleans as 0/1, data f32 or bf16, layout
// nchw or nhwc, cuDNN's enums as integers). Version 1, whose lines had no data nor
// layout and kept f32 NCHW choices only, is read as such and rewritten as version 2.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "kernels/conv.h"

namespace cyg {

enum class ConvDirection { Forward, BackwardData, BackwardFilter };
const char* conv_direction_name(ConvDirection direction);  // forward, backward_data, backward_filter

struct ConvAlgoKey {
  std::string gpu;  // the device's name (cudaDeviceProp::name); no tab or line break
  int64_t cudnn_version = 0;
  Conv2dShape shape;
  bool allow_tf32 = true, deterministic = false;
  ConvDirection direction = ConvDirection::Forward;
  ConvData data = ConvData::F32;
  ConvLayout layout = ConvLayout::NCHW;
  bool operator<(const ConvAlgoKey& o) const;
};

// cuDNN's algorithm and math type as integers, and the workspace the choice needs.
struct ConvAlgoChoice {
  int algorithm = 0;
  int math_type = 0;
  size_t workspace_bytes = 0;
  bool operator==(const ConvAlgoChoice& o) const;
};

class ConvAlgoCache {
 public:
  const ConvAlgoChoice* find(const ConvAlgoKey& key) const;
  void insert(const ConvAlgoKey& key, const ConvAlgoChoice& choice);  // replaces an earlier one
  size_t size() const { return choices_.size(); }

  std::string serialize() const;
  // The inverse of serialize(); a malformed line is a cyg::Error naming its number.
  static ConvAlgoCache parse(const std::string& text);

 private:
  std::map<ConvAlgoKey, ConvAlgoChoice> choices_;
};

// A cache file as read at start. A missing or empty file gives an empty cache. A file
// that cannot be used gives an empty cache and a one-line warning: one of ours that is
// damaged (a bad line, cut short) is replaced by the next save; any other file (another
// format, a newer version of ours) is never overwritten.
struct ConvAlgoFile {
  ConvAlgoCache cache;
  bool may_overwrite = true;
  std::string warning;  // empty when the file was read, or was not there
};
ConvAlgoFile read_conv_algo_file(const std::string& path);

}  // namespace cyg
