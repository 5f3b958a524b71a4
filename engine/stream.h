// CUDA streams: an owning Stream, and the current stream of this host thread, on which
// the engine enqueues its kernels and copies (the default stream until set).
#pragma once

namespace cyg {

class Stream {
 public:
  Stream();  // a new CUDA stream, ordered with the default stream
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  void* handle() const { return handle_; }
  void synchronize() const;

 private:
  void* handle_ = nullptr;
};

void* current_stream();

// Makes `stream` current for its lifetime, then restores the previous one.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  void* previous_;
};

}  // namespace cyg
