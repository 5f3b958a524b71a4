// Streams over the raw runtime calls of engine/device.h.
#include "engine/stream.h"

#include "engine/device.h"

namespace cyg {
namespace {
thread_local void* t_current_stream = nullptr;
}

Stream::Stream() : handle_(rt::cuda_stream_create()) {}
Stream::~Stream() {
  try {
    rt::cuda_stream_destroy(handle_);
  } catch (...) {
    // Destroying a stream only fails when the runtime is already shutting down.
  }
}
void Stream::synchronize() const { rt::cuda_stream_synchronize(handle_); }

void* current_stream() { return t_current_stream; }

StreamGuard::StreamGuard(const Stream& stream) : previous_(t_current_stream) { t_current_stream = stream.handle(); }
StreamGuard::~StreamGuard() { t_current_stream = previous_; }

}  // namespace cyg
