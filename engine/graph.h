// A piece of work on one stream, captured once and replayed as often as wanted (a CUDA
// graph; on the emulated device, its emulation). The memory the work allocates comes
// from the graph's own pool in the caching allocator: warm_up() runs the work once so
// the pool holds every block it needs (a capture may not allocate), capture() records it
// with the same blocks, and nothing else is handed those blocks while the graph lives.
// Replays read and write the same addresses, so what changes between replays (inputs,
// hyperparameters) must be written into the same buffers before each replay.
// warm_up() and replay() are ordered with the caller's current stream: they run after
// the work queued on it so far, and work queued on it afterwards runs after them.
#pragma once
#include <functional>

#include "engine/stream.h"

namespace cyg {

class Graph {
 public:
  explicit Graph(const Stream& stream);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Runs `work` on the graph's stream, with its pool. True when the pool already held
  // every block the work asked for. The allocator hands out blocks by best fit, so a
  // first run (into an empty pool) may take other blocks than a later one (into a pool
  // of free blocks): capture once a warm-up has needed no new block, since the capture
  // then asks for the same blocks in the same pool state.
  bool warm_up(const std::function<void()>& work);
  // Records `work` instead of running it; it runs at the next replay.
  void capture(const std::function<void()>& work);
  bool captured() const { return graph_ != nullptr; }
  void replay();

 private:
  // The graph's stream waits for the current one; then the reverse.
  void follow_current_stream();
  void rejoin_current_stream();

  const Stream& stream_;
  int pool_;
  void* event_;
  void* graph_ = nullptr;
};

}  // namespace cyg
