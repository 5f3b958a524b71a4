// The emulated device: a memory pool in one reserved address range, and streams whose
// queued work runs only when something waits for it (kernels/emu/device.h says why).
#include "kernels/emu/device.h"

#include <sys/mman.h>

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
};

}  // namespace

struct EmuStream {
  bool is_default = false;
  std::deque<Op> queue;
  uint64_t queued = 0;     // ops ever queued
  uint64_t completed = 0;  // ops run
  EmuGraph* capture = nullptr;
  bool destroyed = false;
};

struct EmuEvent {
  EmuStream* stream = nullptr;  // null: never recorded (complete, as in CUDA)
  uint64_t count = 0;
};

struct EmuGraph {
  std::vector<Op> ops;
};

namespace {

// One lock for the device: queueing, running and the pool. Recursive, because running
// an op first runs the ops it depends on.
std::recursive_mutex& device_mutex() {
  static std::recursive_mutex m;
  return m;
}

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

void run_until(EmuStream* stream, uint64_t count) {
  while (stream->completed < count) {
    Op op = std::move(stream->queue.front());
    stream->queue.pop_front();
    ++stream->completed;
    for (const Dependency& d : op.after) run_until(d.stream, d.count);
    if (g_running.load(std::memory_order_relaxed)) op.work();
  }
}

void wait_for(EmuStream* stream) {
  CYG_CHECK(stream->capture == nullptr, "emulated device: waiting for a stream that is being captured into a graph");
  run_until(stream, stream->queued);
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
      CYG_CHECK(next_ + size <= kPoolBytes, "emulated device: out of memory allocating ", bytes, " bytes (",
                in_use_, " in use)");
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

  size_t in_use() const { return in_use_; }

 private:
  char* base_ = nullptr;
  size_t next_ = 0;
  size_t in_use_ = 0;
  std::multimap<size_t, char*> free_;
  std::unordered_map<char*, size_t> live_;
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

void check_side(const void* p, bool device, CopyKind kind, const char* side) {
  CYG_CHECK(pool().contains(p) == device, "emulated device: memcpy ", kind_name(kind), " with a ", side, " pointer ",
            p, " that is ", device ? "not " : "", "device memory");
}

}  // namespace

// ---- memory ----

void* device_malloc(size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  return pool().allocate(bytes);
}

void device_free(void* p) {
  if (p == nullptr) return;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
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

EmuStream* stream_create() {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  streams().push_back(std::make_unique<EmuStream>());
  return streams().back().get();
}

void stream_destroy(EmuStream* stream) {
  if (stream == nullptr) return;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  CYG_CHECK(!stream->is_default, "emulated device: the default stream cannot be destroyed");
  wait_for(stream);
  stream->destroyed = true;
}

void stream_synchronize(EmuStream* stream) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  wait_for(or_default(stream));
}

// Streams that nothing orders may run in any order; the newest runs first, the order in
// which a missing event or a block reused by another stream goes wrong.
void device_synchronize() {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  for (auto it = streams().rbegin(); it != streams().rend(); ++it)
    if (!(*it)->destroyed) wait_for(it->get());
}

namespace {
void enqueue_op(EmuStream* stream, Op op) {
  EmuStream* s = or_default(stream);
  CYG_CHECK(!s->destroyed, "emulated device: work queued on a destroyed stream");
  if (s->capture != nullptr) {
    s->capture->ops.push_back(std::move(op));
    return;
  }
  // The legacy default stream: it waits for the work queued before on every stream
  // (newest stream first, see device_synchronize), and every stream waits for the work
  // queued before on it.
  if (s->is_default) {
    for (auto it = streams().rbegin(); it != streams().rend(); ++it) {
      EmuStream* other = it->get();
      if (!other->is_default && other->queued > other->completed) op.after.push_back({other, other->queued});
    }
  } else {
    EmuStream* d = streams().front().get();
    if (d->queued > d->completed) op.after.push_back({d, d->queued});
  }
  s->queue.push_back(std::move(op));
  ++s->queued;
}
}  // namespace

void enqueue(EmuStream* stream, const char* what, std::function<void()> work) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  enqueue_op(stream, Op{what, std::move(work), {}});
}

void memcpy_async(void* dst, const void* src, size_t bytes, CopyKind kind, EmuStream* stream) {
  if (bytes == 0) return;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  check_side(dst, kind != CopyKind::DeviceToHost, kind, "destination");
  check_side(src, kind != CopyKind::HostToDevice, kind, "source");
  if (kind == CopyKind::HostToDevice) {
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src),
                                                      static_cast<const char*>(src) + bytes);
    enqueue(stream, "memcpy host to device", [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
    return;
  }
  enqueue(stream, kind == CopyKind::DeviceToHost ? "memcpy device to host" : "memcpy device to device",
          [dst, src, bytes] { std::memcpy(dst, src, bytes); });
  // A copy into pageable host memory returns once it is done.
  if (kind == CopyKind::DeviceToHost) stream_synchronize(stream);
}

void memset_async(void* dst, int value, size_t bytes, EmuStream* stream) {
  if (bytes == 0) return;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  CYG_CHECK(pool().contains(dst), "emulated device: memset of ", dst, ", which is not device memory");
  enqueue(stream, "memset", [dst, value, bytes] { std::memset(dst, value, bytes); });
}

// ---- events ----

EmuEvent* event_create() { return new EmuEvent(); }

void event_destroy(EmuEvent* event) { delete event; }

void event_record(EmuEvent* event, EmuStream* stream) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  EmuStream* s = or_default(stream);
  CYG_CHECK(s->capture == nullptr, "emulated device: events inside a graph capture are not emulated");
  event->stream = s;
  event->count = s->queued;
}

void stream_wait_event(EmuStream* stream, EmuEvent* event) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (event->stream == nullptr) return;
  enqueue_op(stream, Op{"wait for an event", [] {}, {Dependency{event->stream, event->count}}});
}

void event_synchronize(EmuEvent* event) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (event->stream != nullptr) run_until(event->stream, event->count);
}

bool event_query(EmuEvent* event) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  return event->stream == nullptr || event->stream->completed >= event->count;
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
}

EmuGraph* end_capture(EmuStream* stream) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  EmuStream* s = or_default(stream);
  CYG_CHECK(s->capture != nullptr, "emulated device: end of a capture that was not begun");
  EmuGraph* graph = s->capture;
  s->capture = nullptr;
  return graph;
}

void graph_launch(EmuGraph* graph, EmuStream* stream) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  for (const Op& op : graph->ops) enqueue_op(stream, op);
}

void graph_destroy(EmuGraph* graph) { delete graph; }

}  // namespace cyg::emu
