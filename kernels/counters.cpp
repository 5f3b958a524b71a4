#include "kernels/counters.h"

#include <atomic>
#include <mutex>

namespace cyg {

namespace {
std::atomic<bool> g_counting{false};

std::mutex& counts_mutex() {
  static std::mutex m;
  return m;
}

DeviceCounts& counts() {
  static DeviceCounts c;
  return c;
}
}  // namespace

uint64_t DeviceCounts::total_launches() const {
  uint64_t n = 0;
  for (const auto& [name, calls] : launches) n += calls;
  return n;
}

uint64_t DeviceCounts::total_library_calls() const {
  uint64_t n = 0;
  for (const auto& [name, calls] : library) n += calls.calls;
  return n;
}

Traffic DeviceCounts::total_traffic() const {
  Traffic t;
  for (const auto& [name, w] : traffic) {
    t.calls += w.calls;
    t.bytes_read += w.bytes_read;
    t.bytes_written += w.bytes_written;
  }
  return t;
}

void set_counting(bool on) { g_counting.store(on, std::memory_order_relaxed); }
bool counting() { return g_counting.load(std::memory_order_relaxed); }

void reset_counts() {
  std::lock_guard<std::mutex> lock(counts_mutex());
  counts() = DeviceCounts();
}

DeviceCounts device_counts() {
  std::lock_guard<std::mutex> lock(counts_mutex());
  return counts();
}

void count_launch(const char* kernel) {
  if (!counting()) return;
  std::lock_guard<std::mutex> lock(counts_mutex());
  ++counts().launches[kernel];
}

void count_traffic(const char* wrapper, uint64_t bytes_read, uint64_t bytes_written) {
  if (!counting()) return;
  std::lock_guard<std::mutex> lock(counts_mutex());
  Traffic& t = counts().traffic[wrapper];
  ++t.calls;
  t.bytes_read += bytes_read;
  t.bytes_written += bytes_written;
}

void count_library_call(const char* name, double flops) {
  if (!counting()) return;
  std::lock_guard<std::mutex> lock(counts_mutex());
  LibraryCalls& l = counts().library[name];
  ++l.calls;
  l.flops += flops;
}

void count_copy(CopyDirection direction, uint64_t bytes) {
  if (!counting()) return;
  std::lock_guard<std::mutex> lock(counts_mutex());
  ++counts().copies[static_cast<int>(direction)];
  counts().copy_bytes[static_cast<int>(direction)] += bytes;
}

void count_synchronization() {
  if (!counting()) return;
  std::lock_guard<std::mutex> lock(counts_mutex());
  ++counts().synchronizations;
}

void count_allocation(uint64_t bytes) {
  if (!counting()) return;
  std::lock_guard<std::mutex> lock(counts_mutex());
  ++counts().allocations;
  counts().allocated_bytes += bytes;
}

}  // namespace cyg
