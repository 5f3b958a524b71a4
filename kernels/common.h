// What every op shares: the CYG_HD qualifier for per-element math written once,
// bf16 conversions, the launch options a CUDA wrapper takes, and the macro that
// declares a wrapper for both the real CUDA build and the CPU emulation.
#pragma once
#include <cstdint>
#include <cstring>
#include <initializer_list>

#if defined(__CUDACC__)
#define CYG_HD __host__ __device__ __forceinline__
#else
#define CYG_HD inline
#endif

namespace cyg {

// bf16 is stored as its 16 raw bits; arithmetic always happens in float.
CYG_HD uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

CYG_HD float bits_to_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// Round to nearest even, as PyTorch and the hardware do; NaN stays a (quiet) NaN.
CYG_HD uint16_t float_to_bf16(float f) {
  const uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  const uint32_t rounding_bias = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding_bias) >> 16);
}

CYG_HD float bf16_to_float(uint16_t b) { return bits_to_float(static_cast<uint32_t>(b) << 16); }

// Element storage of activations: float, double (the finite-difference checks) or bf16
// (its 16 bits in a uint16_t). widen reads one element as the type its math runs in;
// store writes a value back, rounding to nearest even into bf16. A kernel templated on
// its storage type S shares its per-element math between the f32 and bf16 instances.
CYG_HD float widen(float v) { return v; }
CYG_HD double widen(double v) { return v; }
CYG_HD float widen(uint16_t bits) { return bf16_to_float(bits); }
CYG_HD void store(float* p, float v) { *p = v; }
CYG_HD void store(double* p, double v) { *p = v; }
CYG_HD void store(uint16_t* p, float v) { *p = float_to_bf16(v); }
// The type the math of storage S runs in: float for bf16, else S itself.
template <typename S>
using compute_t = decltype(widen(S{}));

// How a CUDA wrapper launches its kernel. Zero means "the kernel's default".
// Tests set block and max_blocks to exercise odd shapes and grid-stride loops.
struct LaunchConfig {
  void* stream = nullptr;  // a cudaStream_t; nullptr is the default stream
  int block = 0;           // threads per block (a multiple of 32 for reducing kernels)
  int max_blocks = 0;      // cap on the grid size; elementwise kernels loop past it
};

constexpr int kDefaultBlock = 256;
constexpr int kDefaultMaxBlocks = 4096;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Whether every pointer (null ones aside) is 16-byte aligned, as a fresh allocation is:
// what the kernels' 16-byte accesses (kernels/cuda/vector.cuh) need.
inline bool aligned_16(std::initializer_list<const void*> pointers) {
  for (const void* p : pointers)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

inline int block_size(const LaunchConfig& cfg) { return cfg.block > 0 ? cfg.block : kDefaultBlock; }

// Grid for a grid-stride kernel over n items: enough blocks to cover n, capped; the
// kernel loops past the cap.
inline int grid_size(int64_t n, const LaunchConfig& cfg) {
  const int64_t cap = cfg.max_blocks > 0 ? cfg.max_blocks : kDefaultMaxBlocks;
  const int64_t blocks = ceil_div(n > 0 ? n : 1, block_size(cfg));
  return static_cast<int>(blocks < cap ? blocks : cap);
}

}  // namespace cyg

// Declares a CUDA launch wrapper twice: cyg::cuda (nvcc, real GPU) and cyg::emu
// (the same .cu source compiled by g++ against kernels/emu/, run on the CPU).
#define CYG_CUDA_DECL(...)  \
  namespace cuda {          \
  __VA_ARGS__;              \
  }                         \
  namespace emu {           \
  __VA_ARGS__;              \
  }
