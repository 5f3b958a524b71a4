// Checked calls of the CUDA runtime, cuDNN and cuBLAS: a failure throws cyg::Error
// naming the library's own message, the call, the file and the line. Include
// cuda_runtime.h, and the library's header (cudnn.h, cublas_v2.h), before using its macro.
#pragma once
#include "kernels/error.h"

// The runtime also keeps a failed call's error as its "last error", which the next
// launch check (cudaGetLastError) would report as its own: a failure that throws here
// clears it, so that a caller who catches the error starts clean.
#define CYG_CUDA_CHECK(expr) CYG_CUDA_CHECK_RESULT((expr), #expr)

// A status a call already returned (kept to look at first), checked as CYG_CUDA_CHECK
// checks a call: the error names `call`, a string.
#define CYG_CUDA_CHECK_RESULT(status, call)                                                   \
  do {                                                                                        \
    const cudaError_t cyg_status_ = (status);                                                 \
    if (cyg_status_ != cudaSuccess) {                                                         \
      cudaGetLastError();                                                                     \
      ::cyg::throw_error("CUDA", cudaGetErrorString(cyg_status_), call, __FILE__, __LINE__); \
    }                                                                                         \
  } while (0)

// A library call that failed may have left a failed launch as the runtime's last error
// too: cleared with it, as CYG_CUDA_CHECK clears its own (a fault sticks regardless).
#define CYG_CUDNN_CHECK(expr)                                                                     \
  do {                                                                                            \
    const cudnnStatus_t cyg_status_ = (expr);                                                     \
    if (cyg_status_ != CUDNN_STATUS_SUCCESS) {                                                    \
      cudaGetLastError();                                                                         \
      ::cyg::throw_error("cuDNN", cudnnGetErrorString(cyg_status_), #expr, __FILE__, __LINE__);  \
    }                                                                                             \
  } while (0)

#define CYG_CUBLAS_CHECK(expr)                                                                       \
  do {                                                                                               \
    const cublasStatus_t cyg_status_ = (expr);                                                       \
    if (cyg_status_ != CUBLAS_STATUS_SUCCESS) {                                                      \
      cudaGetLastError();                                                                            \
      ::cyg::throw_error("cuBLAS", cublasGetStatusString(cyg_status_), #expr, __FILE__, __LINE__);  \
    }                                                                                                \
  } while (0)

// After every kernel launch: a bad configuration or a failed launch surfaces here. A
// fault while the kernel runs surfaces at a later call, unless CYGNET_SYNC_LAUNCHES=1
// (or CUDA_LAUNCH_BLOCKING=1) makes CYG_LAUNCH wait and name the kernel (launch.h).
#define CYG_CHECK_LAUNCH() CYG_CUDA_CHECK(cudaGetLastError())
