// fill, CPU reference.
#include "kernels/fill.h"

#include "kernels/error.h"

namespace cyg {
namespace {
template <typename U>
void fill_typed(U* dst, int64_t n, U value) {
  for (int64_t i = 0; i < n; ++i) dst[i] = value;
}
}  // namespace

void fill_cpu(void* dst, int64_t n, int elem_size, uint64_t bits) {
  switch (elem_size) {
    case 1: return fill_typed(static_cast<uint8_t*>(dst), n, static_cast<uint8_t>(bits));
    case 2: return fill_typed(static_cast<uint16_t*>(dst), n, static_cast<uint16_t>(bits));
    case 4: return fill_typed(static_cast<uint32_t*>(dst), n, static_cast<uint32_t>(bits));
    case 8: return fill_typed(static_cast<uint64_t*>(dst), n, bits);
  }
  CYG_CHECK(false, "fill: element size ", elem_size, " is not 1, 2, 4 or 8 bytes");
}

}  // namespace cyg
