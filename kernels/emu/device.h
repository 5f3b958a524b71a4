// The emulated CUDA device: what the CUDA runtime gives the engine (device memory,
// streams, events, graph capture), on the CPU, made so that bugs of the GPU path show.
//
// - Device memory comes from its own pool (one reserved address range), is 0xFF bytes
//   (a NaN in every float) when allocated and again when freed; copies and memsets
//   check which side is device memory and that they stay inside one allocation.
// - A stream queues its work (kernel launches, copies, memsets, library calls) and the
//   host goes on at once. Queued work runs lazily: at the latest moment CUDA allows,
//   i.e. when something waits for it (a stream, event or device synchronisation, a
//   copy to the host, a free). A host read without a synchronisation, a block reused
//   while queued work still reads it, and a missing event between two streams
//   therefore give wrong values every time, not now and then.
// - Where nothing orders two streams, the one whose newest work was queued last runs
//   first, so a missing event, or a block handed to another stream too early, goes
//   wrong.
// - Streams are ordered with the default stream, as cudaStreamDefault streams are with
//   the legacy default stream: work queued on one waits for the work queued before it
//   on the other. A non-blocking stream (cudaStreamNonBlocking) is not: only events
//   order it.
// - Capture records a stream's work into a graph instead of queueing it; launching the
//   graph queues the recorded work again, as often as it is launched. What CUDA refuses
//   during a capture is refused and ends the capture (allocation, free, waiting, a copy
//   from host memory, the legacy default stream); events inside a capture are not
//   emulated.
//
// A launch in kernels/emu/emu.h with a null stream runs at once (the kernel tests); with
// one of these streams it is queued. Thread-safe; queued work runs on the thread that
// waits for it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

namespace cyg::emu {

struct EmuStream;
struct EmuEvent;
struct EmuGraph;

// ---- memory ----
void* device_malloc(size_t bytes);  // throws cyg::Error when the pool is exhausted
void device_free(void* p);          // waits for all queued work first, as cudaFree does
bool is_device_memory(const void* p);
// Bytes of the pool in use (allocated, not yet freed).
size_t device_bytes_in_use();

// ---- streams and work ----
EmuStream* default_stream();
EmuStream* stream_create(bool non_blocking = false);
void stream_destroy(EmuStream* stream);  // its queued work still runs when waited for
void stream_synchronize(EmuStream* stream);
void device_synchronize();

// Queues `work` on `stream` (a null stream: the default stream). `what` names it in
// errors.
void enqueue(EmuStream* stream, const char* what, std::function<void()> work);

enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
// Host memory is read at the call (pageable memory is staged, as CUDA does), device
// memory when the copy runs. A copy to the host waits for it.
void memcpy_async(void* dst, const void* src, size_t bytes, CopyKind kind, EmuStream* stream);
void memset_async(void* dst, int value, size_t bytes, EmuStream* stream);

// ---- events ----
EmuEvent* event_create();
void event_destroy(EmuEvent* event);
void event_record(EmuEvent* event, EmuStream* stream);
void stream_wait_event(EmuStream* stream, EmuEvent* event);
void event_synchronize(EmuEvent* event);
bool event_query(EmuEvent* event);  // runs the recorded work: a poll always finds it done

// ---- counting only ----
// Off: work queued from now on is dropped instead of run, and memory is not filled, so
// the work of full-size shapes can be counted (kernels/counters.h) without the time to
// run it. Every value computed meanwhile is meaningless, and blocks released meanwhile
// are not poisoned.
void set_running(bool run);
bool running();

// ---- graphs ----
void begin_capture(EmuStream* stream);
EmuGraph* end_capture(EmuStream* stream);
void graph_launch(EmuGraph* graph, EmuStream* stream);
void graph_destroy(EmuGraph* graph);

}  // namespace cyg::emu
