// Device names and parsing; the CUDA-specific half lives in cuda_runtime.cpp or
// no_cuda_runtime.cpp, whichever the build has.
#include "engine/device.h"

#include "kernels/error.h"

namespace cyg {

std::string Device::str() const {
  switch (type) {
    case DeviceType::CPU: return "cpu";
    case DeviceType::CUDA: return "cuda:" + std::to_string(index);
    case DeviceType::Emu: return "emu";
  }
  return "?";
}

Device parse_device(const std::string& spec) {
  if (spec == "cpu") return Device::cpu();
  if (spec == "emu") return Device::emu();
  if (spec == "auto") return cuda_available() ? Device::cuda(0) : Device::cpu();
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    const std::string digits = spec == "cuda" ? "0" : spec.substr(5);
    CYG_INPUT_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos, "device '", spec,
              "': expected cpu, cuda, cuda:N, emu or auto");
    const int index = std::stoi(digits);
    CYG_INPUT_CHECK(cuda_available(), "device '", spec, "': no GPU answers (", cuda_unavailable_reason(), ")");
    CYG_INPUT_CHECK(index < cuda_device_count(), "device '", spec, "': only ", cuda_device_count(), " GPU(s)");
    // One device per process: everything after this (allocations, library handles)
    // lands on the chosen GPU.
    cuda_set_device(index);
    return Device::cuda(index);
  }
  CYG_INPUT_CHECK(false, "device '", spec, "': expected cpu, cuda, cuda:N, emu or auto");
  return Device::cpu();
}

}  // namespace cyg
