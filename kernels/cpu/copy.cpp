// copy between strided layouts, CPU reference.
#include "kernels/copy.h"

#include "kernels/error.h"

namespace cyg {
namespace {
template <typename U>
void copy_typed(const U* src, U* dst, int64_t n, const StridedLayout& layout) {
  for (int64_t i = 0; i < n; ++i) {
    int64_t s, d;
    strided_offsets(layout, i, &s, &d);
    dst[d] = src[s];
  }
}
}  // namespace

void copy_strided_cpu(const void* src, void* dst, int64_t n, int elem_size, const StridedLayout& layout) {
  switch (elem_size) {
    case 1: return copy_typed(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), n, layout);
    case 2: return copy_typed(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), n, layout);
    case 4: return copy_typed(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), n, layout);
    case 8: return copy_typed(static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst), n, layout);
  }
  CYG_CHECK(false, "copy: element size ", elem_size, " is not 1, 2, 4 or 8 bytes");
}

}  // namespace cyg
