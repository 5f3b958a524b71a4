// Streams of a GPU-like device (CUDA, or the emulated device): an owning Stream, the
// current stream of this host thread per device type, on which the engine queues its
// kernels and copies (the runtime's default stream until set), and events that order
// one stream after another.
#pragma once
#include "engine/device.h"

namespace cyg {

class Stream {
 public:
  // A new stream, ordered with the default stream; with `non_blocking`, only by events.
  explicit Stream(Device device, bool non_blocking = false);
  // Waits for the stream's work, gives its blocks to the default stream and destroys it;
  // while an exception unwinds, leaves it (and its blocks) as it is instead: its work may
  // never end.
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Device device() const { return device_; }
  void* handle() const { return handle_; }
  void synchronize() const;

 private:
  Device device_;
  void* handle_ = nullptr;
};

// The stream this thread queues work for `device` on.
void* current_stream(Device device);

// Makes `stream` current for its device for the guard's lifetime, then restores the
// previous one.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  DeviceType type_;
  void* previous_;
};

// A point in a stream's work: record it on one stream, make another wait for it.
class Event {
 public:
  explicit Event(Device device);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(const Stream& stream);
  void record_on_current_stream();
  // Work queued on `stream` from now on runs after the recorded point.
  void block(const Stream& stream) const;
  // The same for this thread's current stream of the device.
  void block_current_stream() const;
  void synchronize() const;
  bool done() const;

 private:
  Device device_;
  void* handle_ = nullptr;
};

}  // namespace cyg
