// Devices: the CPU, a CUDA GPU, and the emulated CUDA device (the engine's CUDA path on
// the CPU, for testing it where no GPU is: kernels/emu/device.h). What a CUDA device is.
// A binary built with CUDA runs on a machine without GPU or driver: cuda_available()
// then answers false, and only CUDA tensors are refused.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace cyg {

enum class DeviceType { CPU, CUDA, Emu };
constexpr int kDeviceTypes = 3;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static constexpr Device cpu() { return {DeviceType::CPU, 0}; }
  static constexpr Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  static constexpr Device emu() { return {DeviceType::Emu, 0}; }
  constexpr bool is_cpu() const { return type == DeviceType::CPU; }
  constexpr bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && (type != DeviceType::CUDA || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

// "cpu", "cuda", "cuda:N", "emu", or "auto" (CUDA when a GPU answers, else the CPU).
Device parse_device(const std::string& spec);
// Throws for a spec that parse_device could never take (none of the forms above), without
// asking for a GPU: a configuration's device is checked before anything starts.
void check_device_spec(const std::string& spec);

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
  std::string uuid;         // the GPU's UUID in hex: the same GPU however a process numbers it
};
CudaDeviceInfo cuda_device_info(int index = 0);
// "CUDA runtime 13.0, cuDNN 9.x.y, cuBLAS 13.x.y" (what this build runs with), or
// "built without CUDA". Needs no GPU.
std::string cuda_library_versions();

// Makes GPU `index` the one this process uses (cudaSetDevice).
void cuda_set_device(int index);

}  // namespace cyg
