// Element types of a tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace cyg {

enum class DType { F32, BF16, I32, I64, U8 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U8: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
    case DType::U8: return "u8";
  }
  return "?";
}

// The raw bits of `value` stored as an element of type t (what fill writes).
uint64_t dtype_bits(DType t, double value);
// The value of an element of type t held at p (for printing and tests).
double dtype_load(DType t, const void* p);

}  // namespace cyg
