// 16-byte accesses for the memory-bound kernels: V consecutive values of S (8 bf16 or 4
// f32) read or written as one, where every pointer a kernel touches is 16-byte aligned
// (vector_width). A warp then moves 512 bytes an instruction, where 2-byte bf16 accesses
// moved 64. Under the emulation a misaligned pack is an error, as the GPU faults on one.
#pragma once
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <type_traits>

#include "kernels/cuda/launch.h"

namespace cyg::CYG_KNS {

template <typename S, int V>
struct alignas(sizeof(S) * V) Pack {
  S v[V];
};

// A pack type's value type and width (a kernel templated on the pack type launches
// without a comma in its name).
template <typename P>
using PackValue = std::remove_extent_t<decltype(P::v)>;
template <typename P>
constexpr int kPackLength = static_cast<int>(sizeof(P) / sizeof(PackValue<P>));

// The values a 16-byte pack holds.
template <typename S>
constexpr int kPackWidth = static_cast<int>(16 / sizeof(S));

// kPackWidth<S> where every pointer (null ones aside) is 16-byte aligned, else 1.
template <typename S>
int vector_width(std::initializer_list<const void *> pointers) {
  return aligned_16(pointers) ? kPackWidth<S> : 1;
}

// Calls launch(std::integral_constant<int, V>) with V = width: 1 or kPackWidth<S>, the two
// instances each vectorised kernel has.
template <typename S, typename Launch>
void with_vector_width(int width, Launch launch) {
  if (width == kPackWidth<S>) {
    launch(std::integral_constant<int, kPackWidth<S>>{});
  } else {
    CYG_CHECK(width == 1, "no kernel instance for a vector width of ", width);
    launch(std::integral_constant<int, 1>{});
  }
}

template <int V, typename S>
__device__ __forceinline__ Pack<S, V> load_pack(const S *p) {
#if defined(CYGNET_EMU)
  CYG_CHECK(reinterpret_cast<uintptr_t>(p) % sizeof(Pack<S, V>) == 0, "misaligned ", sizeof(Pack<S, V>),
            "-byte read at ", static_cast<const void *>(p));
  Pack<S, V> out;
  std::memcpy(&out, p, sizeof out);
  return out;
#else
  return *reinterpret_cast<const Pack<S, V> *>(p);
#endif
}

template <int V, typename S>
__device__ __forceinline__ void store_pack(S *p, const Pack<S, V> &values) {
#if defined(CYGNET_EMU)
  CYG_CHECK(reinterpret_cast<uintptr_t>(p) % sizeof(Pack<S, V>) == 0, "misaligned ", sizeof(Pack<S, V>),
            "-byte write at ", static_cast<const void *>(p));
  std::memcpy(p, &values, sizeof values);
#else
  *reinterpret_cast<Pack<S, V> *>(p) = values;
#endif
}

}  // namespace cyg::CYG_KNS
