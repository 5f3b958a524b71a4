// Devices (CPU, CUDA), what a CUDA device is, and the raw CUDA runtime calls the
// engine needs. A binary built with CUDA runs on a machine without GPU or driver:
// cuda_available() then answers false, and only CUDA tensors are refused.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace cyg {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && (type == DeviceType::CPU || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

// "cpu", "cuda", "cuda:N", or "auto" (CUDA when a GPU answers, else the CPU).
Device parse_device(const std::string& spec);

// True when this build has the CUDA backend.
bool built_with_cuda();
// True when the CUDA backend is built and at least one GPU answers. Never throws.
bool cuda_available();
int cuda_device_count();
// Why cuda_available() is false ("built without CUDA", the runtime's message, ...).
std::string cuda_unavailable_reason();

struct CudaDeviceInfo {
  std::string name;
  int compute_major = 0, compute_minor = 0;
  int multiprocessors = 0;
  size_t total_memory = 0;
  int driver_version = 0;   // e.g. 13000
  int runtime_version = 0;  // e.g. 13000
};
CudaDeviceInfo cuda_device_info(int index = 0);
// "CUDA runtime 13.0, cuDNN 9.x.y, cuBLAS 13.x.y" (what this build runs with), or
// "built without CUDA". Needs no GPU.
std::string cuda_library_versions();

// Raw CUDA runtime calls (checked; they throw cyg::Error, and in a build without CUDA
// they throw "built without CUDA").
namespace rt {
void* cuda_malloc(size_t bytes);
void cuda_free(void* p);
enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
void cuda_memcpy(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream = nullptr);
void cuda_synchronize();
void cuda_set_device(int index);
void* cuda_stream_create();
void cuda_stream_destroy(void* stream);
void cuda_stream_synchronize(void* stream);
}  // namespace rt

}  // namespace cyg
