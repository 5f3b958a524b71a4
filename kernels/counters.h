// What the device is asked to do, counted when it is asked: each kernel launch by name,
// the bytes each launch wrapper declares it reads and writes, cuDNN/cuBLAS calls with
// their FLOPs, copies by direction, host<->device synchronisations and allocations that
// reach the runtime. Counting is off until a benchmark turns it on around the work it
// measures; off, each call costs one relaxed atomic load. Counts are taken when work is
// queued, so they are the same whether the work then runs or not (the emulated device
// can skip running it, for full-size shapes).
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace cyg {

struct Traffic {
  uint64_t calls = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
};

struct LibraryCalls {
  uint64_t calls = 0;
  double flops = 0;
};

enum class CopyDirection { HostToDevice, DeviceToHost, DeviceToDevice };

struct DeviceCounts {
  std::map<std::string, uint64_t> launches;    // by kernel
  std::map<std::string, Traffic> traffic;      // by launch wrapper
  std::map<std::string, LibraryCalls> library; // by call
  uint64_t copies[3] = {0, 0, 0};              // by CopyDirection
  uint64_t copy_bytes[3] = {0, 0, 0};
  uint64_t synchronizations = 0;               // the host waited for the device
  uint64_t allocations = 0;                    // device memory from the runtime
  uint64_t allocated_bytes = 0;

  uint64_t total_launches() const;
  uint64_t total_library_calls() const;
  Traffic total_traffic() const;
};

void set_counting(bool on);
bool counting();
void reset_counts();
DeviceCounts device_counts();

void count_launch(const char* kernel);
void count_traffic(const char* wrapper, uint64_t bytes_read, uint64_t bytes_written);
void count_library_call(const char* name, double flops);
void count_copy(CopyDirection direction, uint64_t bytes);
void count_synchronization();
void count_allocation(uint64_t bytes);

}  // namespace cyg
