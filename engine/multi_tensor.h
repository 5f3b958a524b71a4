// The tensors one fused optimizer launch updates: a slot per parameter (its values,
// gradient and state buffers) and, for a GPU, the same slots with their chunks in
// device memory, uploaded again only when a pointer changes.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"
#include "kernels/optim.h"

namespace cyg {

class MultiTensorTable {
 public:
  // The elements one GPU work item updates.
  static constexpr int64_t kChunkElems = 16384;

  explicit MultiTensorTable(Device device) : device_(device) {}

  void set_slots(std::vector<TensorSlot> slots) { slots_ = std::move(slots); }
  const std::vector<TensorSlot>& slots() const { return slots_; }

  // The slots and their chunks in the device's memory.
  struct OnDevice {
    const TensorSlot* slots;
    const TensorChunk* chunks;
    int64_t num_chunks;
  };
  OnDevice on_device();

 private:
  Device device_;
  std::vector<TensorSlot> slots_;
  std::vector<TensorSlot> uploaded_slots_;
  Tensor device_slots_, device_chunks_;
  int64_t num_chunks_ = 0;
};

}  // namespace cyg
