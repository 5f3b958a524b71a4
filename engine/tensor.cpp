// Tensor: views, layout conversion, device transfer, casts and printing. Element work
// goes through the kernels (fill, copy, cast) on the tensor's device.
#include "engine/tensor.h"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <limits>
#include <sstream>

#include "engine/allocator.h"
#include "engine/dispatch.h"
#include "engine/random.h"
#include "engine/runtime.h"
#include "engine/stream.h"
#include "kernels/error.h"

namespace cyg {

// ---- Storage ----

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = device.is_cpu() ? cpu_allocate(nbytes) : allocator_for(device).allocate(nbytes, current_stream(device));
}

Storage::~Storage() {
  if (device_.is_cpu()) {
    cpu_free(data_);
  } else {
    allocator_for(device_).release(data_);
  }
}

// ---- shapes ----

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    CYG_CHECK(s >= 0, "negative size in shape ", shape_str(shape));
    CYG_CHECK(s == 0 || n <= std::numeric_limits<int64_t>::max() / s, "shape ", shape_str(shape),
              " has more elements than a 64-bit count holds");
    n *= s;
  }
  return n;
}

std::vector<int64_t> contiguous_strides(const Shape& shape, MemoryFormat format) {
  shape_numel(shape);  // sizes non-negative
  // A product of inner sizes, checked: with a zero size elsewhere the element count
  // fits while a stride might not. The outermost size never enters a stride.
  auto times = [&](int64_t a, int64_t b) {
    CYG_CHECK(b == 0 || a <= std::numeric_limits<int64_t>::max() / b, "shape ", shape_str(shape),
              " has strides larger than a 64-bit count holds");
    return a * b;
  };
  std::vector<int64_t> strides(shape.size());
  if (format == MemoryFormat::ChannelsLast) {
    CYG_CHECK(shape.size() == 4, "channels-last needs a 4-D shape, got ", shape_str(shape));
    const int64_t c = shape[1], h = shape[2], w = shape[3];
    const int64_t wc = times(w, c);
    return {times(h, wc), 1, wc, c};
  }
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    if (i > 0) s = times(s, shape[i]);
  }
  return strides;
}

// ---- creation ----

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, MemoryFormat format) {
  for (int64_t s : shape) CYG_CHECK(s >= 0, "negative size in shape ", shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape, format);
  t.dtype_ = dtype;
  const int64_t numel = shape_numel(shape);
  // 2^46 bytes (64 TiB) is beyond any machine's memory: a size past it is a mistake, and
  // its byte count must not wrap.
  CYG_CHECK(numel <= (int64_t(1) << 46) / static_cast<int64_t>(dtype_size(dtype)), "a ", dtype_name(dtype),
            " tensor of shape ", shape_str(shape), " (", numel, " elements) is larger than any memory");
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(numel) * dtype_size(dtype), device);
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

namespace {
template <typename T>
Tensor tensor_of(const std::vector<T>& values, const Shape& shape, DType dtype, Device device) {
  CYG_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
            " values for shape ", shape_str(shape));
  Tensor t = Tensor::empty(shape, dtype, Device::cpu());
  if (!values.empty()) std::memcpy(t.data_ptr(), values.data(), values.size() * sizeof(T));
  return t.to(device);
}
}  // namespace

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  return tensor_of(values, shape, DType::F32, device);
}

Tensor Tensor::from_vector_i32(const std::vector<int32_t>& values, const Shape& shape, Device device) {
  return tensor_of(values, shape, DType::I32, device);
}

namespace {
Tensor random_tensor(const Shape& shape, DType dtype, Device device, float (*draw)(uint64_t, uint64_t), double a,
                     double b, uint64_t seed) {
  CYG_CHECK(dtype == DType::F32 || dtype == DType::BF16, "random init needs a floating dtype, got ",
            dtype_name(dtype));
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(a + b * draw(seed, i));
  return Tensor::from_vector(v, shape).to(dtype).to(device);
}
}  // namespace

Tensor Tensor::uniform(const Shape& shape, double low, double high, uint64_t seed, DType dtype, Device device) {
  CYG_CHECK(low <= high, "uniform: low ", low, " > high ", high);
  return random_tensor(shape, dtype, device, random_uniform01, low, high - low, seed);
}

Tensor Tensor::normal(const Shape& shape, double mean, double stddev, uint64_t seed, DType dtype, Device device) {
  CYG_CHECK(stddev >= 0, "normal: negative standard deviation ", stddev);
  return random_tensor(shape, dtype, device, random_normal, mean, stddev, seed);
}

// ---- properties ----

int64_t Tensor::size(int64_t d) const {
  const int64_t n = dim();
  if (d < 0) d += n;
  CYG_CHECK(d >= 0 && d < n, "dimension ", d, " out of range for a ", n, "-D tensor");
  return shape_[static_cast<size_t>(d)];
}

bool Tensor::is_contiguous(MemoryFormat format) const {
  if (format == MemoryFormat::ChannelsLast && dim() != 4) return false;
  const std::vector<int64_t> expected = contiguous_strides(shape_, format);
  for (size_t i = 0; i < shape_.size(); ++i)
    if (shape_[i] != 1 && strides_[i] != expected[i]) return false;
  return true;
}

bool Tensor::is_dense() const {
  return is_contiguous(MemoryFormat::Contiguous) || is_contiguous(MemoryFormat::ChannelsLast);
}

MemoryFormat Tensor::memory_format() const {
  return !is_contiguous(MemoryFormat::Contiguous) && is_contiguous(MemoryFormat::ChannelsLast)
             ? MemoryFormat::ChannelsLast
             : MemoryFormat::Contiguous;
}

void* Tensor::data_ptr() const {
  CYG_CHECK(defined(), "data of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

namespace {
template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::F32; }
template <>
constexpr DType dtype_of<uint16_t>() { return DType::BF16; }
template <>
constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <>
constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <>
constexpr DType dtype_of<uint8_t>() { return DType::U8; }
}  // namespace

template <typename T>
T* Tensor::data() const {
  CYG_CHECK(dtype_ == dtype_of<T>(), "data<", dtype_name(dtype_of<T>()), ">() of a ", dtype_name(dtype_), " tensor");
  return static_cast<T*>(data_ptr());
}
template float* Tensor::data<float>() const;
template uint16_t* Tensor::data<uint16_t>() const;
template int32_t* Tensor::data<int32_t>() const;
template int64_t* Tensor::data<int64_t>() const;
template uint8_t* Tensor::data<uint8_t>() const;

// ---- views ----

Tensor Tensor::reshape(const Shape& shape) const {
  Shape resolved = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      CYG_CHECK(infer < 0, "reshape to ", shape_str(shape), ": more than one -1");
      infer = static_cast<int64_t>(i);
    } else {
      CYG_CHECK(resolved[i] >= 0, "reshape to ", shape_str(shape), ": negative size");
      known *= resolved[i];
    }
  }
  if (infer >= 0) {
    CYG_CHECK(known > 0 && numel() % known == 0, "reshape of ", shape_str(shape_), " to ", shape_str(shape),
              ": sizes do not divide");
    resolved[static_cast<size_t>(infer)] = numel() / known;
  }
  CYG_CHECK(shape_numel(resolved) == numel(), "reshape of ", shape_str(shape_), " (", numel(), " elements) to ",
            shape_str(shape));
  if (!is_contiguous()) return contiguous().reshape(resolved);
  Tensor t = *this;
  t.shape_ = resolved;
  t.strides_ = contiguous_strides(resolved);
  return t;
}

Tensor Tensor::slice(int64_t start, int64_t end) const {
  CYG_CHECK(dim() >= 1, "slice of a 0-D tensor");
  CYG_CHECK(0 <= start && start <= end && end <= shape_[0], "slice [", start, ", ", end, ") out of range for size ",
            shape_[0]);
  Tensor t = *this;
  t.offset_ += start * strides_[0];
  t.shape_[0] = end - start;
  return t;
}

Tensor Tensor::operator[](int64_t i) const {
  CYG_CHECK(dim() >= 1 && i >= 0 && i < shape_[0], "index ", i, " out of range for shape ", shape_str(shape_));
  Tensor t = slice(i, i + 1);
  t.shape_.erase(t.shape_.begin());
  t.strides_.erase(t.strides_.begin());
  return t;
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  CYG_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute of a ", dim(), "-D tensor with ", dims.size(),
            " dimensions");
  std::vector<bool> seen(dims.size(), false);
  Tensor t = *this;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = dims[i];
    CYG_CHECK(d >= 0 && d < dim() && !seen[static_cast<size_t>(d)], "permute: ", d,
              " is not an unused dimension of a ", dim(), "-D tensor");
    seen[static_cast<size_t>(d)] = true;
    t.shape_[i] = shape_[static_cast<size_t>(d)];
    t.strides_[i] = strides_[static_cast<size_t>(d)];
  }
  return t;
}

Tensor Tensor::as_strided(const Shape& shape, const std::vector<int64_t>& strides, int64_t offset) const {
  CYG_CHECK(defined(), "as_strided of an undefined tensor");
  CYG_CHECK(shape.size() == strides.size(), "as_strided: ", shape.size(), " sizes and ", strides.size(), " strides");
  int64_t lowest = offset_ + offset, highest = offset_ + offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    CYG_CHECK(shape[i] >= 0, "as_strided: negative size in ", shape_str(shape));
    if (shape[i] == 0) return empty(shape, dtype_, device());
    const int64_t reach = (shape[i] - 1) * strides[i];
    (reach < 0 ? lowest : highest) += reach;
  }
  const int64_t capacity = static_cast<int64_t>(storage_->nbytes() / dtype_size(dtype_));
  CYG_CHECK(lowest >= 0 && highest < capacity, "as_strided view ", shape_str(shape), " reaches outside the storage");
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = strides;
  t.offset_ = offset_ + offset;
  return t;
}

// ---- copies ----

namespace {
// dst and src: same shape, dtype and device.
void copy_same_device(const Tensor& src, const Tensor& dst) {
  const int64_t n = src.numel();
  if (n == 0) return;
  const int elem = static_cast<int>(dtype_size(src.dtype()));
  const Kernels& kernels = kernels_for(dst);
  if (src.is_dense() && dst.is_dense() && src.strides() == dst.strides()) {
    kernels.copy_dense(dst.data_ptr(), src.data_ptr(), src.nbytes());
    return;
  }
  CYG_CHECK(src.dim() <= kMaxDims, "copy of a ", src.dim(), "-D tensor: at most ", kMaxDims, " dimensions");
  StridedLayout layout;
  layout.ndim = static_cast<int>(src.dim());
  for (int k = 0; k < layout.ndim; ++k) {
    layout.sizes[k] = src.shape()[static_cast<size_t>(k)];
    layout.src_strides[k] = src.strides()[static_cast<size_t>(k)];
    layout.dst_strides[k] = dst.strides()[static_cast<size_t>(k)];
  }
  kernels.copy_strided(src.data_ptr(), dst.data_ptr(), n, elem, layout);
}
}  // namespace

Tensor Tensor::contiguous(MemoryFormat format) const {
  if (is_contiguous(format)) return *this;
  Tensor out = empty(shape_, dtype_, device(), format);
  copy_same_device(*this, out);
  return out;
}

Tensor Tensor::to(Device target) const {
  CYG_CHECK(defined(), "to() of an undefined tensor");
  if (device() == target) return *this;
  CYG_CHECK(device().is_cpu() || target.is_cpu(), "copy from ", device().str(), " to ", target.str(),
            ": copies go between the host and one device");
  const Tensor src = is_dense() ? *this : contiguous();
  Tensor out = empty(shape_, dtype_, target, src.memory_format());
  if (src.nbytes() == 0) return out;
  // The device side's runtime and stream carry the copy.
  const Device device = target.is_cpu() ? src.device() : target;
  runtime_for(device).memcpy(out.data_ptr(), src.data_ptr(), src.nbytes(),
                             target.is_cpu() ? CopyKind::DeviceToHost : CopyKind::HostToDevice,
                             current_stream(device));
  return out;
}

Tensor Tensor::to(DType target) const {
  if (dtype_ == target) return *this;
  const bool to_bf16 = dtype_ == DType::F32 && target == DType::BF16;
  const bool to_f32 = dtype_ == DType::BF16 && target == DType::F32;
  CYG_CHECK(to_bf16 || to_f32, "cast from ", dtype_name(dtype_), " to ", dtype_name(target), " is not supported");
  // A dense tensor keeps its layout (channels-last stays channels-last): the cast is
  // element by element in memory order.
  const Tensor src = is_dense() ? *this : contiguous();
  Tensor out = empty(shape_, target, device(), src.memory_format());
  const int64_t n = numel();
  const Kernels& k = kernels_for(out);
  if (to_bf16) {
    k.cast_f32_to_bf16(src.data<float>(), out.data<uint16_t>(), n);
  } else {
    k.cast_bf16_to_f32(src.data<uint16_t>(), out.data<float>(), n);
  }
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, dtype_, device(), memory_format());
  copy_same_device(*this, out);
  return out;
}

Tensor& Tensor::copy_(const Tensor& src) {
  CYG_CHECK(defined() && src.defined(), "copy_ with an undefined tensor");
  CYG_CHECK(shape_ == src.shape_, "copy_ of shape ", shape_str(src.shape_), " into shape ", shape_str(shape_));
  // A source sharing this tensor's storage could be overwritten while it is read.
  const Tensor source = src.shares_storage(*this) ? src.clone() : src;
  const Tensor converted = source.to(dtype_).to(device());
  copy_same_device(converted, *this);
  storage_->bump_version();
  return *this;
}

Tensor& Tensor::fill_(double value) {
  CYG_CHECK(defined(), "fill_ of an undefined tensor");
  if (!is_dense()) return copy_(full(shape_, value, dtype_, device()));
  const uint64_t bits = dtype_bits(dtype_, value);
  const int elem = static_cast<int>(dtype_size(dtype_));
  kernels_for(*this).fill(data_ptr(), numel(), elem, bits);
  storage_->bump_version();
  return *this;
}

// ---- reading back ----

std::vector<float> Tensor::to_vector() const {
  const Tensor host = to(Device::cpu()).contiguous();
  std::vector<float> v(static_cast<size_t>(host.numel()));
  const char* p = static_cast<const char*>(host.data_ptr());
  const size_t elem = dtype_size(dtype_);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(dtype_load(dtype_, p + i * elem));
  return v;
}

double Tensor::item() const {
  CYG_CHECK(numel() == 1, "item() of a tensor with ", numel(), " elements");
  const Tensor host = to(Device::cpu());
  return dtype_load(dtype_, host.data_ptr());
}

namespace {
constexpr int64_t kEdgeItems = 3;  // printed at each end of a long dimension

void print_values(std::ostream& os, const std::vector<double>& v, const Shape& shape, size_t d, int64_t base,
                  bool integral, int indent) {
  if (shape.empty()) {
    os << v[0];
    return;
  }
  const int64_t n = shape[d];
  int64_t inner = 1;
  for (size_t k = d + 1; k < shape.size(); ++k) inner *= shape[k];
  os << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (n > 2 * kEdgeItems && i == kEdgeItems) {
      os << (d + 1 == shape.size() ? "..., " : "...,\n" + std::string(static_cast<size_t>(indent + 1), ' '));
      i = n - kEdgeItems;
    }
    if (d + 1 == shape.size()) {
      const double x = v[static_cast<size_t>(base + i)];
      if (integral) {
        os << static_cast<int64_t>(x);
      } else {
        os << std::fixed << std::setprecision(4) << x;
      }
    } else {
      print_values(os, v, shape, d + 1, base + i * inner, integral, indent + 1);
    }
    if (i + 1 < n) os << (d + 1 == shape.size() ? ", " : ",\n" + std::string(static_cast<size_t>(indent + 1), ' '));
  }
  os << "]";
}
}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  const std::vector<float> f = to_vector();
  const std::vector<double> v(f.begin(), f.end());
  const bool integral = dtype_ == DType::I32 || dtype_ == DType::I64 || dtype_ == DType::U8;
  std::ostringstream os;
  os << "tensor(";
  if (numel() == 0) {
    os << "[]";
  } else {
    print_values(os, v, shape_, 0, 0, integral, 7);
  }
  os << ", shape=" << shape_str(shape_) << ", dtype=" << dtype_name(dtype_) << ", device=" << device().str();
  if (memory_format() == MemoryFormat::ChannelsLast) os << ", channels_last";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace cyg
