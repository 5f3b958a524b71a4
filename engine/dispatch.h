// Calling a CUDA launch wrapper from engine code that is compiled in every build: in a
// build without CUDA the call becomes an error saying so (no #ifdef at each call).
#pragma once
#include "engine/stream.h"
#include "kernels/common.h"

#ifndef CYGNET_HAVE_CUDA
#define CYGNET_HAVE_CUDA 0
#endif

namespace cyg::detail {
[[noreturn]] void built_without_cuda(const char* what);
// What a CUDA call gives in a build without CUDA: it never returns, but converts to any
// result type, so `size_t n = CYG_CUDA_LIBRARY_CALL(...)` compiles in both builds.
struct NoCudaResult {
  template <typename T>
  operator T() const {
    return T();
  }
};
template <typename... Args>
NoCudaResult no_cuda(const char* what, const Args&...) {
  built_without_cuda(what);
}
inline LaunchConfig launch_on_current_stream() {
  LaunchConfig cfg;
  cfg.stream = current_stream();
  return cfg;
}
}  // namespace cyg::detail

// CYG_CUDA_CALL: one of our kernels' launch wrappers, on the current stream.
// CYG_CUDA_LIBRARY_CALL: a cuDNN/cuBLAS wrapper, called with exactly the given arguments.
#if CYGNET_HAVE_CUDA
#define CYG_CUDA_CALL(fn, ...) ::cyg::cuda::fn(__VA_ARGS__, ::cyg::detail::launch_on_current_stream())
#define CYG_CUDA_LIBRARY_CALL(fn, ...) ::cyg::cuda::fn(__VA_ARGS__)
#else
#define CYG_CUDA_CALL(fn, ...) ::cyg::detail::no_cuda(#fn, __VA_ARGS__)
#define CYG_CUDA_LIBRARY_CALL(fn, ...) ::cyg::detail::no_cuda(#fn, __VA_ARGS__)
#endif
