// The CUDA execution model on the CPU, for tests: a kernels/cuda/*.cu file compiled by
// g++ with CYGNET_EMU defined includes this header instead of <cuda_runtime.h>.
//
// How it runs a launch: blocks are spread over worker threads; inside a block every
// CUDA thread is a fiber (ucontext) on that worker, run one at a time until it
// finishes or reaches a barrier or warp collective, so __syncthreads() is a real
// barrier and a missing one shows up as a wrong answer. Block-scope __shared__ is
// `static thread_local` (one block per worker at a time); warp shuffles and ballots go
// through a per-warp exchange; atomics are real atomics (blocks run concurrently).
// A block whose threads can no longer all proceed (a barrier some threads never
// reach, a shuffle whose partners are elsewhere) is reported as an error, not a hang.
// CYGNET_EMU_REVERSE=1 (or set_reverse_order) schedules each block's threads in
// reverse order; CYGNET_EMU_WORKERS sets the worker count.
//
// Not supported: tensor-core (mma/wgmma) instructions, inline PTX, cooperative
// groups, clusters, textures. A launch on a null stream runs at once; on a stream of
// the emulated device (kernels/emu/device.h) it is queued. cuDNN and cuBLAS have
// stand-ins that run the CPU reference (kernels/emu/libraries.cpp).
#pragma once
#ifndef CYGNET_EMU
#error "kernels/emu/emu.h is only for the CPU emulation build (CYGNET_EMU)"
#endif

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local

// Dynamic shared memory: `extern __shared__ T name[]` under nvcc.
#define CYG_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(::cyg::emu::dynamic_shared_memory())

namespace cyg::emu {

struct EmuStream;  // a stream of the emulated device (kernels/emu/device.h)

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3() = default;
  constexpr dim3(unsigned x_, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// The current thread's coordinates; the scheduler sets them before resuming a fiber.
// Inline variables with constant initialisers: every translation unit sees that they
// need no dynamic initialisation, so reading one is a plain TLS access. As `extern`
// declarations, GCC reached them through a TLS wrapper function whose returned
// reference UBSan reported as "member access within null pointer".
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{};
inline thread_local dim3 gridDim{};
constexpr int warpSize = 32;

void set_reverse_order(bool reverse);
bool reverse_order();
void set_worker_count(int workers);  // 0: from CYGNET_EMU_WORKERS or the hardware

void* dynamic_shared_memory();

// ---- synchronisation ----
void __syncthreads();
inline void __syncwarp(unsigned = 0xffffffffu) {}
#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer does not model fences (GCC refuses them under -fsanitize=thread): an
// acquire-release read-modify-write of one word, which it does model, orders the same.
inline void __threadfence() {
  static int word = 0;
  __atomic_fetch_add(&word, 0, __ATOMIC_ACQ_REL);
}
#else
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
#endif
inline void __threadfence_block() {}

namespace detail {
enum class WarpOp { Shuffle, Ballot };
// Deposits `value` (up to 8 bytes) in the warp exchange and waits until every lane in
// `mask` has arrived at a warp collective; returns the bytes of lane `src_lane`
// (Shuffle) or the ballot of the lanes' `value != 0` (Ballot).
uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t value, int src_lane);

template <typename T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type over 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T>
T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
inline int lane_id() { return static_cast<int>((threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) % 32); }

// Runs a launch now (a null stream) or queues it on an emulated stream
// (kernels/emu/device.h). A bad configuration is the launch's error, as on the GPU.
void launch(const char* name, dim3 grid, dim3 block, size_t dynamic_shared_bytes, EmuStream* stream,
            std::function<void()> body);
}  // namespace detail

// Out-of-range source lanes return the caller's own value, as on the GPU.
template <typename T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  const int lane = detail::lane_id();
  const int base = lane & ~(width - 1);
  const int s = base + (src & (width - 1));
  return detail::from_bits<T>(detail::warp_exchange(detail::WarpOp::Shuffle, mask, detail::to_bits(v), s));
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = detail::lane_id();
  const int in_segment = (lane & (width - 1)) + static_cast<int>(delta);
  const int s = in_segment < width ? lane + static_cast<int>(delta) : lane;
  return detail::from_bits<T>(detail::warp_exchange(detail::WarpOp::Shuffle, mask, detail::to_bits(v), s));
}
template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = detail::lane_id();
  const int in_segment = (lane & (width - 1)) - static_cast<int>(delta);
  const int s = in_segment >= 0 ? lane - static_cast<int>(delta) : lane;
  return detail::from_bits<T>(detail::warp_exchange(detail::WarpOp::Shuffle, mask, detail::to_bits(v), s));
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = detail::lane_id();
  const int s = lane ^ lane_mask;
  const int src = (s & ~(width - 1)) == (lane & ~(width - 1)) ? s : lane;
  return detail::from_bits<T>(detail::warp_exchange(detail::WarpOp::Shuffle, mask, detail::to_bits(v), src));
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return static_cast<unsigned>(
      detail::warp_exchange(detail::WarpOp::Ballot, mask, predicate != 0 ? 1u : 0u, 0));
}
inline int __all_sync(unsigned mask, int predicate) {
  const unsigned voted = __ballot_sync(mask, predicate);
  return voted == __ballot_sync(mask, 1);
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }

// ---- atomics (blocks run on several worker threads) ----
// Acquire-release: CUDA's atomics are relaxed, and a kernel that hands data from block to
// block (the last block of a group adds up the others' partial sums) fences around them.
// The fences here are real fences, which order the same; the stronger atomics also let
// ThreadSanitizer, which does not model fences, see the hand-over.
template <typename T>
T atomicAdd(T* address, T v) {
  if constexpr (std::is_integral<T>::value) {
    return __atomic_fetch_add(address, v, __ATOMIC_ACQ_REL);
  } else {
    T old;
    __atomic_load(address, &old, __ATOMIC_ACQUIRE);
    T desired;
    do {
      desired = old + v;
    } while (!__atomic_compare_exchange(address, &old, &desired, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    return old;
  }
}
template <typename T>
T atomicMax(T* address, T v) {
  static_assert(std::is_integral<T>::value, "atomicMax of a floating type is not a CUDA operation");
  T old = __atomic_load_n(address, __ATOMIC_ACQUIRE);
  while (old < v && !__atomic_compare_exchange_n(address, &old, v, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
  }
  return old;
}
template <typename T>
T atomicExch(T* address, T v) {
  return __atomic_exchange_n(address, v, __ATOMIC_ACQ_REL);
}
template <typename T>
T atomicCAS(T* address, T compare, T v) {
  __atomic_compare_exchange_n(address, &compare, v, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  return compare;
}

// ---- device math and intrinsics used by our kernels ----
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
template <typename T>
T __ldg(const T* p) {
  return *p;
}

// ---- the runtime API surface our launch wrappers use ----
enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorInvalidConfiguration = 9 };
using cudaStream_t = EmuStream*;
cudaError_t cudaGetLastError();
// cudaMemsetAsync(p, 0, bytes, stream): queued on an emulated stream; with a null stream
// at once, as a launch on it runs (the kernel tests, whose buffers are host memory).
void zero_async(void* p, size_t bytes, cudaStream_t stream);
const char* cudaGetErrorString(cudaError_t e);

}  // namespace cyg::emu

// Launch: `kernel<<<grid, block, shmem, stream>>>(args...)` under nvcc. The arguments
// are copied when the launch is made, as CUDA copies them.
#define CYG_LAUNCH(kernel, grid, block, shmem, stream, ...)                                                      \
  ::cyg::emu::detail::launch(#kernel, ::cyg::emu::dim3(grid), ::cyg::emu::dim3(block), (shmem), (stream), \
                             [=]() { kernel(__VA_ARGS__); })
