// Every CUDA kernel on a real GPU against its CPU reference; the same cases as the
// emulated tests. Skipped, with the reason, where no GPU answers.
#include <cuda_runtime.h>

#include <functional>
#include <vector>

#include "engine/device.h"
#include "kernels/cuda/check.h"

namespace {

template <typename T>
class Buffer {
 public:
  explicit Buffer(const std::vector<T>& host) : size_(host.size()) {
    CYG_CUDA_CHECK(cudaMalloc(&ptr_, bytes()));
    CYG_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice));
  }
  ~Buffer() { cudaFree(ptr_); }
  Buffer(Buffer&& other) noexcept : ptr_(other.ptr_), size_(other.size_) { other.ptr_ = nullptr; }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  T* ptr() { return static_cast<T*>(ptr_); }
  std::vector<T> download() const {
    CYG_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<T> host(size_);
    CYG_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, bytes(), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  size_t bytes() const { return size_ * sizeof(T) + (size_ == 0); }
  void* ptr_ = nullptr;
  size_t size_;
};

struct ThreadOrder {
  const char* name;
  std::function<void()> apply;
};

// The hardware schedules threads as it will; one pass.
const std::vector<ThreadOrder>& thread_orders() {
  static const std::vector<ThreadOrder> orders = {{"hardware", [] {}}};
  return orders;
}

}  // namespace

#define KNS cyg::cuda
#define KSUITE(name) Gpu##name
#define KREAL_GPU 1
#define BACKEND_READY() \
  if (!cyg::cuda_available()) GTEST_SKIP() << "no GPU answers: " << cyg::cuda_unavailable_reason()
#include "tests/kernels/all_cases.inc"
