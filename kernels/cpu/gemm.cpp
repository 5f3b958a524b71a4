// gemm through CBLAS, row-major.
#include "kernels/gemm.h"

#include <vector>

#include "kernels/cast.h"

#include <cblas.h>

#include <mutex>

namespace cyg {
namespace {
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float* A, int lda,
               const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, double alpha, const double* A, int lda,
               const double* B, int ldb, double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Our CPU ops parallelise over images and channels with OpenMP; OpenBLAS's own thread
// pool on top of that oversubscribes the cores, so its gemms run single-threaded.
void single_threaded_blas() {
#ifdef OPENBLAS_VERSION
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
#endif
}
}  // namespace

template <typename T>
void gemm_cpu(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, const T* B,
              T beta, T* C) {
  if (M == 0 || N == 0) return;
  single_threaded_blas();
  const bool ta = trans_a == Transpose::Yes, tb = trans_b == Transpose::Yes;
  const int lda = static_cast<int>(ta ? M : K);
  const int ldb = static_cast<int>(tb ? K : N);
  blas_gemm(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
            static_cast<int>(N), static_cast<int>(K), alpha, A, lda > 0 ? lda : 1, B, ldb > 0 ? ldb : 1, beta, C,
            static_cast<int>(N));
}

template void gemm_cpu<float>(Transpose, Transpose, int64_t, int64_t, int64_t, float, const float*, const float*,
                              float, float*);
template void gemm_cpu<double>(Transpose, Transpose, int64_t, int64_t, int64_t, double, const double*, const double*,
                               double, double*);

template <typename TC>
void gemm_bf16_cpu(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const uint16_t* A, const uint16_t* B, float beta, TC* C) {
  std::vector<float> a(static_cast<size_t>(M * K)), b(static_cast<size_t>(K * N)), c(static_cast<size_t>(M * N));
  cast_bf16_to_f32_cpu(A, a.data(), M * K);
  cast_bf16_to_f32_cpu(B, b.data(), K * N);
  if (beta != 0.0f)
    for (int64_t i = 0; i < M * N; ++i) c[i] = widen(C[i]);
  gemm_cpu<float>(trans_a, trans_b, M, N, K, alpha, a.data(), b.data(), beta, c.data());
  for (int64_t i = 0; i < M * N; ++i) store(&C[i], c[i]);
}

template void gemm_bf16_cpu<float>(Transpose, Transpose, int64_t, int64_t, int64_t, float, const uint16_t*,
                                   const uint16_t*, float, float*);
template void gemm_bf16_cpu<uint16_t>(Transpose, Transpose, int64_t, int64_t, int64_t, float, const uint16_t*,
                                      const uint16_t*, float, uint16_t*);

}  // namespace cyg
