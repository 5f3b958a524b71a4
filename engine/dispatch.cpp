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

namespace {
bool all_available(const std::vector<const KernelEntry*>& entries) {
  for (const KernelEntry* e : entries)
    if (!e->available()) return false;
  return true;
}
}  // namespace

bool Kernels::has_channels_last() const { return all_available(optional_entries); }
bool Kernels::has_channels_last_bf16() const { return all_available(optional_bf16_entries); }
bool Kernels::has_channels_last(DType dtype) const {
  return dtype == DType::BF16 ? has_channels_last_bf16() : dtype == DType::F32 && has_channels_last();
}

}  // namespace cyg
