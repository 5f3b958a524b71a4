// Stand-ins for the cuDNN and cuBLAS wrappers on the emulated device: the same
// signatures as kernels/cuda/cudnn_conv.cpp and cublas_gemm.cpp, queueing the CPU
// reference on the stream, so the engine's GPU path runs unchanged above them.
// Channels-last convolutions (ConvLayout::NHWC: activations NHWC, filters KRSC) run the
// NCHW reference between transposes, which only the emulation pays.
#include <vector>

#include "kernels/conv.h"
#include "kernels/conv_algo_cache.h"
#include "kernels/cpu/channels.h"
#include "kernels/emu/device.h"
#include "kernels/gemm.h"

namespace cyg::emu {

namespace {
EmuStream* as_stream(void* stream) { return static_cast<EmuStream*>(stream); }

// The three directions on the reference `Run` (f32 or bf16 twin), in either layout.
template <typename T, typename Run>
void forward_in(ConvLayout layout, const Conv2dShape& s, const T* x, const T* w, T* y, Run run) {
  if (layout == ConvLayout::NCHW) return run(x, w, y);
  const std::vector<T> xc = channels_first_copy(x, s.N, s.C, s.H * s.W), wc = channels_first_copy(w, s.OC, s.C, s.KH * s.KW);
  std::vector<T> yc(static_cast<size_t>(s.N * s.OC * s.OH() * s.OW()));
  run(xc.data(), wc.data(), yc.data());
  write_channels_last(yc.data(), s.N, s.OC, s.OH() * s.OW(), y);
}
template <typename T, typename Run>
void backward_data_in(ConvLayout layout, const Conv2dShape& s, const T* dy, const T* w, T* dx, Run run) {
  if (layout == ConvLayout::NCHW) return run(dy, w, dx);
  const std::vector<T> dyc = channels_first_copy(dy, s.N, s.OC, s.OH() * s.OW()),
                       wc = channels_first_copy(w, s.OC, s.C, s.KH * s.KW);
  std::vector<T> dxc(static_cast<size_t>(s.N * s.C * s.H * s.W));
  run(dyc.data(), wc.data(), dxc.data());
  write_channels_last(dxc.data(), s.N, s.C, s.H * s.W, dx);
}
template <typename T, typename Run>
void backward_filter_in(ConvLayout layout, const Conv2dShape& s, const T* dy, const T* x, T* dw, Run run) {
  if (layout == ConvLayout::NCHW) return run(dy, x, dw);
  const std::vector<T> dyc = channels_first_copy(dy, s.N, s.OC, s.OH() * s.OW()),
                       xc = channels_first_copy(x, s.N, s.C, s.H * s.W);
  std::vector<T> dwc(static_cast<size_t>(s.OC * s.C * s.KH * s.KW));
  run(dyc.data(), xc.data(), dwc.data());
  write_channels_last(dwc.data(), s.OC, s.C, s.KH * s.KW, dw);
}

// backward_data's accumulate (cuDNN's beta = 1): the reference's gradient, in storage
// precision, added to dx (in bf16 one rounding more than cuDNN's blend, which adds
// before it rounds).
template <typename T, typename Run>
void backward_data_into(ConvLayout layout, const Conv2dShape& s, const T* dy, const T* w, T* dx, bool accumulate,
                        Run run) {
  if (!accumulate) return backward_data_in(layout, s, dy, w, dx, run);
  std::vector<T> gradient(static_cast<size_t>(s.N * s.C * s.H * s.W));
  backward_data_in(layout, s, dy, w, gradient.data(), run);
  for (size_t i = 0; i < gradient.size(); ++i) store(&dx[i], widen(dx[i]) + widen(gradient[i]));
}
}  // namespace

// The CPU reference computes in strict FP32 and always the same way: there is no
// algorithm to choose, so none is searched for nor kept in a file.
void conv2d_allow_tf32(bool) {}
void conv2d_deterministic(bool) {}
void conv2d_benchmark(bool) {}
void conv2d_engines(ConvEngines) {}
int64_t conv2d_searches() { return 0; }
std::vector<ConvChoiceReport> conv2d_choices() { return {}; }
void conv2d_prepare_thread() {}
void gemm_prepare_thread() {}
void conv2d_algorithm_cache(const std::string&, WholeFileWriter) {}

// The reference needs no workspace; one byte still goes through the allocator, as a
// real workspace would.
size_t conv2d_workspace_bytes_cudnn(const Conv2dShape&, ConvDirection, ConvData, ConvLayout) { return 1; }

void conv2d_forward_cudnn(const Conv2dShape& s, const float* x, const float* w, float* y, void*, size_t, void* stream,
                          ConvLayout layout) {
  enqueue(as_stream(stream), "cudnnConvolutionForward", [s, x, w, y, layout] {
    forward_in(layout, s, x, w, y,
               [&](const float* a, const float* b, float* out) { conv2d_forward_cpu<float>(a, b, nullptr, s, out); });
  });
}

void conv2d_backward_data_cudnn(const Conv2dShape& s, const float* dy, const float* w, float* dx, void*, size_t,
                                void* stream, ConvLayout layout, bool accumulate) {
  enqueue(as_stream(stream), "cudnnConvolutionBackwardData", [s, dy, w, dx, layout, accumulate] {
    backward_data_into(layout, s, dy, w, dx, accumulate,
                       [&](const float* a, const float* b, float* out) { conv2d_backward_data_cpu<float>(a, b, s, out); });
  });
}

void conv2d_backward_filter_cudnn(const Conv2dShape& s, const float* dy, const float* x, float* dw, void*, size_t,
                                  void* stream, ConvLayout layout) {
  enqueue(as_stream(stream), "cudnnConvolutionBackwardFilter", [s, dy, x, dw, layout] {
    backward_filter_in(layout, s, dy, x, dw, [&](const float* a, const float* b, float* out) {
      conv2d_backward_filter_cpu<float>(a, b, s, out);
    });
  });
}

void gemm_cublas(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 const float* B, float beta, float* C, void* stream) {
  enqueue(as_stream(stream), "cublasSgemm", [=] { gemm_cpu<float>(trans_a, trans_b, M, N, K, alpha, A, B, beta, C); });
}

void conv2d_forward_cudnn(const Conv2dShape& s, const uint16_t* x, const uint16_t* w, uint16_t* y, void*, size_t,
                          void* stream, ConvLayout layout) {
  enqueue(as_stream(stream), "cudnnConvolutionForward", [s, x, w, y, layout] {
    forward_in(layout, s, x, w, y,
               [&](const uint16_t* a, const uint16_t* b, uint16_t* out) { conv2d_forward_bf16_cpu(a, b, s, out); });
  });
}

void conv2d_backward_data_cudnn(const Conv2dShape& s, const uint16_t* dy, const uint16_t* w, uint16_t* dx, void*,
                                size_t, void* stream, ConvLayout layout, bool accumulate) {
  enqueue(as_stream(stream), "cudnnConvolutionBackwardData", [s, dy, w, dx, layout, accumulate] {
    backward_data_into(layout, s, dy, w, dx, accumulate, [&](const uint16_t* a, const uint16_t* b, uint16_t* out) {
      conv2d_backward_data_bf16_cpu(a, b, s, out);
    });
  });
}

void conv2d_backward_filter_cudnn(const Conv2dShape& s, const uint16_t* dy, const uint16_t* x, uint16_t* dw, void*,
                                  size_t, void* stream, ConvLayout layout) {
  enqueue(as_stream(stream), "cudnnConvolutionBackwardFilter", [s, dy, x, dw, layout] {
    backward_filter_in(layout, s, dy, x, dw, [&](const uint16_t* a, const uint16_t* b, uint16_t* out) {
      conv2d_backward_filter_bf16_cpu(a, b, s, out);
    });
  });
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
