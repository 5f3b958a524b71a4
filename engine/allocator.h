// Memory for tensors. CUDA memory comes from a caching allocator: freed blocks are kept
// and handed out again, so a training step in steady state makes no cudaMalloc or
// cudaFree call. The cache is generic over the raw allocator so it is tested anywhere.
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

  CachingAllocator(RawAllocate raw_allocate, RawFree raw_free);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t bytes);
  void release(void* p);
  // Gives every cached block back to the raw allocator.
  void empty_cache();
  AllocatorStats stats() const;
  void reset_peak();

  // Sizes are rounded up so that blocks of nearby sizes are interchangeable.
  static size_t round_size(size_t bytes);

 private:
  RawAllocate raw_allocate_;
  RawFree raw_free_;
  mutable std::mutex mutex_;
  std::multimap<size_t, void*> cached_;        // rounded size -> block
  std::unordered_map<void*, size_t> in_use_;  // block -> rounded size
  AllocatorStats stats_;
};

// The process-wide allocator of CUDA memory (current device).
CachingAllocator& cuda_allocator();

// 64-byte aligned host memory.
void* cpu_allocate(size_t bytes);
void cpu_free(void* p);

}  // namespace cyg
