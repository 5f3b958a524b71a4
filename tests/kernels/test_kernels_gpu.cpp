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
    // At least one byte, so that an empty buffer still has an address; only the values
    // are copied (an empty vector's data() may be null, which cudaMemcpy refuses).
    CYG_CUDA_CHECK(cudaMalloc(&ptr_, bytes() + 1));
    if (bytes() > 0) CYG_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice));
  }
  ~Buffer() { cudaFree(ptr_); }
  Buffer(Buffer&& other) noexcept : ptr_(other.ptr_), size_(other.size_) { other.ptr_ = nullptr; }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  T* ptr() { return static_cast<T*>(ptr_); }
  std::vector<T> download() const {
    CYG_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<T> host(size_);
    if (bytes() > 0) CYG_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, bytes(), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  size_t bytes() const { return size_ * sizeof(T); }
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

// A failed runtime call that CYG_CUDA_CHECK turns into an error does not stay behind as
// the runtime's last error, where the next launch check would report it as its own.
TEST(GpuLibraryErrors, AFailedCallLeavesNoErrorForTheNextLaunchCheck) {
  BACKEND_READY();
  void* device = nullptr;
  CYG_CUDA_CHECK(cudaMalloc(&device, 16));
  EXPECT_THROW(CYG_CUDA_CHECK(cudaMemcpy(device, nullptr, 16, cudaMemcpyHostToDevice)), cyg::Error);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  CYG_CUDA_CHECK(cudaFree(device));
}
