#include "engine/multi_tensor.h"

#include <cstring>

namespace cyg {

namespace {
// A copy of host records in `device`'s memory.
template <typename T>
Tensor upload_records(const std::vector<T>& records, Device device) {
  Tensor host = Tensor::empty({static_cast<int64_t>(records.size() * sizeof(T))}, DType::U8);
  if (!records.empty()) std::memcpy(host.data_ptr(), records.data(), records.size() * sizeof(T));
  return host.to(device);
}
}  // namespace

MultiTensorTable::OnDevice MultiTensorTable::on_device() {
  const bool same = slots_.size() == uploaded_slots_.size() &&
                    std::memcmp(slots_.data(), uploaded_slots_.data(), slots_.size() * sizeof(TensorSlot)) == 0;
  if (!same) {
    const std::vector<TensorChunk> chunks = make_chunks(slots_.data(), static_cast<int>(slots_.size()), kChunkElems);
    device_slots_ = upload_records(slots_, device_);
    device_chunks_ = upload_records(chunks, device_);
    num_chunks_ = static_cast<int64_t>(chunks.size());
    uploaded_slots_ = slots_;
  }
  return {static_cast<const TensorSlot*>(device_slots_.data_ptr()),
          static_cast<const TensorChunk*>(device_chunks_.data_ptr()), num_chunks_};
}

}  // namespace cyg
