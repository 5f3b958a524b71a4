#include "engine/multi_tensor.h"

#include <cstring>

#include "engine/runtime.h"
#include "engine/stream.h"

namespace cyg {

namespace {
// Field by field: the records have padding, whose bytes are not the same from one
// step's table to the next.
bool same_tensors(const TensorSlot& a, const TensorSlot& b) {
  return a.param == b.param && a.grad == b.grad && a.state1 == b.state1 && a.state2 == b.state2 &&
         a.numel == b.numel && a.weight_decay_scale == b.weight_decay_scale && a.param_bf16 == b.param_bf16 &&
         a.bf16_channels == b.bf16_channels && a.bf16_area == b.bf16_area &&
         a.bf16_row_channels == b.bf16_row_channels;
}

bool same_tensors(const std::vector<TensorSlot>& a, const std::vector<TensorSlot>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same_tensors(a[i], b[i])) return false;
  return true;
}

// A copy of host records in `device`'s memory.
template <typename T>
Tensor upload_records(const std::vector<T>& records, Device device) {
  Tensor host = Tensor::empty({static_cast<int64_t>(records.size() * sizeof(T))}, DType::U8);
  if (!records.empty()) std::memcpy(host.data_ptr(), records.data(), records.size() * sizeof(T));
  return host.to(device);
}
}  // namespace

void MultiTensorTable::upload() {
  if (!same_tensors(slots_, uploaded_slots_)) {
    const std::vector<TensorChunk> chunks = make_chunks(slots_.data(), static_cast<int>(slots_.size()), kChunkElems);
    device_slots_ = upload_records(slots_, device_);
    device_chunks_ = upload_records(chunks, device_);
    num_chunks_ = static_cast<int64_t>(chunks.size());
    uploaded_slots_ = slots_;
  }
  // A buffer that keeps its address, written in place every step.
  if (!device_hyper_.defined() || device_hyper_.numel() != static_cast<int64_t>(hyper_.size()))
    device_hyper_ = Tensor::empty({static_cast<int64_t>(hyper_.size())}, DType::U8, device_);
  runtime_for(device_).memcpy(device_hyper_.data_ptr(), hyper_.data(), hyper_.size(), CopyKind::HostToDevice,
                              current_stream(device_));
}

MultiTensorTable::OnDevice MultiTensorTable::on_device() const {
  CYG_CHECK(device_hyper_.defined() && same_tensors(slots_, uploaded_slots_),
            "the optimizer's tables are not on the device: upload() first");
  return {static_cast<const TensorSlot*>(device_slots_.data_ptr()),
          static_cast<const TensorChunk*>(device_chunks_.data_ptr()), num_chunks_, device_hyper_.data_ptr()};
}

}  // namespace cyg
