// A launch that holds its stream for a time on the GPU, so that the work queued behind it
// starts only once the host has queued all of it: cuDNN's autotuning
// (kernels/cuda/cudnn_conv.cpp) times its runs between events this way, the GPU's time
// alone, as a CUDA graph replays them, without cuDNN's host work or the launches. One
// thread waits on the GPU's nanosecond timer. The emulated device has no such clock, and
// nothing to time: there the launch returns at once. It computes nothing, so it has no
// CPU twin; tests/kernels/delay_cases.inc checks that it returns, and on a GPU that it
// held the stream at least as long as asked.
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace cyg {

CYG_CUDA_DECL(void gpu_delay_cuda(int64_t microseconds, const LaunchConfig& cfg = {}))

}  // namespace cyg
