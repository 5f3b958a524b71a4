// cuBLAS for kernels/gemm.h. cuBLAS is column-major: a row-major C = op(A) op(B) is the
// column-major C^T = op(B)^T op(A)^T, so the operands swap places. Every call checked.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/gemm.h"

namespace cyg::cuda {
namespace {
cublasHandle_t handle_for_this_thread() {
  struct Handle {
    cublasHandle_t h = nullptr;
    Handle() { CYG_CUBLAS_CHECK(cublasCreate(&h)); }
    ~Handle() { cublasDestroy(h); }
  };
  thread_local Handle handle;
  return handle.h;
}
}  // namespace

void gemm_cublas(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 const float* B, float beta, float* C, void* stream) {
  if (M == 0 || N == 0) return;
  cublasHandle_t h = handle_for_this_thread();
  CYG_CUBLAS_CHECK(cublasSetStream(h, static_cast<cudaStream_t>(stream)));
  const bool ta = trans_a == Transpose::Yes, tb = trans_b == Transpose::Yes;
  const int lda = static_cast<int>(ta ? M : K);
  const int ldb = static_cast<int>(tb ? K : N);
  CYG_CUBLAS_CHECK(cublasSgemm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                               static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, B,
                               ldb > 0 ? ldb : 1, A, lda > 0 ? lda : 1, &beta, C, static_cast<int>(N)));
}

namespace {
// bf16 A and B, fp32 accumulation (CUBLAS_COMPUTE_32F), C of c_type.
void gemm_bf16(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
               const uint16_t* B, float beta, void* C, cudaDataType_t c_type, void* stream) {
  if (M == 0 || N == 0) return;
  cublasHandle_t h = handle_for_this_thread();
  CYG_CUBLAS_CHECK(cublasSetStream(h, static_cast<cudaStream_t>(stream)));
  const bool ta = trans_a == Transpose::Yes, tb = trans_b == Transpose::Yes;
  const int lda = static_cast<int>(ta ? M : K);
  const int ldb = static_cast<int>(tb ? K : N);
  CYG_CUBLAS_CHECK(cublasGemmEx(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, B, CUDA_R_16BF,
                                ldb > 0 ? ldb : 1, A, CUDA_R_16BF, lda > 0 ? lda : 1, &beta, C, c_type,
                                static_cast<int>(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}
}  // namespace

void gemm_cublas(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
                 const uint16_t* B, float beta, float* C, void* stream) {
  gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, B, beta, C, CUDA_R_32F, stream);
}

void gemm_cublas(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
                 const uint16_t* B, float beta, uint16_t* C, void* stream) {
  gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, B, beta, C, CUDA_R_16BF, stream);
}

}  // namespace cyg::cuda
