// What the engine asks of a device's runtime: memory, copies, streams, events, graph
// capture. Two implementations: the CUDA runtime (engine/cuda_runtime.cpp) and the
// emulated device (engine/emu_runtime.cpp, over kernels/emu/device.h). Every call is
// checked: a failure throws cyg::Error naming the call. Streams, events and graphs are
// the runtime's own handles. Allocations, copies and host waits are counted here, once
// for both (kernels/counters.h).
#pragma once
#include <cstddef>

#include "engine/device.h"

namespace cyg {

enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };

class DeviceRuntime {
 public:
  virtual ~DeviceRuntime() = default;

  void* malloc(size_t bytes);
  virtual void free(void* p) = 0;
  // Queued on `stream`; a copy to the host returns once it has arrived.
  void memcpy(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream);
  virtual void memset(void* dst, int value, size_t bytes, void* stream) = 0;
  void synchronize();

  // The stream work goes to when no other is current.
  virtual void* default_stream() = 0;
  // A stream ordered with the default stream (as cudaStreamDefault).
  virtual void* stream_create() = 0;
  // A stream the default stream does not order (cudaStreamNonBlocking): events alone do.
  virtual void* stream_create_non_blocking() = 0;
  virtual void stream_destroy(void* stream) = 0;
  void stream_synchronize(void* stream);

  virtual void* event_create() = 0;
  virtual void event_destroy(void* event) = 0;
  virtual void event_record(void* event, void* stream) = 0;
  virtual void stream_wait_event(void* stream, void* event) = 0;
  void event_synchronize(void* event);
  virtual bool event_query(void* event) = 0;  // true once the recorded work is done

  // Capture a stream's work into a graph, then launch it as often as wanted.
  virtual void begin_capture(void* stream) = 0;
  virtual void* end_capture(void* stream) = 0;
  virtual void graph_launch(void* graph, void* stream) = 0;
  virtual void graph_destroy(void* graph) = 0;

  // Whether blocks the caching allocator takes back are filled with NaN patterns (on
  // their stream), so that a block read after its release gives a wrong value.
  virtual bool poisons_released_blocks() const = 0;

 private:
  // The counted calls, as each runtime makes them.
  virtual void* do_malloc(size_t bytes) = 0;
  virtual void do_memcpy(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream) = 0;
  virtual void do_synchronize() = 0;
  virtual void do_stream_synchronize(void* stream) = 0;
  virtual void do_event_synchronize(void* event) = 0;
};

// The runtime of a CUDA or emulated device (an error for the CPU, and for CUDA in a
// build without it).
DeviceRuntime& runtime_for(Device device);
DeviceRuntime& cuda_runtime();
DeviceRuntime& emu_runtime();

}  // namespace cyg
