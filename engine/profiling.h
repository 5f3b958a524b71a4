// NVTX ranges for Nsight Systems: RAII, nestable. They cost nothing measurable when no
// profiler is attached, and compile to nothing in a build without CUDA.
#pragma once

namespace cyg {

class NvtxRange {
 public:
  explicit NvtxRange(const char* name);
  ~NvtxRange();
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace cyg
