#include "engine/dispatch.h"

#include "engine/tensor.h"

namespace cyg {

const Kernels& kernels_for(Device device) {
  switch (device.type) {
    case DeviceType::CPU: return cpu_kernels();
    case DeviceType::CUDA: return cuda_kernels();
    case DeviceType::Emu: return emu_kernels();
  }
  CYG_CHECK(false, "no kernels for device ", device.str());
  return cpu_kernels();
}

const Kernels& kernels_for(const Tensor& t) { return kernels_for(t.device()); }

std::vector<std::string> Kernels::missing() const {
  std::vector<std::string> names;
  for (const KernelEntry* e : entries)
    if (!e->available()) names.emplace_back(e->name());
  return names;
}

bool Kernels::has_channels_last() const {
  for (const KernelEntry* e : optional_entries)
    if (!e->available()) return false;
  return true;
}

}  // namespace cyg
