// copy: element-wise copy between two layouts of the same shape (strides in
// elements), for contiguous(), channels-last conversion and copies out of views.
#pragma once
#include "kernels/common.h"

namespace cyg {

constexpr int kMaxDims = 8;

struct StridedLayout {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t src_strides[kMaxDims] = {};
  int64_t dst_strides[kMaxDims] = {};
};

// Offsets of the element with row-major linear index `linear` in source and destination.
CYG_HD void strided_offsets(const StridedLayout& l, int64_t linear, int64_t* src, int64_t* dst) {
  int64_t s = 0, d = 0;
  for (int k = l.ndim - 1; k >= 0; --k) {
    const int64_t idx = linear % l.sizes[k];
    linear /= l.sizes[k];
    s += idx * l.src_strides[k];
    d += idx * l.dst_strides[k];
  }
  *src = s;
  *dst = d;
}

// n = product of sizes; elem_size 1, 2, 4 or 8 bytes.
void copy_strided_cpu(const void* src, void* dst, int64_t n, int elem_size, const StridedLayout& layout);
CYG_CUDA_DECL(void copy_strided_cuda(const void* src, void* dst, int64_t n, int elem_size,
                                     const StridedLayout& layout, const LaunchConfig& cfg = {}))

}  // namespace cyg
