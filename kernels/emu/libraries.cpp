// Stand-ins for the cuDNN and cuBLAS wrappers on the emulated device: the same
// signatures as kernels/cuda/cudnn_conv.cpp and cublas_gemm.cpp, queueing the CPU
// reference on the stream, so the engine's GPU path runs unchanged above them.
#include "kernels/conv.h"
#include "kernels/emu/device.h"
#include "kernels/gemm.h"

namespace cyg::emu {

namespace {
EmuStream* as_stream(void* stream) { return static_cast<EmuStream*>(stream); }
}  // namespace

// The CPU reference computes in strict FP32 and always the same way: there is no
// algorithm to choose, so none is searched for nor kept in a file.
void conv2d_allow_tf32(bool) {}
void conv2d_deterministic(bool) {}
void conv2d_benchmark(bool) {}
int64_t conv2d_searches() { return 0; }
void conv2d_algorithm_cache(const std::string&, WholeFileWriter) {}

// The reference needs no workspace; one byte still goes through the allocator, as a
// real workspace would.
size_t conv2d_workspace_bytes_cudnn(const Conv2dShape&, ConvData) { return 1; }

void conv2d_forward_cudnn(const Conv2dShape& s, const float* x, const float* w, float* y, void*, size_t,
                          void* stream) {
  enqueue(as_stream(stream), "cudnnConvolutionForward",
          [s, x, w, y] { conv2d_forward_cpu<float>(x, w, nullptr, s, y); });
}

void conv2d_backward_data_cudnn(const Conv2dShape& s, const float* dy, const float* w, float* dx, void*, size_t,
                                void* stream) {
  enqueue(as_stream(stream), "cudnnConvolutionBackwardData",
          [s, dy, w, dx] { conv2d_backward_data_cpu<float>(dy, w, s, dx); });
}

void conv2d_backward_filter_cudnn(const Conv2dShape& s, const float* dy, const float* x, float* dw, void*, size_t,
                                  void* stream) {
  enqueue(as_stream(stream), "cudnnConvolutionBackwardFilter",
          [s, dy, x, dw] { conv2d_backward_filter_cpu<float>(dy, x, s, dw); });
}

void gemm_cublas(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 const float* B, float beta, float* C, void* stream) {
  enqueue(as_stream(stream), "cublasSgemm", [=] { gemm_cpu<float>(trans_a, trans_b, M, N, K, alpha, A, B, beta, C); });
}

void conv2d_forward_cudnn(const Conv2dShape& s, const uint16_t* x, const uint16_t* w, uint16_t* y, void*, size_t,
                          void* stream) {
  enqueue(as_stream(stream), "cudnnConvolutionForward", [s, x, w, y] { conv2d_forward_bf16_cpu(x, w, s, y); });
}

void conv2d_backward_data_cudnn(const Conv2dShape& s, const uint16_t* dy, const uint16_t* w, uint16_t* dx, void*,
                                size_t, void* stream) {
  enqueue(as_stream(stream), "cudnnConvolutionBackwardData",
          [s, dy, w, dx] { conv2d_backward_data_bf16_cpu(dy, w, s, dx); });
}

void conv2d_backward_filter_cudnn(const Conv2dShape& s, const uint16_t* dy, const uint16_t* x, uint16_t* dw, void*,
                                  size_t, void* stream) {
  enqueue(as_stream(stream), "cudnnConvolutionBackwardFilter",
          [s, dy, x, dw] { conv2d_backward_filter_bf16_cpu(dy, x, s, dw); });
}

void gemm_cublas(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const uint16_t* A, const uint16_t* B, float beta, float* C, void* stream) {
  enqueue(as_stream(stream), "cublasGemmEx",
          [=] { gemm_bf16_cpu<float>(trans_a, trans_b, M, N, K, alpha, A, B, beta, C); });
}

void gemm_cublas(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const uint16_t* A, const uint16_t* B, float beta, uint16_t* C, void* stream) {
  enqueue(as_stream(stream), "cublasGemmEx",
          [=] { gemm_bf16_cpu<uint16_t>(trans_a, trans_b, M, N, K, alpha, A, B, beta, C); });
}

}  // namespace cyg::emu
