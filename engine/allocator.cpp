// The caching allocator: best fit among the stream's cached blocks of at most twice the
// request, else a new raw block; when the raw allocator fails, the cache is emptied and
// the allocation tried once more (except during a graph capture, where freeing is not
// allowed).
#include "engine/allocator.h"

#include <malloc.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "engine/runtime.h"
#include "kernels/error.h"

namespace cyg {

namespace {
constexpr size_t kSmallLimit = size_t(1) << 20;  // below: 512-byte steps
constexpr size_t kSmallStep = 512;
constexpr size_t kLargeStep = size_t(2) << 20;  // above: 2 MiB steps
}  // namespace

CachingAllocator::CachingAllocator(RawAllocate raw_allocate, RawFree raw_free, Poison poison)
    : raw_allocate_(std::move(raw_allocate)), raw_free_(std::move(raw_free)), poison_(std::move(poison)) {}

CachingAllocator::~CachingAllocator() {
  try {
    empty_cache();
  } catch (...) {
    // At process exit the CUDA runtime may already be gone; the OS reclaims the memory.
  }
}

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  const size_t step = bytes < kSmallLimit ? kSmallStep : kLargeStep;
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t bytes, void* stream) {
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* block = nullptr;
  size_t block_size = size;
  std::multimap<size_t, void*>& cached = cached_[CacheKey{stream, current_pool_}];
  auto it = cached.lower_bound(size);
  if (it != cached.end() && it->first <= 2 * size) {
    block = it->second;
    block_size = it->first;
    stats_.bytes_cached -= block_size;
    cached.erase(it);
    ++stats_.cache_hits;
  } else {
    try {
      block = raw_allocate_(size);
    } catch (const OutOfMemory& e) {
      // Emptying the cache frees device memory, which a graph capture does not allow.
      if (capturing_)
        throw OutOfMemory(detail::concat(e.what(), " (during a CUDA graph capture, where the cache of ",
                                         stats_.bytes_cached, " bytes cannot be given back: run the step without a "
                                         "graph, or with a smaller batch)"));
      free_cached(0);
      block = raw_allocate_(size);
    }
    ++stats_.raw_allocations;
    if (current_pool_ != 0) ++pool_raw_allocations_[current_pool_];
  }
  in_use_[block] = Block{block_size, stream, current_pool_};
  stats_.bytes_in_use += block_size;
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  return block;
}

void CachingAllocator::release(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = in_use_.find(p);
  CYG_CHECK(it != in_use_.end(), "release of a pointer this allocator did not hand out");
  const Block block = it->second;
  in_use_.erase(it);
  if (poison_) poison_(p, block.size, block.stream);
  stats_.bytes_in_use -= block.size;
  stats_.bytes_cached += block.size;
  cached_[CacheKey{block.stream, block.pool}].emplace(block.size, p);
}

// The raw free waits for queued work (cudaFree does), so no cached block is in use. Each
// block leaves the cache before it is freed: a failing free leaves none behind twice.
void CachingAllocator::free_cached(int pool) {
  for (auto it = cached_.begin(); it != cached_.end();) {
    if (it->first.second != pool) {
      ++it;
      continue;
    }
    std::multimap<size_t, void*>& blocks = it->second;
    while (!blocks.empty()) {
      const auto [size, p] = *blocks.begin();
      blocks.erase(blocks.begin());
      stats_.bytes_cached -= size;
      raw_free_(p);
      ++stats_.raw_frees;
    }
    it = cached_.erase(it);
  }
}

void CachingAllocator::retire_stream(void* stream, void* successor) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = cached_.begin(); it != cached_.end();) {
    if (it->first.first != stream) {
      ++it;
      continue;
    }
    cached_[CacheKey{successor, it->first.second}].insert(it->second.begin(), it->second.end());
    it = cached_.erase(it);
  }
  for (auto& [p, block] : in_use_)
    if (block.stream == stream) block.stream = successor;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  free_cached(0);
}

int CachingAllocator::create_pool() {
  std::lock_guard<std::mutex> lock(mutex_);
  return ++pools_created_;
}

void CachingAllocator::release_pool(int pool) {
  std::lock_guard<std::mutex> lock(mutex_);
  CYG_CHECK(pool > 0, "the shared cache is not a pool to release");
  for (auto& [p, block] : in_use_)
    if (block.pool == pool) block.pool = 0;
  free_cached(pool);
  pool_raw_allocations_.erase(pool);
}

size_t CachingAllocator::pool_raw_allocations(int pool) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = pool_raw_allocations_.find(pool);
  return it == pool_raw_allocations_.end() ? 0 : it->second;
}

CachingAllocator::PoolScope::PoolScope(CachingAllocator& allocator, int pool, Capture capture)
    : allocator_(allocator) {
  std::lock_guard<std::mutex> lock(allocator_.mutex_);
  previous_ = allocator_.current_pool_;
  previous_capturing_ = allocator_.capturing_;
  allocator_.current_pool_ = pool;
  allocator_.capturing_ = capture == Capture::Yes;
}

CachingAllocator::PoolScope::~PoolScope() {
  std::lock_guard<std::mutex> lock(allocator_.mutex_);
  allocator_.current_pool_ = previous_;
  allocator_.capturing_ = previous_capturing_;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
}

namespace {
CachingAllocator* allocator_over(DeviceRuntime& runtime) {
  CachingAllocator::Poison poison;
  if (runtime.poisons_released_blocks())
    poison = [&runtime](void* block, size_t bytes, void* stream) { runtime.memset(block, 0xFF, bytes, stream); };
  return new CachingAllocator([&runtime](size_t bytes) { return runtime.malloc(bytes); },
                              [&runtime](void* p) { runtime.free(p); }, std::move(poison));
}
}  // namespace

// Never destroyed: freeing device memory during static destruction races the runtime's
// own teardown.
CachingAllocator& allocator_for(Device device) {
  switch (device.type) {
    case DeviceType::CUDA: {
      static CachingAllocator* cuda = allocator_over(cuda_runtime());
      return *cuda;
    }
    case DeviceType::Emu: {
      static CachingAllocator* emulated = allocator_over(emu_runtime());
      return *emulated;
    }
    case DeviceType::CPU: break;
  }
  CYG_CHECK(false, "CPU memory does not come from the caching allocator");
  return allocator_for(Device::emu());
}

namespace {
// Host memory handed out by cpu_allocate, counted in the sizes malloc really gave.
std::atomic<size_t> g_cpu_in_use{0}, g_cpu_peak{0};

void note_cpu_allocation(void* p) {
  const size_t size = malloc_usable_size(p);
  const size_t now = g_cpu_in_use.fetch_add(size, std::memory_order_relaxed) + size;
  size_t peak = g_cpu_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_cpu_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
}  // namespace

void* cpu_allocate(size_t bytes) {
  // A training step frees and allocates the same activation sizes every step. glibc
  // maps blocks above its mmap threshold (at most 32 MiB) and gives them back to the
  // system when freed, so every step faulted in fresh zeroed pages again, and it trims
  // the heap's top: all blocks come from the heap instead, and freed memory stays there
  // for the next step.
#ifdef __GLIBC__
  static const bool kept = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  (void)kept;  // where glibc refused, allocations still work, with page faults
#endif
  CYG_CHECK(bytes <= (size_t(1) << 46), "a host allocation of ", bytes, " bytes is larger than any memory");
  const size_t size = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, size ? size : 64);
  if (p == nullptr) {
    char gib[32];
    std::snprintf(gib, sizeof gib, "%.2f", double(bytes) / double(size_t(1) << 30));
    throw OutOfMemory(detail::concat("out of host memory: one tensor of ", bytes, " bytes (", gib,
                                     " GiB) is more than the machine or its limits (ulimit -v) give; a smaller "
                                     "batch, model or dataset needs less"));
  }
  note_cpu_allocation(p);
  return p;
}

void cpu_free(void* p) {
  if (p != nullptr) g_cpu_in_use.fetch_sub(malloc_usable_size(p), std::memory_order_relaxed);
  std::free(p);
}

size_t cpu_bytes_in_use() { return g_cpu_in_use.load(std::memory_order_relaxed); }
size_t cpu_peak_bytes_in_use() { return g_cpu_peak.load(std::memory_order_relaxed); }
void cpu_reset_peak() { g_cpu_peak.store(g_cpu_in_use.load(std::memory_order_relaxed), std::memory_order_relaxed); }

}  // namespace cyg
