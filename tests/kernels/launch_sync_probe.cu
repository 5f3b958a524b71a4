// A kernel that writes through a null pointer, launched through CYG_LAUNCH: the device
// fault that the debug switch (CYGNET_SYNC_LAUNCHES=1, kernels/cuda/launch.h) must
// report at its launch, naming the kernel. Compiled by nvcc only.
#include "kernels/cuda/launch.h"

namespace cyg::cuda {
namespace {

__global__ void null_pointer_write_kernel(int* out) { out[threadIdx.x] = 1; }

}  // namespace

void launch_null_pointer_write() {
  int* const nowhere = nullptr;
  CYG_LAUNCH(null_pointer_write_kernel, 1, 32, 0, nullptr, nowhere);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::cuda
