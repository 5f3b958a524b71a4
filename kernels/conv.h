// 2-D convolution (cross-correlation, as PyTorch), NCHW, weights [OC, C, KH, KW].
// CPU: oneDNN where the build has it, else im2col + BLAS gemm per image (the reference). CUDA: cuDNN (kernels/cuda/cudnn_conv.cpp), the
// algorithm chosen once per shape and cached; cuDNN cannot be emulated.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/common.h"

namespace cyg {

struct Conv2dShape {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t OC = 0, KH = 0, KW = 0;      // filters
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;

  int64_t OH() const { return (H + 2 * pad_h - KH) / stride_h + 1; }
  int64_t OW() const { return (W + 2 * pad_w - KW) / stride_w + 1; }
  bool operator<(const Conv2dShape& o) const;
};

// One image: col[(c*KH + kh)*KW + kw, oh*OW + ow] = x[c, oh*s - p + kh, ow*s - p + kw] (0 outside).
template <typename T>
void im2col_cpu(const T* image, const Conv2dShape& s, T* col);
// The adjoint of im2col: scatters col back, adding into image (which the caller zeroes).
template <typename T>
void col2im_cpu(const T* col, const Conv2dShape& s, T* image);

// bias may be null. backward_filter overwrites dw; backward_data overwrites dx.
template <typename T>
void conv2d_forward_cpu(const T* x, const T* w, const T* bias, const Conv2dShape& s, T* y);
template <typename T>
void conv2d_backward_data_cpu(const T* dy, const T* w, const Conv2dShape& s, T* dx);
template <typename T>
void conv2d_backward_filter_cpu(const T* dy, const T* x, const Conv2dShape& s, T* dw);

// bf16 (bf16 autocast): x, w and the result as bf16 bits, products accumulated in fp32
// as cuDNN does. The CPU twins widen to float, run the f32 reference above and round the
// result once; the emulated cuDNN calls them.
void conv2d_forward_bf16_cpu(const uint16_t* x, const uint16_t* w, const Conv2dShape& s, uint16_t* y);
void conv2d_backward_data_bf16_cpu(const uint16_t* dy, const uint16_t* w, const Conv2dShape& s, uint16_t* dx);
void conv2d_backward_filter_bf16_cpu(const uint16_t* dy, const uint16_t* x, const Conv2dShape& s, uint16_t* dw);

// oneDNN (kernels/onednn/conv.cpp, builds with CYGNET_HAVE_ONEDNN): the three directions
// in fp32, same layouts and contracts as the reference above. Each direction of each
// shape builds its primitive once, in oneDNN's preferred layouts, and reorders into them.
void conv2d_forward_onednn(const float* x, const float* w, const float* bias, const Conv2dShape& s, float* y);
void conv2d_backward_data_onednn(const float* dy, const float* w, const Conv2dShape& s, float* dx);
void conv2d_backward_filter_onednn(const float* dy, const float* x, const Conv2dShape& s, float* dw);
// The same on channels-last (NHWC) activations x, y, dy, dx; the weights stay OIHW.
void conv2d_forward_nhwc_onednn(const float* x, const float* w, const float* bias, const Conv2dShape& s, float* y);
void conv2d_backward_data_nhwc_onednn(const float* dy, const float* w, const Conv2dShape& s, float* dx);
void conv2d_backward_filter_nhwc_onednn(const float* dy, const float* x, const Conv2dShape& s, float* dw);

// The element type of a cuDNN convolution's tensors; the math is fp32 either way.
enum class ConvData { F32, BF16 };
// The layout of a cuDNN convolution's tensors: NCHW activations with [OC, C, KH, KW]
// filters, or channels-last (NHWC) activations with channels-last filters [OC, KH, KW, C]
// (cuDNN's KRSC), the layout its tensor-core kernels read without a conversion.
enum class ConvLayout { NCHW, NHWC };
// A convolution's three calls: y from x, dx from dy, dw from dy and x.
enum class ConvDirection { Forward, BackwardData, BackwardFilter };

// The cuDNN wrappers (kernels/cuda/cudnn_conv.cpp), and in cyg::emu their stand-ins for
// the emulated device, which queue the CPU reference (kernels/emu/libraries.cpp).
// Whether float convolutions may use TF32 tensor cores (default: yes, as PyTorch's
// cudnn.allow_tf32). Off gives strict FP32, e.g. to compare with a CPU reference.
CYG_CUDA_DECL(void conv2d_allow_tf32(bool allow))
// Only algorithms that give the same bits every run (default: cuDNN's fastest choice, as
// PyTorch's cudnn.deterministic = False).
CYG_CUDA_DECL(void conv2d_deterministic(bool deterministic))
// Autotuning, PyTorch's cudnn.benchmark (default here: on): each direction of each new
// shape has cuDNN run its algorithms once (cudnnFind*AlgorithmEx), times those the two
// settings above allow again on the GPU alone, and keeps the fastest. Off: cuDNN's
// heuristics choose.
CYG_CUDA_DECL(void conv2d_benchmark(bool benchmark))
// Which of cuDNN's implementations autotuning times: the legacy API's algorithms and
// the engines its graph API's heuristics list for the same convolution (Both, the
// default: the fastest of all, as PyTorch's cuDNN v8 path searches engines), the
// algorithms alone (Legacy), or the engines wherever one runs, the algorithms only where
// none does (Graph: to test the engines; it neither reads nor writes the algorithm
// file). The heuristics path takes algorithms only.
enum class ConvEngines { Both, Legacy, Graph };
CYG_CUDA_DECL(void conv2d_engines(ConvEngines engines))
// Searches run by this process so far: one per direction of each shape searched.
CYG_CUDA_DECL(int64_t conv2d_searches())
// Makes this thread's cuDNN handle, if it has none yet. The runtime calls it before a
// CUDA graph capture begins: creating a handle allocates device memory, which a capture
// forbids. During a capture (cuda::capture_open_on_this_thread) a search of a new shape,
// which synchronises and allocates, is refused with a message (run the step once eagerly
// first) instead of invalidating the capture.
CYG_CUDA_DECL(void conv2d_prepare_thread())
// Keeps the searches' choices in a file across runs ("" for none; kernels/conv_algo_cache.h):
// reads it now (a file it cannot use is ignored with a one-line warning on stderr) and,
// after each direction of a shape that needed a search, has `write` replace it whole (an
// atomic writer).
using WholeFileWriter = void (*)(const std::string& path, const std::string& bytes);
CYG_CUDA_DECL(void conv2d_algorithm_cache(const std::string& path, WholeFileWriter write))
// Workspace bytes the direction's cuDNN call needs for this shape. Each direction's
// algorithm is chosen on its first call (this one, before the call itself).
CYG_CUDA_DECL(size_t conv2d_workspace_bytes_cudnn(const Conv2dShape& s, ConvDirection direction,
                                                  ConvData data = ConvData::F32,
                                                  ConvLayout layout = ConvLayout::NCHW))
CYG_CUDA_DECL(void conv2d_forward_cudnn(const Conv2dShape& s, const float* x, const float* w, float* y,
                                        void* workspace, size_t workspace_bytes, void* stream,
                                        ConvLayout layout = ConvLayout::NCHW))
// backward_data with accumulate: dx += the data gradient (cuDNN's beta = 1), read and
// written in one pass, where two gradients meet at a tensor (a residual block's input).
CYG_CUDA_DECL(void conv2d_backward_data_cudnn(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                                              void* workspace, size_t workspace_bytes, void* stream,
                                              ConvLayout layout = ConvLayout::NCHW, bool accumulate = false))
CYG_CUDA_DECL(void conv2d_backward_filter_cudnn(const Conv2dShape& s, const float* dy, const float* x, float* dw,
                                                void* workspace, size_t workspace_bytes, void* stream,
                                                ConvLayout layout = ConvLayout::NCHW))

// bf16 tensors (x, w, y, dx, dw all bf16; plans of their own, searched like the f32
// ones, and kept in the algorithm file under their element type and layout).
CYG_CUDA_DECL(void conv2d_forward_cudnn(const Conv2dShape& s, const uint16_t* x, const uint16_t* w, uint16_t* y,
                                        void* workspace, size_t workspace_bytes, void* stream,
                                        ConvLayout layout = ConvLayout::NCHW))
CYG_CUDA_DECL(void conv2d_backward_data_cudnn(const Conv2dShape& s, const uint16_t* dy, const uint16_t* w,
                                              uint16_t* dx, void* workspace, size_t workspace_bytes, void* stream,
                                              ConvLayout layout = ConvLayout::NCHW, bool accumulate = false))
CYG_CUDA_DECL(void conv2d_backward_filter_cudnn(const Conv2dShape& s, const uint16_t* dy, const uint16_t* x,
                                                uint16_t* dw, void* workspace, size_t workspace_bytes, void* stream,
                                                ConvLayout layout = ConvLayout::NCHW))

}  // namespace cyg
