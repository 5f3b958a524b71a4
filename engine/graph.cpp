#include "engine/graph.h"

#include "engine/allocator.h"
#include "engine/runtime.h"
#include "kernels/counters.h"
#include "kernels/error.h"

namespace cyg {

Graph::Graph(const Stream& stream)
    : stream_(stream),
      pool_(allocator_for(stream.device()).create_pool()),
      event_(runtime_for(stream.device()).event_create()) {}

Graph::~Graph() {
  try {
    DeviceRuntime& runtime = runtime_for(stream_.device());
    runtime.stream_synchronize(stream_.handle());
    if (graph_ != nullptr) runtime.graph_destroy(graph_);
    runtime.event_destroy(event_);
    allocator_for(stream_.device()).release_pool(pool_);
  } catch (...) {
    // Only at shutdown or after a failure the caller already reported.
  }
}

void Graph::follow_current_stream() {
  DeviceRuntime& runtime = runtime_for(stream_.device());
  runtime.event_record(event_, current_stream(stream_.device()));
  runtime.stream_wait_event(stream_.handle(), event_);
}

void Graph::rejoin_current_stream() {
  DeviceRuntime& runtime = runtime_for(stream_.device());
  runtime.event_record(event_, stream_.handle());
  runtime.stream_wait_event(current_stream(stream_.device()), event_);
}

bool Graph::warm_up(const std::function<void()>& work) {
  CachingAllocator& allocator = allocator_for(stream_.device());
  const size_t blocks_before = allocator.pool_raw_allocations(pool_);
  follow_current_stream();
  try {
    const StreamGuard on_stream(stream_);
    const CachingAllocator::PoolScope pool(allocator_for(stream_.device()), pool_);
    work();
  } catch (...) {
    // The graph's stream is not ordered with the default stream: what the work queued
    // before it failed is waited for there too.
    rejoin_current_stream();
    throw;
  }
  rejoin_current_stream();
  return allocator.pool_raw_allocations(pool_) == blocks_before;
}

void Graph::capture(const std::function<void()>& work) {
  CYG_CHECK(graph_ == nullptr, "the graph is already captured");
  DeviceRuntime& runtime = runtime_for(stream_.device());
  const StreamGuard on_stream(stream_);
  const CachingAllocator::PoolScope pool(allocator_for(stream_.device()), pool_, CachingAllocator::Capture::Yes);
  runtime.begin_capture(stream_.handle());
  try {
    work();
  } catch (...) {
    try {
      // The capture ends; what it captured is not wanted (and not leaked).
      void* partial = runtime.end_capture(stream_.handle());
      if (partial != nullptr) runtime.graph_destroy(partial);
    } catch (...) {
      // The work's own error is the one to report.
    }
    throw;
  }
  graph_ = runtime.end_capture(stream_.handle());
}

void Graph::replay() {
  CYG_CHECK(graph_ != nullptr, "replay of a graph that was not captured");
  follow_current_stream();
  count_launch("cuda graph");
  runtime_for(stream_.device()).graph_launch(graph_, stream_.handle());
  rejoin_current_stream();
}

}  // namespace cyg
