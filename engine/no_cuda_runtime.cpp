// engine/device.h for a build without the CUDA backend: no GPU ever answers, and
// anything that needs one says the build is the reason.
#include "engine/device.h"
#include "engine/dispatch.h"
#include "engine/runtime.h"
#include "engine/profiling.h"
#include "kernels/error.h"

namespace cyg {
namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw Error(std::string(what) + ": cygnet was built without CUDA (configure with -DCYGNET_CUDA=ON on a machine with nvcc)");
}
}  // namespace

bool built_with_cuda() { return false; }
int cuda_device_count() { return 0; }
bool cuda_available() { return false; }
std::string cuda_unavailable_reason() { return "built without CUDA"; }
CudaDeviceInfo cuda_device_info(int) { no_cuda("cuda_device_info"); }
std::string cuda_library_versions() { return "built without CUDA"; }
const Kernels& cuda_kernels() { no_cuda("CUDA kernels"); }

NvtxRange::NvtxRange(const char*) {}
NvtxRange::~NvtxRange() = default;

void cuda_set_device(int) { no_cuda("cuda_set_device"); }
DeviceRuntime& cuda_runtime() { no_cuda("the CUDA runtime"); }
}  // namespace cyg
