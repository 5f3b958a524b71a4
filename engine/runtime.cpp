// What every device runtime shares: the counted calls, and picking a device's runtime.
#include "engine/runtime.h"

#include "kernels/counters.h"
#include "kernels/error.h"

namespace cyg {

void* DeviceRuntime::malloc(size_t bytes) {
  void* p = do_malloc(bytes);
  count_allocation(bytes);
  return p;
}

void DeviceRuntime::memcpy(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream) {
  switch (kind) {
    case CopyKind::HostToDevice: count_copy(CopyDirection::HostToDevice, bytes); break;
    case CopyKind::DeviceToDevice: count_copy(CopyDirection::DeviceToDevice, bytes); break;
    case CopyKind::DeviceToHost:
      count_copy(CopyDirection::DeviceToHost, bytes);
      count_synchronization();
      break;
  }
  do_memcpy(dst, src, bytes, kind, stream);
}

void DeviceRuntime::synchronize() {
  count_synchronization();
  do_synchronize();
}

void DeviceRuntime::stream_synchronize(void* stream) {
  count_synchronization();
  do_stream_synchronize(stream);
}

void DeviceRuntime::event_synchronize(void* event) {
  count_synchronization();
  do_event_synchronize(event);
}

DeviceRuntime& runtime_for(Device device) {
  switch (device.type) {
    case DeviceType::CUDA: return cuda_runtime();
    case DeviceType::Emu: return emu_runtime();
    case DeviceType::CPU: break;
  }
  CYG_CHECK(false, "the CPU has no device runtime");
  return emu_runtime();
}

}  // namespace cyg
