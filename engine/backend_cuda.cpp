// The CUDA backend: our kernels built by nvcc, cuDNN and cuBLAS.
#define CYG_BACKEND_NS cuda
#define CYG_BACKEND_DEVICE Device::cuda()
#define CYG_BACKEND_NAME "cuda"
#include "engine/backend_gpu.inc"

namespace cyg {

const Kernels& cuda_kernels() {
  static const GpuKernels table;
  return table;
}

}  // namespace cyg
