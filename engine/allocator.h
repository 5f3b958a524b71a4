// Memory for tensors. Device memory (CUDA, emulated) comes from a caching allocator:
// freed blocks are kept and handed out again, so a training step in steady state makes
// no cudaMalloc or cudaFree call. Blocks belong to the stream they were allocated for:
// a released block is handed out again only for that stream, whose later work runs
// after the work that used it, so a block never reaches another stream while queued
// work still reads it. The cache is generic over the raw allocator so it is tested
// anywhere.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>

#include "engine/device.h"

namespace cyg {

struct AllocatorStats {
  size_t bytes_in_use = 0;       // handed out, not yet released (rounded sizes)
  size_t peak_bytes_in_use = 0;  // since creation or reset_peak()
  size_t bytes_cached = 0;       // released, kept for reuse
  uint64_t raw_allocations = 0;  // calls of the raw allocator (cudaMalloc)
  uint64_t raw_frees = 0;
  uint64_t cache_hits = 0;       // allocations served from the cache
};

class CachingAllocator {
 public:
  using RawAllocate = std::function<void*(size_t)>;
  using RawFree = std::function<void(void*)>;
  // Fills a released block, queued on its stream, so that a read after the release
  // gives a wrong value instead of the old one (the emulated device's NaN patterns).
  using Poison = std::function<void(void* block, size_t bytes, void* stream)>;

  CachingAllocator(RawAllocate raw_allocate, RawFree raw_free, Poison poison = nullptr);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block for work queued on `stream` (a runtime's stream handle).
  void* allocate(size_t bytes, void* stream = nullptr);
  void release(void* p);
  // Gives every cached block back to the raw allocator.
  void empty_cache();
  // A stream is going away, its work done: its blocks, cached or in use, now serve
  // `successor`.
  void retire_stream(void* stream, void* successor);

  // A pool of blocks of its own, for a CUDA graph: while a PoolScope is alive,
  // allocations come from the pool; its blocks go back to it when released and are
  // handed to no one else, so the graph's replays can use them; empty_cache() leaves them
  // alone. release_pool() gives the pool's cached blocks back when the graph is gone;
  // those still in use (a parameter's gradient first made in the graph's warm-up) go to
  // the shared cache when released.
  int create_pool();
  void release_pool(int pool);
  // How many blocks the pool has taken from the raw allocator so far.
  size_t pool_raw_allocations(int pool) const;
  // Capture::Yes: a CUDA graph capture is under way, in which cudaFree would end the
  // capture: memory that runs out is then reported as it is, the cache left alone.
  enum class Capture { No, Yes };
  class PoolScope {
   public:
    PoolScope(CachingAllocator& allocator, int pool, Capture capture = Capture::No);
    ~PoolScope();
    PoolScope(const PoolScope&) = delete;
    PoolScope& operator=(const PoolScope&) = delete;

   private:
    CachingAllocator& allocator_;
    int previous_;
    bool previous_capturing_;
  };
  AllocatorStats stats() const;
  void reset_peak();

  // Sizes are rounded up so that blocks of nearby sizes are interchangeable.
  static size_t round_size(size_t bytes);

 private:
  struct Block {
    size_t size;   // rounded
    void* stream;  // the stream it serves
    int pool;      // 0: the shared cache
  };
  using CacheKey = std::pair<void*, int>;  // stream, pool
  void free_cached(int pool);              // with mutex_ held

  RawAllocate raw_allocate_;
  RawFree raw_free_;
  Poison poison_;
  mutable std::mutex mutex_;
  std::map<CacheKey, std::multimap<size_t, void*>> cached_;  // rounded size -> block
  std::unordered_map<void*, Block> in_use_;
  AllocatorStats stats_;
  int current_pool_ = 0;
  bool capturing_ = false;
  int pools_created_ = 0;
  std::map<int, size_t> pool_raw_allocations_;
};

// The process-wide allocator of a CUDA (current GPU) or emulated device's memory.
CachingAllocator& allocator_for(Device device);

// 64-byte aligned host memory.
void* cpu_allocate(size_t bytes);
void cpu_free(void* p);
// Host memory cpu_allocate has handed out and cpu_free not yet taken back, and its peak
// since cpu_reset_peak: how a step's memory is measured.
size_t cpu_bytes_in_use();
size_t cpu_peak_bytes_in_use();
void cpu_reset_peak();

}  // namespace cyg
