// The tensors one fused optimizer launch updates, and the step's hyperparameters: a slot
// per parameter (its values, gradient and state buffers) and, for a device, the same
// slots with their chunks in device memory, uploaded again only when a pointer changes,
// and the hyperparameters in device memory, uploaded every step (one small copy), so the
// launch itself takes nothing that changes: a CUDA graph can replay it.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"
#include "kernels/error.h"
#include "kernels/optim.h"

namespace cyg {

class MultiTensorTable {
 public:
  // The elements one GPU work item updates.
  static constexpr int64_t kChunkElems = 16384;

  explicit MultiTensorTable(Device device) : device_(device) {}

  // This step's tensors and hyperparameters (an SgdHyper or AdamHyper), on the host.
  template <typename Hyper>
  void set(std::vector<TensorSlot> slots, const Hyper& hyper) {
    slots_ = std::move(slots);
    hyper_.resize(sizeof(Hyper));
    std::memcpy(hyper_.data(), &hyper, sizeof(Hyper));
  }
  const std::vector<TensorSlot>& slots() const { return slots_; }
  template <typename Hyper>
  Hyper hyper() const {
    CYG_CHECK(hyper_.size() == sizeof(Hyper), "the tensor table holds other hyperparameters");
    Hyper h;
    std::memcpy(&h, hyper_.data(), sizeof(Hyper));
    return h;
  }

  // Puts this step's tables and hyperparameters into device memory (outside a graph
  // capture: a copy from host memory cannot be captured).
  void upload();

  // What upload() put in the device's memory.
  struct OnDevice {
    const TensorSlot* slots;
    const TensorChunk* chunks;
    int64_t num_chunks;
    const void* hyper;
  };
  OnDevice on_device() const;

 private:
  Device device_;
  std::vector<TensorSlot> slots_;
  std::vector<unsigned char> hyper_;
  std::vector<TensorSlot> uploaded_slots_;
  Tensor device_slots_, device_chunks_, device_hyper_;
  int64_t num_chunks_ = 0;
};

}  // namespace cyg
