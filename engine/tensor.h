// Tensor: a shape, strides (in elements), a dtype, a device and a reference-counted
// Storage; views (reshape, slice along dim 0) share the storage. 4-D tensors are NCHW
// by default; channels-last (NHWC) is a memory format, i.e. other strides.
#pragma once
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"

namespace cyg {

using Shape = std::vector<int64_t>;

enum class MemoryFormat { Contiguous, ChannelsLast };

// Owns one allocation on one device; gives it back to its allocator when the last
// tensor using it goes away.
class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  // Counts the writes made through Tensor's own in-place methods (copy_, fill_, axpy_),
  // so that a copy kept of the contents (a parameter's bf16 copy) knows it is stale.
  // Kernels writing through raw pointers do not count; an optimizer that updates a
  // parameter says so itself (Variable::value_changed).
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  uint64_t version_ = 0;
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
};

std::string shape_str(const Shape& shape);
int64_t shape_numel(const Shape& shape);
std::vector<int64_t> contiguous_strides(const Shape& shape, MemoryFormat format = MemoryFormat::Contiguous);

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu(),
                      MemoryFormat format = MemoryFormat::Contiguous);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape, Device device = Device::cpu());
  // The same for i32 values (labels, indices); its own name, so that a braced list of
  // numbers still means floats.
  static Tensor from_vector_i32(const std::vector<int32_t>& values, const Shape& shape, Device device = Device::cpu());
  // Seeded; the same seed gives the same values on every device.
  static Tensor uniform(const Shape& shape, double low, double high, uint64_t seed, DType dtype = DType::F32,
                        Device device = Device::cpu());
  static Tensor normal(const Shape& shape, double mean, double stddev, uint64_t seed, DType dtype = DType::F32,
                       Device device = Device::cpu());

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return shape_numel(shape_); }
  int64_t storage_offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous(MemoryFormat format = MemoryFormat::Contiguous) const;
  // Contiguous in either memory format: the elements fill one dense block of storage.
  bool is_dense() const;
  MemoryFormat memory_format() const;
  bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }
  // Whether this tensor is the only one holding its memory (no view, copy or saved
  // tensor shares it), so that writing into it in place changes no other tensor.
  bool sole_owner() const { return storage_ != nullptr && storage_.use_count() == 1; }
  // The storage itself (null when undefined), for its identity and version.
  Storage* storage() const { return storage_.get(); }

  void* data_ptr() const;
  template <typename T>
  T* data() const;

  // Views sharing storage.
  Tensor reshape(const Shape& shape) const;  // copies first when not contiguous; one -1 allowed
  Tensor slice(int64_t start, int64_t end) const;  // along dim 0, [start, end)
  Tensor operator[](int64_t i) const;               // dim 0 removed
  Tensor permute(const std::vector<int64_t>& dims) const;  // dims reordered (strides follow)
  // Any view of this tensor's storage: shape, strides (in elements) and an offset from
  // this tensor's first element. Checked to stay inside the storage.
  Tensor as_strided(const Shape& shape, const std::vector<int64_t>& strides, int64_t offset = 0) const;

  // New storage.
  Tensor contiguous(MemoryFormat format = MemoryFormat::Contiguous) const;  // *this when already so
  Tensor to(Device device) const;                                           // *this when already there
  Tensor to(DType dtype) const;                                             // f32 <-> bf16; *this when same
  Tensor clone() const;

  // In place.
  Tensor& copy_(const Tensor& src);  // same shape; any devices; f32 <-> bf16 converted
  Tensor& fill_(double value);

  std::vector<float> to_vector() const;  // values as float, row-major, any dtype/device
  double item() const;                   // the value of a one-element tensor
  std::string str() const;

 private:
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;
  Shape shape_;
  std::vector<int64_t> strides_;
  DType dtype_ = DType::F32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace cyg
