// The emulated device: a memory pool in one reserved address range, and streams whose
// queued work runs only when something waits for it (kernels/emu/device.h says why).
#include "kernels/emu/device.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/error.h"

namespace cyg::emu {

namespace {

constexpr unsigned char kPoison = 0xFF;  // every float a NaN, every integer -1
constexpr size_t kAlignment = 256;        // as cudaMalloc's
constexpr size_t kPoolBytes = size_t(64) << 30;

std::atomic<bool> g_running{true};

// Work a later op must wait for: the first `count` ops queued on `stream`.
struct Dependency {
  EmuStream* stream;
  uint64_t count;
};

struct Op {
  std::string what;
  std::function<void()> work;
  std::vector<Dependency> after;
  bool run = true;  // false: queued while counting only, dropped when its turn comes
};

}  // namespace

struct EmuStream {
  bool is_default = false;
  bool non_blocking = false;  // not ordered with the legacy default stream
  std::deque<Op> queue;
  uint64_t queued = 0;     // ops ever queued
  uint64_t completed = 0;  // ops run
  uint64_t last_queued = 0;  // the device-wide number of the newest op queued here
  EmuGraph* capture = nullptr;
  bool destroyed = false;
};

struct EmuEvent {
  EmuStream* stream = nullptr;  // null: never recorded (complete, as in CUDA)
  uint64_t count = 0;
};

struct EmuGraph {
  std::vector<Op> ops;
  std::string invalidated_by;  // non-empty: the capture broke a rule and cannot end
};

namespace {

// One lock for the device: queueing, running and the pool. Recursive, because running
// an op first runs the ops it depends on. Ops own no engine objects (tensors), so
// running or destroying one never needs another lock.
std::recursive_mutex& device_mutex() {
  static std::recursive_mutex m;
  return m;
}

uint64_t g_ops_queued = 0;  // numbers every op queued on the device, in order
int g_captures = 0;         // streams being captured now

// Streams are never deleted (a destroyed one is marked), so that dependencies that name
// them stay valid.
std::vector<std::unique_ptr<EmuStream>>& streams() {
  static std::vector<std::unique_ptr<EmuStream>> all = [] {
    std::vector<std::unique_ptr<EmuStream>> v;
    v.push_back(std::make_unique<EmuStream>());
    v.back()->is_default = true;
    return v;
  }();
  return all;
}

EmuStream* or_default(EmuStream* stream) { return stream != nullptr ? stream : streams().front().get(); }

// Streams with queued work, the one whose newest op was queued last first: where nothing
// orders two streams, that is the order in which a missing event or a block handed to
// another stream too early goes wrong.
std::vector<EmuStream*> pending_newest_first(bool include_default) {
  std::vector<EmuStream*> out;
  for (const auto& s : streams())
    if (s->queued > s->completed && (include_default || !s->is_default)) out.push_back(s.get());
  std::sort(out.begin(), out.end(), [](EmuStream* a, EmuStream* b) { return a->last_queued > b->last_queued; });
  return out;
}

void run_until(EmuStream* stream, uint64_t count) {
  while (stream->completed < count) {
    const std::vector<Dependency> after = stream->queue.front().after;
    for (const Dependency& d : after) run_until(d.stream, d.count);
    Op op = std::move(stream->queue.front());
    stream->queue.pop_front();
    ++stream->completed;
    if (op.run) op.work();
  }
}

// CUDA ends a capture that breaks its rules: the capture can then only fail to end.
[[noreturn]] void refuse_in_capture(EmuStream* capturing, const std::string& what) {
  if (capturing != nullptr && capturing->capture->invalidated_by.empty()) capturing->capture->invalidated_by = what;
  CYG_CHECK(false, "emulated device: ", what, " while a stream is being captured into a graph (CUDA refuses it "
            "and invalidates the capture)");
}

EmuStream* any_capturing_stream() {
  for (const auto& s : streams())
    if (s->capture != nullptr) return s.get();
  return nullptr;
}

void wait_for(EmuStream* stream) {
  if (stream->capture != nullptr) refuse_in_capture(stream, "waiting for the stream");
  run_until(stream, stream->queued);
}

void enqueue_op(EmuStream* stream, Op op) {
  EmuStream* s = or_default(stream);
  CYG_CHECK(!s->destroyed, "emulated device: work queued on a destroyed stream");
  if (s->capture != nullptr) {
    s->capture->ops.push_back(std::move(op));
    return;
  }
  if (s->is_default && g_captures > 0) refuse_in_capture(any_capturing_stream(), "work on the legacy default stream");
  // The legacy default stream: it waits for the work queued before on every stream, and
  // every stream waits for the work queued before on it.
  if (s->is_default) {
    for (EmuStream* other : pending_newest_first(false))
      if (!other->non_blocking) op.after.push_back({other, other->queued});
  } else if (!s->non_blocking) {
    EmuStream* d = streams().front().get();
    if (d->queued > d->completed) op.after.push_back({d, d->queued});
  }
  op.run = g_running.load(std::memory_order_relaxed);
  s->queue.push_back(std::move(op));
  ++s->queued;
  s->last_queued = ++g_ops_queued;
}

// ---- the pool ----

class Pool {
 public:
  Pool() {
    void* base = mmap(nullptr, kPoolBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CYG_CHECK(base != MAP_FAILED, "emulated device: cannot reserve ", kPoolBytes >> 30, " GiB of address space");
    base_ = static_cast<char*>(base);
  }

  void* allocate(size_t bytes) {
    const size_t size = (bytes + kAlignment - 1) / kAlignment * kAlignment + (bytes == 0 ? kAlignment : 0);
    char* p = nullptr;
    auto it = free_.lower_bound(size);
    if (it != free_.end() && it->first <= 2 * size) {
      p = it->second;
      live_[p] = it->first;
      free_.erase(it);
    } else {
      if (next_ + size > kPoolBytes)
        throw OutOfMemory(detail::concat("emulated device: out of memory allocating ", bytes, " bytes (", in_use_,
                                         " in use)"));
      p = base_ + next_;
      next_ += size;
      live_[p] = size;
    }
    in_use_ += live_[p];
    if (g_running.load(std::memory_order_relaxed)) std::memset(p, kPoison, live_[p]);
    return p;
  }

  void release(void* ptr) {
    auto it = live_.find(static_cast<char*>(ptr));
    CYG_CHECK(it != live_.end(), "emulated device: free of ", ptr, ", which is not an allocation of the device");
    if (g_running.load(std::memory_order_relaxed)) std::memset(it->first, kPoison, it->second);
    in_use_ -= it->second;
    free_.emplace(it->second, it->first);
    live_.erase(it);
  }

  bool contains(const void* p) const {
    const char* c = static_cast<const char*>(p);
    return c >= base_ && c < base_ + next_;
  }

  // Whether [p, p + bytes) lies inside one live allocation.
  bool holds(const void* p, size_t bytes) const {
    const char* c = static_cast<const char*>(p);
    auto it = live_.upper_bound(const_cast<char*>(c));
    if (it == live_.begin()) return false;
    --it;
    return c >= it->first && c + bytes <= it->first + it->second;
  }

  size_t in_use() const { return in_use_; }

 private:
  char* base_ = nullptr;
  size_t next_ = 0;
  size_t in_use_ = 0;
  std::multimap<size_t, char*> free_;
  std::map<char*, size_t> live_;
};

Pool& pool() {
  static Pool* p = new Pool();  // never unmapped: queued work may outlive static destruction
  return *p;
}

const char* kind_name(CopyKind kind) {
  switch (kind) {
    case CopyKind::HostToDevice: return "host to device";
    case CopyKind::DeviceToHost: return "device to host";
    case CopyKind::DeviceToDevice: return "device to device";
  }
  return "?";
}

// A device side must lie inside one allocation; a host side outside the pool.
void check_side(const void* p, size_t bytes, bool device, CopyKind kind, const char* side) {
  if (device) {
    CYG_CHECK(pool().contains(p), "emulated device: memcpy ", kind_name(kind), " with a ", side, " pointer ", p,
              " that is not device memory");
    CYG_CHECK(pool().holds(p, bytes), "emulated device: memcpy ", kind_name(kind), " of ", bytes, " bytes at ", p,
              " reaches past the end of its allocation");
  } else {
    CYG_CHECK(!pool().contains(p), "emulated device: memcpy ", kind_name(kind), " with a ", side, " pointer ", p,
              " that is device memory");
  }
}

}  // namespace

// ---- memory ----

// Allowed during a capture: the CUDA runtime (engine/cuda_runtime.cpp) makes cudaMalloc
// in relaxed capture mode there, which CUDA allows. cudaFree stays refused.
void* device_malloc(size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  return pool().allocate(bytes);
}

void device_free(void* p) {
  if (p == nullptr) return;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (g_captures > 0) refuse_in_capture(any_capturing_stream(), "cudaFree");
  device_synchronize();
  pool().release(p);
}

bool is_device_memory(const void* p) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  return pool().contains(p);
}

size_t device_bytes_in_use() {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  return pool().in_use();
}

// ---- streams ----

EmuStream* default_stream() {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  return streams().front().get();
}

EmuStream* stream_create(bool non_blocking) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  streams().push_back(std::make_unique<EmuStream>());
  streams().back()->non_blocking = non_blocking;
  return streams().back().get();
}

// As cudaStreamDestroy: no wait; work already queued still runs when something waits.
void stream_destroy(EmuStream* stream) {
  if (stream == nullptr) return;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  CYG_CHECK(!stream->is_default, "emulated device: the default stream cannot be destroyed");
  CYG_CHECK(stream->capture == nullptr, "emulated device: destroying a stream that is being captured");
  stream->destroyed = true;
}

void stream_synchronize(EmuStream* stream) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  wait_for(or_default(stream));
}

void device_synchronize() {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (g_captures > 0) refuse_in_capture(any_capturing_stream(), "cudaDeviceSynchronize");
  for (EmuStream* s : pending_newest_first(true)) wait_for(s);
}

void enqueue(EmuStream* stream, const char* what, std::function<void()> work) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  enqueue_op(stream, Op{what, std::move(work), {}});
}

void memcpy_async(void* dst, const void* src, size_t bytes, CopyKind kind, EmuStream* stream) {
  if (bytes == 0) return;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  check_side(dst, bytes, kind != CopyKind::DeviceToHost, kind, "destination");
  check_side(src, bytes, kind != CopyKind::HostToDevice, kind, "source");
  EmuStream* s = or_default(stream);
  if (kind == CopyKind::HostToDevice) {
    if (s->capture != nullptr) refuse_in_capture(s, "a copy from pageable host memory");
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src),
                                                      static_cast<const char*>(src) + bytes);
    enqueue_op(s, Op{"memcpy host to device", [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); }, {}});
    return;
  }
  enqueue_op(s, Op{kind == CopyKind::DeviceToHost ? "memcpy device to host" : "memcpy device to device",
                   [dst, src, bytes] { std::memcpy(dst, src, bytes); }, {}});
  // A copy into pageable host memory returns once it is done.
  if (kind == CopyKind::DeviceToHost) wait_for(s);
}

void memset_async(void* dst, int value, size_t bytes, EmuStream* stream) {
  if (bytes == 0) return;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  CYG_CHECK(pool().holds(dst, bytes), "emulated device: memset of ", bytes, " bytes at ", dst,
            ", which is not inside one device allocation");
  enqueue_op(stream, Op{"memset", [dst, value, bytes] { std::memset(dst, value, bytes); }, {}});
}

// ---- events ----

EmuEvent* event_create() { return new EmuEvent(); }

void event_destroy(EmuEvent* event) { delete event; }

// The record is an op of its own, so it is ordered as any work on the stream is (the
// legacy default stream included).
void event_record(EmuEvent* event, EmuStream* stream) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  EmuStream* s = or_default(stream);
  if (s->capture != nullptr) refuse_in_capture(s, "recording an event (not emulated in captures)");
  enqueue_op(s, Op{"record an event", [] {}, {}});
  event->stream = s;
  event->count = s->queued;
}

void stream_wait_event(EmuStream* stream, EmuEvent* event) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  EmuStream* s = or_default(stream);
  if (s->capture != nullptr) refuse_in_capture(s, "waiting for an event (not emulated in captures)");
  if (event->stream == nullptr) return;
  enqueue_op(s, Op{"wait for an event", [] {}, {Dependency{event->stream, event->count}}});
}

void event_synchronize(EmuEvent* event) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (event->stream != nullptr) run_until(event->stream, event->count);
}

// Asked, the device has done the work: it runs now, the latest it may.
bool event_query(EmuEvent* event) {
  event_synchronize(event);
  return true;
}

// ---- counting only ----

void set_running(bool run) { g_running.store(run, std::memory_order_relaxed); }
bool running() { return g_running.load(std::memory_order_relaxed); }

// ---- graphs ----

void begin_capture(EmuStream* stream) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  EmuStream* s = or_default(stream);
  CYG_CHECK(!s->is_default, "emulated device: the legacy default stream cannot be captured (as in CUDA)");
  CYG_CHECK(s->capture == nullptr, "emulated device: the stream is already being captured");
  s->capture = new EmuGraph();
  ++g_captures;
}

EmuGraph* end_capture(EmuStream* stream) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  EmuStream* s = or_default(stream);
  CYG_CHECK(s->capture != nullptr, "emulated device: end of a capture that was not begun");
  std::unique_ptr<EmuGraph> graph(s->capture);
  s->capture = nullptr;
  --g_captures;
  CYG_CHECK(graph->invalidated_by.empty(), "emulated device: the capture was invalidated by ", graph->invalidated_by);
  return graph.release();
}

void graph_launch(EmuGraph* graph, EmuStream* stream) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  for (const Op& op : graph->ops) enqueue_op(stream, Op{op.what, op.work, {}});
}

void graph_destroy(EmuGraph* graph) { delete graph; }

}  // namespace cyg::emu
