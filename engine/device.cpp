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

namespace {
// cuda:N's N, for "cuda" (0) and "cuda:N"; -1 for any other spec. N is at most 6 digits.
int cuda_index(const std::string& spec) {
  if (spec == "cuda") return 0;
  if (spec.rfind("cuda:", 0) != 0) return -1;
  const std::string digits = spec.substr(5);
  if (digits.empty() || digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoi(digits);
}
}  // namespace

void check_device_spec(const std::string& spec) {
  CYG_INPUT_CHECK(spec == "cpu" || spec == "emu" || spec == "auto" || cuda_index(spec) >= 0, "device '", spec,
                  "': expected cpu, cuda, cuda:N, emu or auto");
}

Device parse_device(const std::string& spec) {
  check_device_spec(spec);
  if (spec == "cpu") return Device::cpu();
  if (spec == "emu") return Device::emu();
  if (spec == "auto") return cuda_available() ? Device::cuda(0) : Device::cpu();
  const int index = cuda_index(spec);
  CYG_INPUT_CHECK(cuda_available(), "device '", spec, "': no GPU answers (", cuda_unavailable_reason(), ")");
  CYG_INPUT_CHECK(index < cuda_device_count(), "device '", spec, "': only ", cuda_device_count(), " GPU(s)");
  // One device per process: everything after this (allocations, library handles) lands
  // on the chosen GPU.
  cuda_set_device(index);
  return Device::cuda(index);
}

}  // namespace cyg
