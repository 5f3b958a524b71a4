// The CUDA backend's kernel table: our kernels (kernels/cuda/*.cu) launched on the
// current stream, cuDNN convolutions and cuBLAS gemms. Adapters are written out only
// where CUDA needs more than the launch: scratch memory, a library call plus a bias
// kernel, or the optimizer's tables in device memory.
#include <cstring>
#include <tuple>
#include <utility>

#include "engine/dispatch.h"
#include "engine/multi_tensor.h"
#include "engine/stream.h"
#include "engine/tensor.h"
#include "kernels/add.h"
#include "kernels/batch.h"
#include "kernels/bias.h"
#include "kernels/cast.h"
#include "kernels/fill.h"
#include "kernels/gemm.h"
#include "kernels/loss.h"
#include "kernels/metrics.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"
#include "kernels/relu.h"
#include "kernels/scale.h"

namespace cyg {

namespace {

LaunchConfig on_stream() {
  LaunchConfig cfg;
  cfg.stream = current_stream();
  return cfg;
}

// on_current_stream<&launch_wrapper>: the wrapper as a table entry, i.e. without its
// trailing LaunchConfig, which becomes "the current stream, default launch shape".
template <auto Launch, typename Args, typename Indices>
struct WithoutLaunchConfig;

template <auto Launch, typename... Args, size_t... I>
struct WithoutLaunchConfig<Launch, std::tuple<Args...>, std::index_sequence<I...>> {
  static_assert(std::is_same_v<std::tuple_element_t<sizeof...(Args) - 1, std::tuple<Args...>>, const LaunchConfig&>,
                "a launch wrapper takes a const LaunchConfig& last");
  static void call(std::tuple_element_t<I, std::tuple<Args...>>... args) { Launch(args..., on_stream()); }
};

template <auto Launch, typename Signature = decltype(Launch)>
struct LaunchOnCurrentStream;

template <auto Launch, typename... Args>
struct LaunchOnCurrentStream<Launch, void (*)(Args...)> {
  using Adapter = WithoutLaunchConfig<Launch, std::tuple<Args...>, std::make_index_sequence<sizeof...(Args) - 1>>;
};

template <auto Launch>
constexpr auto on_current_stream = &LaunchOnCurrentStream<Launch>::Adapter::call;

// Scratch memory for one call, from the caching allocator. It goes back when the call
// returns, before the queued work has run. The allocator does not track streams: reuse
// is safe because the engine queues all its work on the current stream (and its other
// streams are ordered with the default stream), so the next user runs after this one.
Tensor scratch(size_t bytes) {
  return Tensor::empty({static_cast<int64_t>(bytes > 0 ? bytes : 1)}, DType::U8, Device::cuda());
}

// The entries that need more than a launch on the current stream.
namespace impl {

void copy_dense(void* dst, const void* src, size_t bytes) {
  rt::cuda_memcpy(dst, src, bytes, rt::CopyKind::DeviceToDevice, current_stream());
}

void sum(const float* x, int64_t n, float* out) {
  const LaunchConfig cfg = on_stream();
  Tensor partials = scratch(static_cast<size_t>(reduce_workspace_floats(n, cfg)) * sizeof(float));
  cuda::sum_cuda(x, n, out, static_cast<float*>(partials.data_ptr()), cfg);
}

void mean(const float* x, int64_t n, float* out) {
  const LaunchConfig cfg = on_stream();
  Tensor partials = scratch(static_cast<size_t>(reduce_workspace_floats(n, cfg)) * sizeof(float));
  cuda::mean_cuda(x, n, out, static_cast<float*>(partials.data_ptr()), cfg);
}

// cuDNN convolutions; the bias is our own kernel after the forward.
void conv2d_forward(const float* x, const float* w, const float* bias, const Conv2dShape& s, float* y) {
  const size_t bytes = cuda::conv2d_workspace_bytes_cudnn(s);
  Tensor workspace = scratch(bytes);
  cuda::conv2d_forward_cudnn(s, x, w, y, workspace.data_ptr(), bytes, current_stream());
  if (bias != nullptr) cuda::bias_add_cuda(y, bias, s.N, s.OC, s.OH() * s.OW(), on_stream());
}

void conv2d_backward_data(const float* dy, const float* w, const Conv2dShape& s, float* dx) {
  const size_t bytes = cuda::conv2d_workspace_bytes_cudnn(s);
  Tensor workspace = scratch(bytes);
  cuda::conv2d_backward_data_cudnn(s, dy, w, dx, workspace.data_ptr(), bytes, current_stream());
}

void conv2d_backward_filter(const float* dy, const float* x, const Conv2dShape& s, float* dw) {
  const size_t bytes = cuda::conv2d_workspace_bytes_cudnn(s);
  Tensor workspace = scratch(bytes);
  cuda::conv2d_backward_filter_cudnn(s, dy, x, dw, workspace.data_ptr(), bytes, current_stream());
}

// cuBLAS: y[N, out] = x[N, in] w[out, in]^T, then the bias.
void linear_forward(const float* x, const float* w, const float* bias, int64_t N, int64_t in, int64_t out, float* y) {
  cuda::gemm_cublas(Transpose::No, Transpose::Yes, N, out, in, 1.0f, x, w, 0.0f, y, current_stream());
  if (bias != nullptr) cuda::bias_add_cuda(y, bias, N, out, 1, on_stream());
}

void linear_backward(const float* dy, const float* x, const float* w, int64_t N, int64_t in, int64_t out, float* dx,
                     float* dw, float* db) {
  // dx[N, in] = dy[N, out] w[out, in]; dw[out, in] = dy^T x.
  if (dx != nullptr)
    cuda::gemm_cublas(Transpose::No, Transpose::No, N, in, out, 1.0f, dy, w, 0.0f, dx, current_stream());
  if (dw != nullptr)
    cuda::gemm_cublas(Transpose::Yes, Transpose::No, out, in, N, 1.0f, dy, x, 0.0f, dw, current_stream());
  if (db != nullptr) cuda::bias_grad_cuda(dy, N, out, 1, db, on_stream());
}

// Batchnorm's reductions keep double partials per slice of a channel.
Tensor batchnorm_partials(int64_t N, int64_t C, int64_t HW) {
  return scratch(static_cast<size_t>(batchnorm_workspace_doubles(N, C, HW)) * sizeof(double));
}

void batchnorm_forward_train(const float* x, const float* gamma, const float* beta, int64_t N, int64_t C, int64_t HW,
                             float eps, float momentum, float* y, float* save_mean, float* save_invstd,
                             float* running_mean, float* running_var) {
  Tensor partials = batchnorm_partials(N, C, HW);
  cuda::batchnorm_forward_train_cuda(x, gamma, beta, N, C, HW, eps, momentum, y, save_mean, save_invstd, running_mean,
                                     running_var, static_cast<double*>(partials.data_ptr()), on_stream());
}

void batchnorm_backward(const float* dy, const float* x, const float* gamma, const float* save_mean,
                        const float* save_invstd, int64_t N, int64_t C, int64_t HW, float* dx, float* dgamma,
                        float* dbeta) {
  Tensor partials = batchnorm_partials(N, C, HW);
  cuda::batchnorm_backward_cuda(dy, x, gamma, save_mean, save_invstd, N, C, HW, dx, dgamma, dbeta,
                                static_cast<double*>(partials.data_ptr()), on_stream());
}

void batchnorm_backward_eval(const float* dy, const float* x, const float* gamma, const float* running_mean,
                             const float* running_var, int64_t N, int64_t C, int64_t HW, float eps, float* dx,
                             float* dgamma, float* dbeta) {
  Tensor partials = batchnorm_partials(N, C, HW);
  cuda::batchnorm_backward_eval_cuda(dy, x, gamma, running_mean, running_var, N, C, HW, eps, dx, dgamma, dbeta,
                                     static_cast<double*>(partials.data_ptr()), on_stream());
}

void cross_entropy_forward(const float* logits, const int32_t* labels, int64_t N, int64_t K, float label_smoothing,
                           float* loss, int64_t* correct, float* row_logsumexp) {
  Tensor partials = scratch(static_cast<size_t>(cross_entropy_workspace_floats(N)) * sizeof(float));
  cuda::cross_entropy_forward_cuda(logits, labels, N, K, label_smoothing, loss, correct, row_logsumexp,
                                   static_cast<float*>(partials.data_ptr()), on_stream());
}

// The optimizers read their slot and chunk tables from device memory.
void sgd_step(MultiTensorTable& tensors, const SgdHyper& h) {
  const MultiTensorTable::OnDevice t = tensors.on_device();
  cuda::sgd_step_cuda(t.slots, t.chunks, t.num_chunks, h, on_stream());
}

void adam_step(MultiTensorTable& tensors, const AdamHyper& h) {
  const MultiTensorTable::OnDevice t = tensors.on_device();
  cuda::adam_step_cuda(t.slots, t.chunks, t.num_chunks, h, on_stream());
}

}  // namespace impl

struct CudaKernels : Kernels {
  CudaKernels() : Kernels("cuda") {
    fill = on_current_stream<&cuda::fill_cuda>;
    copy_dense = impl::copy_dense;
    copy_strided = on_current_stream<&cuda::copy_strided_cuda>;
    cast_f32_to_bf16 = on_current_stream<&cuda::cast_f32_to_bf16_cuda>;
    cast_bf16_to_f32 = on_current_stream<&cuda::cast_bf16_to_f32_cuda>;

    add = on_current_stream<&cuda::add_cuda>;
    axpy = on_current_stream<&cuda::axpy_cuda>;
    scale = on_current_stream<&cuda::scale_cuda>;
    increment = on_current_stream<&cuda::increment_cuda>;
    relu_forward = on_current_stream<&cuda::relu_forward_cuda>;
    relu_backward = on_current_stream<&cuda::relu_backward_cuda>;

    sum = impl::sum;
    mean = impl::mean;
    sum_dim = on_current_stream<&cuda::sum_dim_cuda>;
    mean_dim = on_current_stream<&cuda::mean_dim_cuda>;

    accumulate_metrics = on_current_stream<&cuda::accumulate_metrics_cuda>;

    conv2d_forward = impl::conv2d_forward;
    conv2d_backward_data = impl::conv2d_backward_data;
    conv2d_backward_filter = impl::conv2d_backward_filter;
    bias_grad = on_current_stream<&cuda::bias_grad_cuda>;

    linear_forward = impl::linear_forward;
    linear_backward = impl::linear_backward;

    batchnorm_forward_train = impl::batchnorm_forward_train;
    batchnorm_forward_eval = on_current_stream<&cuda::batchnorm_forward_eval_cuda>;
    batchnorm_backward = impl::batchnorm_backward;
    batchnorm_backward_eval = impl::batchnorm_backward_eval;

    global_avg_pool_forward = on_current_stream<&cuda::global_avg_pool_forward_cuda>;
    global_avg_pool_backward = on_current_stream<&cuda::global_avg_pool_backward_cuda>;

    cross_entropy_forward = impl::cross_entropy_forward;
    cross_entropy_backward = on_current_stream<&cuda::cross_entropy_backward_cuda>;

    assemble_batch = on_current_stream<&cuda::assemble_batch_cuda>;

    sgd_step = impl::sgd_step;
    adam_step = impl::adam_step;
  }
};

}  // namespace

const Kernels& cuda_kernels() {
  static const CudaKernels table;
  return table;
}

}  // namespace cyg
