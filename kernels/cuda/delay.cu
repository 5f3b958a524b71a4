// kernels/delay.h: one thread waits on the GPU's global nanosecond timer (%globaltimer),
// sleeping a microsecond between reads.
#include "kernels/cuda/launch.h"
#include "kernels/delay.h"

namespace cyg::CYG_KNS {
namespace {
__global__ void delay_kernel(int64_t nanoseconds) {
#if defined(__CUDA_ARCH__)
  uint64_t start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    __nanosleep(1000);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < static_cast<uint64_t>(nanoseconds));
#else
  (void)nanoseconds;  // the emulated device: no clock to wait on
#endif
}
}  // namespace

void gpu_delay_cuda(int64_t microseconds, const LaunchConfig& cfg) {
  CYG_CHECK(microseconds >= 0 && microseconds <= 10000000, "a GPU delay of ", microseconds,
            " microseconds: expected 0 to 10 s");
  if (microseconds == 0) return;
  CYG_LAUNCH(delay_kernel, 1, 1, 0, stream_of(cfg), microseconds * 1000);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
