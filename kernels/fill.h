// fill: every element of a buffer set to one value, given as the raw bits of an
// element of 1, 2, 4 or 8 bytes (so one kernel serves every dtype).
#pragma once
#include "kernels/common.h"

namespace cyg {

void fill_cpu(void* dst, int64_t n, int elem_size, uint64_t bits);
CYG_CUDA_DECL(void fill_cuda(void* dst, int64_t n, int elem_size, uint64_t bits, const LaunchConfig& cfg = {}))

}  // namespace cyg
