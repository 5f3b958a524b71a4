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
#define CYG_CUDA_CALL(fn, ...) ::cyg::detail::built_without_cuda(#fn)
#define CYG_CUDA_LIBRARY_CALL(fn, ...) ::cyg::detail::built_without_cuda(#fn)
#endif
