// The emulated CUDA device's backend: the engine's CUDA path with our kernels on the
// emulation shim and stand-ins for cuDNN and cuBLAS (kernels/emu/).
#define CYG_BACKEND_NS emu
#define CYG_BACKEND_DEVICE Device::emu()
#define CYG_BACKEND_NAME "emu"
#include "engine/backend_gpu.inc"

namespace cyg {

const Kernels& emu_kernels() {
  static const GpuKernels table;
  return table;
}

}  // namespace cyg
