// Conversions between double and each element type, for fill and for reading values back.
#include "engine/dtype.h"

#include <cstring>

#include "kernels/common.h"

namespace cyg {

uint64_t dtype_bits(DType t, double value) {
  switch (t) {
    case DType::F32: return float_to_bits(static_cast<float>(value));
    case DType::BF16: return float_to_bf16(static_cast<float>(value));
    case DType::I32: return static_cast<uint32_t>(static_cast<int32_t>(value));
    case DType::I64: return static_cast<uint64_t>(static_cast<int64_t>(value));
    case DType::U8: return static_cast<uint8_t>(value);
  }
  return 0;
}

double dtype_load(DType t, const void* p) {
  switch (t) {
    case DType::F32: return *static_cast<const float*>(p);
    case DType::BF16: return bf16_to_float(*static_cast<const uint16_t*>(p));
    case DType::I32: return *static_cast<const int32_t*>(p);
    case DType::I64: return static_cast<double>(*static_cast<const int64_t*>(p));
    case DType::U8: return *static_cast<const uint8_t*>(p);
  }
  return 0.0;
}

}  // namespace cyg
