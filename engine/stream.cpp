// Streams and events over the device runtimes of engine/runtime.h.
#include "engine/stream.h"

#include <exception>

#include "engine/allocator.h"
#include "engine/runtime.h"

namespace cyg {
namespace {
// Per device type; null: the runtime's default stream.
thread_local void* t_current_stream[kDeviceTypes] = {};

int slot(DeviceType type) { return static_cast<int>(type); }
}  // namespace

Stream::Stream(Device device, bool non_blocking)
    : device_(device),
      handle_(non_blocking ? runtime_for(device).stream_create_non_blocking() : runtime_for(device).stream_create()) {}
// The stream's blocks go to the default stream once its work is done, so that memory
// outliving the stream is neither lost nor released onto a stream that no longer exists.
Stream::~Stream() {
  // An error on its way out (a collective whose peer died, a failed step): no wait, since
  // the work queued may never end and the error must reach the user. The stream and its
  // blocks are left as they are; the blocks stay this stream's, so nothing reuses them
  // while its work may still run.
  if (std::uncaught_exceptions() > 0) return;
  try {
    DeviceRuntime& runtime = runtime_for(device_);
    runtime.stream_synchronize(handle_);
    allocator_for(device_).retire_stream(handle_, runtime.default_stream());
    runtime.stream_destroy(handle_);
  } catch (...) {
    // Only at shutdown, or after a kernel failed on this stream: a destructor cannot
    // report it, and the next wait on the device will.
  }
}
void Stream::synchronize() const { runtime_for(device_).stream_synchronize(handle_); }

void* current_stream(Device device) {
  void* s = t_current_stream[slot(device.type)];
  return s != nullptr ? s : runtime_for(device).default_stream();
}

StreamGuard::StreamGuard(const Stream& stream)
    : type_(stream.device().type), previous_(t_current_stream[slot(type_)]) {
  t_current_stream[slot(type_)] = stream.handle();
}
StreamGuard::~StreamGuard() { t_current_stream[slot(type_)] = previous_; }

Event::Event(Device device) : device_(device), handle_(runtime_for(device).event_create()) {}
Event::~Event() {
  try {
    runtime_for(device_).event_destroy(handle_);
  } catch (...) {
    // As for streams: only at shutdown.
  }
}
void Event::record(const Stream& stream) { runtime_for(device_).event_record(handle_, stream.handle()); }
void Event::record_on_current_stream() { runtime_for(device_).event_record(handle_, current_stream(device_)); }
void Event::block(const Stream& stream) const { runtime_for(device_).stream_wait_event(stream.handle(), handle_); }
void Event::block_current_stream() const {
  runtime_for(device_).stream_wait_event(current_stream(device_), handle_);
}
void Event::synchronize() const { runtime_for(device_).event_synchronize(handle_); }
bool Event::done() const { return runtime_for(device_).event_query(handle_); }

}  // namespace cyg
