// Every CUDA kernel, run on the CPU through the emulation shim (the unchanged .cu
// sources), against its CPU reference; each case in normal and reversed thread order.
#include <functional>
#include <vector>

#include "kernels/emu/emu.h"

namespace {

template <typename T>
class Buffer {
 public:
  explicit Buffer(std::vector<T> host) : data_(std::move(host)) {}
  T* ptr() { return data_.data(); }
  std::vector<T> download() const { return data_; }

 private:
  std::vector<T> data_;
};

struct ThreadOrder {
  const char* name;
  std::function<void()> apply;
};

const std::vector<ThreadOrder>& thread_orders() {
  static const std::vector<ThreadOrder> orders = {
      {"forward", [] { cyg::emu::set_reverse_order(false); }},
      {"reversed", [] { cyg::emu::set_reverse_order(true); }},
  };
  return orders;
}

}  // namespace

#define KNS cyg::emu
#define KSUITE(name) Emulated##name
#define KREAL_GPU 0
#define BACKEND_READY() (void)0
#include "tests/kernels/all_cases.inc"
