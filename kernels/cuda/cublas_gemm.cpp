// cuBLAS for kernels/gemm.h. cuBLAS is column-major: a row-major C = op(A) op(B) is the
// column-major C^T = op(B)^T op(A)^T, so the operands swap places. Every call checked.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>

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

void gemm_prepare_thread() { handle_for_this_thread(); }

namespace {
// A row-major C[M, N] = op(A) op(B) as cuBLAS's column-major C^T = op(B)^T op(A)^T: the
// handle bound to the stream, and the operations, sizes and leading dimensions in
// cuBLAS's order (B first). Null when C is empty.
struct ColumnMajorGemm {
  cublasHandle_t handle = nullptr;
  cublasOperation_t op_b, op_a;
  int n, m, k, ldb, lda, ldc;
};

ColumnMajorGemm column_major(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, void* stream) {
  ColumnMajorGemm g{};
  if (M == 0 || N == 0) return g;
  g.handle = handle_for_this_thread();
  CYG_CUBLAS_CHECK(cublasSetStream(g.handle, static_cast<cudaStream_t>(stream)));
  const bool ta = trans_a == Transpose::Yes, tb = trans_b == Transpose::Yes;
  g.op_b = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  g.op_a = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  g.n = static_cast<int>(N);
  g.m = static_cast<int>(M);
  g.k = static_cast<int>(K);
  g.lda = std::max(1, static_cast<int>(ta ? M : K));
  g.ldb = std::max(1, static_cast<int>(tb ? K : N));
  g.ldc = static_cast<int>(N);
  return g;
}
}  // namespace

void gemm_cublas(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 const float* B, float beta, float* C, void* stream) {
  const ColumnMajorGemm g = column_major(trans_a, trans_b, M, N, K, stream);
  if (g.handle == nullptr) return;
  CYG_CUBLAS_CHECK(
      cublasSgemm(g.handle, g.op_b, g.op_a, g.n, g.m, g.k, &alpha, B, g.ldb, A, g.lda, &beta, C, g.ldc));
}

namespace {
// bf16 A and B, fp32 accumulation (CUBLAS_COMPUTE_32F), C of c_type.
void gemm_bf16(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
               const uint16_t* B, float beta, void* C, cudaDataType_t c_type, void* stream) {
  const ColumnMajorGemm g = column_major(trans_a, trans_b, M, N, K, stream);
  if (g.handle == nullptr) return;
  CYG_CUBLAS_CHECK(cublasGemmEx(g.handle, g.op_b, g.op_a, g.n, g.m, g.k, &alpha, B, CUDA_R_16BF, g.ldb, A,
                                CUDA_R_16BF, g.lda, &beta, C, c_type, g.ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
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
