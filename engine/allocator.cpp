// The caching allocator: best fit among cached blocks of at most twice the request,
// else a new raw block; when the raw allocator fails, the cache is emptied and the
// allocation tried once more.
#include "engine/allocator.h"

#include <cstdlib>

#include "kernels/error.h"

namespace cyg {

namespace {
constexpr size_t kSmallLimit = size_t(1) << 20;  // below: 512-byte steps
constexpr size_t kSmallStep = 512;
constexpr size_t kLargeStep = size_t(2) << 20;  // above: 2 MiB steps
}  // namespace

CachingAllocator::CachingAllocator(RawAllocate raw_allocate, RawFree raw_free)
    : raw_allocate_(std::move(raw_allocate)), raw_free_(std::move(raw_free)) {}

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

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* block = nullptr;
  size_t block_size = size;
  auto it = cached_.lower_bound(size);
  if (it != cached_.end() && it->first <= 2 * size) {
    block = it->second;
    block_size = it->first;
    stats_.bytes_cached -= block_size;
    cached_.erase(it);
    ++stats_.cache_hits;
  } else {
    try {
      block = raw_allocate_(size);
    } catch (const Error&) {
      for (auto& [s, p] : cached_) {
        raw_free_(p);
        ++stats_.raw_frees;
      }
      cached_.clear();
      stats_.bytes_cached = 0;
      block = raw_allocate_(size);
    }
    ++stats_.raw_allocations;
  }
  in_use_[block] = block_size;
  stats_.bytes_in_use += block_size;
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  return block;
}

void CachingAllocator::release(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = in_use_.find(p);
  CYG_CHECK(it != in_use_.end(), "release of a pointer this allocator did not hand out");
  stats_.bytes_in_use -= it->second;
  stats_.bytes_cached += it->second;
  cached_.emplace(it->second, p);
  in_use_.erase(it);
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [size, p] : cached_) {
    raw_free_(p);
    ++stats_.raw_frees;
  }
  cached_.clear();
  stats_.bytes_cached = 0;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
}

CachingAllocator& cuda_allocator() {
  // Never destroyed: freeing device memory during static destruction races the
  // CUDA runtime's own teardown.
  static CachingAllocator* allocator = new CachingAllocator(rt::cuda_malloc, rt::cuda_free);
  return *allocator;
}

void* cpu_allocate(size_t bytes) {
  const size_t size = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, size ? size : 64);
  CYG_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
  return p;
}

void cpu_free(void* p) { std::free(p); }

}  // namespace cyg
