// Row-major matrix products C[M,N] = alpha * op(A) * op(B) + beta * C, where op
// transposes when asked (A is [M,K] or [K,M], B is [K,N] or [N,K], all contiguous).
// CPU: BLAS (OpenBLAS). CUDA: cuBLAS (kernels/cuda/cublas_gemm.cpp); on the emulated
// device a stand-in queues the CPU gemm (kernels/emu/libraries.cpp).
#pragma once
#include "kernels/common.h"

namespace cyg {

// Whether an operand enters the product as it is or transposed.
enum class Transpose { No, Yes };

template <typename T>
void gemm_cpu(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, const T* B,
              T beta, T* C);

CYG_CUDA_DECL(void gemm_cublas(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                               const float* A, const float* B, float beta, float* C, void* stream = nullptr))
// Makes this thread's cuBLAS handle, if it has none yet. The runtime calls it before a
// CUDA graph capture begins: creating a handle allocates device memory, which a capture
// forbids, so a thread whose first product is captured would otherwise fail there.
CYG_CUDA_DECL(void gemm_prepare_thread())

// bf16 operands (bf16 autocast), products accumulated in fp32, C either f32 or bf16
// (rounded once). The CPU twin widens, runs the f32 gemm and stores.
template <typename TC>
void gemm_bf16_cpu(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const uint16_t* A, const uint16_t* B, float beta, TC* C);
CYG_CUDA_DECL(void gemm_cublas(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                               const uint16_t* A, const uint16_t* B, float beta, float* C, void* stream = nullptr))
CYG_CUDA_DECL(void gemm_cublas(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                               const uint16_t* A, const uint16_t* B, float beta, uint16_t* C, void* stream = nullptr))

}  // namespace cyg
