// The emulated CUDA device as a DeviceRuntime (kernels/emu/device.h does the work).
#include "engine/runtime.h"
#include "kernels/emu/device.h"
#include "kernels/error.h"

namespace cyg {

namespace {

emu::EmuStream* as_stream(void* stream) { return static_cast<emu::EmuStream*>(stream); }
emu::EmuEvent* as_event(void* event) { return static_cast<emu::EmuEvent*>(event); }

emu::CopyKind as_emu(CopyKind kind) {
  switch (kind) {
    case CopyKind::HostToDevice: return emu::CopyKind::HostToDevice;
    case CopyKind::DeviceToHost: return emu::CopyKind::DeviceToHost;
    case CopyKind::DeviceToDevice: return emu::CopyKind::DeviceToDevice;
  }
  return emu::CopyKind::DeviceToDevice;
}

class EmuRuntime final : public DeviceRuntime {
 public:
  void* do_malloc(size_t bytes) override { return emu::device_malloc(bytes); }
  void free(void* p) override { emu::device_free(p); }
  void do_memcpy(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream) override {
    emu::memcpy_async(dst, src, bytes, as_emu(kind), as_stream(stream));
  }
  void memset(void* dst, int value, size_t bytes, void* stream) override {
    emu::memset_async(dst, value, bytes, as_stream(stream));
  }
  void do_synchronize() override { emu::device_synchronize(); }

  void* default_stream() override { return emu::default_stream(); }
  void* stream_create() override { return emu::stream_create(); }
  void* stream_create_non_blocking() override { return emu::stream_create(true); }
  void stream_destroy(void* stream) override { emu::stream_destroy(as_stream(stream)); }
  void do_stream_synchronize(void* stream) override { emu::stream_synchronize(as_stream(stream)); }

  void* event_create() override { return emu::event_create(); }
  void event_destroy(void* event) override { emu::event_destroy(as_event(event)); }
  void event_record(void* event, void* stream) override { emu::event_record(as_event(event), as_stream(stream)); }
  void stream_wait_event(void* stream, void* event) override {
    emu::stream_wait_event(as_stream(stream), as_event(event));
  }
  void do_event_synchronize(void* event) override { emu::event_synchronize(as_event(event)); }
  bool event_query(void* event) override { return emu::event_query(as_event(event)); }

  void begin_capture(void* stream) override { emu::begin_capture(as_stream(stream)); }
  void* end_capture(void* stream) override { return emu::end_capture(as_stream(stream)); }
  void graph_launch(void* graph, void* stream) override {
    emu::graph_launch(static_cast<emu::EmuGraph*>(graph), as_stream(stream));
  }
  void graph_destroy(void* graph) override { emu::graph_destroy(static_cast<emu::EmuGraph*>(graph)); }

  bool poisons_released_blocks() const override { return true; }
};

}  // namespace

DeviceRuntime& emu_runtime() {
  static EmuRuntime* runtime = new EmuRuntime();
  return *runtime;
}

}  // namespace cyg
