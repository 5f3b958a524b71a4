// The CPU backend's kernel table: the reference kernels of kernels/cpu/, registered as
// they are wherever their signature is the table's; the convolutions through oneDNN
// where the build has it.
#include <cstring>

#include "engine/dispatch.h"
#include "engine/multi_tensor.h"
#include "kernels/add.h"
#include "kernels/batch.h"
#include "kernels/bias.h"
#include "kernels/cast.h"
#include "kernels/fill.h"
#include "kernels/linear.h"
#include "kernels/loss.h"
#include "kernels/metrics.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"
#include "kernels/relu.h"
#include "kernels/mix.h"
#include "kernels/scale.h"

namespace cyg {

namespace {

struct CpuKernels : Kernels {
  CpuKernels() : Kernels("cpu") {
    fill = fill_cpu;
    copy_dense = [](void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); };
    copy_strided = copy_strided_cpu;
    cast_f32_to_bf16 = cast_f32_to_bf16_cpu;
    cast_bf16_to_f32 = cast_bf16_to_f32_cpu;

    add = add_cpu<float>;
    axpy = axpy_cpu;
    scale = scale_cpu;
    increment = increment_cpu;
    relu_forward = relu_forward_cpu<float>;
    relu_backward = relu_backward_cpu<float>;

    sum = sum_cpu;
    mean = mean_cpu;
    sum_dim = sum_dim_cpu;
    mean_dim = mean_dim_cpu;
    moments = moments_cpu;
    moments_bf16 = moments_bf16_cpu;
    histogram = histogram_cpu;
    histogram_bf16 = histogram_bf16_cpu;

    accumulate_metrics = accumulate_metrics_cpu;

#if CYGNET_HAVE_ONEDNN
    conv2d_forward = conv2d_forward_onednn;
    conv2d_backward_data = conv2d_backward_data_onednn;
    conv2d_backward_filter = conv2d_backward_filter_onednn;
    conv2d_forward_nhwc = conv2d_forward_nhwc_onednn;
    conv2d_backward_data_nhwc = conv2d_backward_data_nhwc_onednn;
    conv2d_backward_filter_nhwc = conv2d_backward_filter_nhwc_onednn;
#else
    conv2d_forward = conv2d_forward_cpu<float>;
    conv2d_backward_data = conv2d_backward_data_cpu<float>;
    conv2d_backward_filter = conv2d_backward_filter_cpu<float>;
#endif
    bias_grad = bias_grad_cpu<float>;

    linear_forward = linear_forward_cpu<float>;
    linear_backward = linear_backward_cpu<float>;

    batchnorm_forward_train = batchnorm_forward_train_cpu<float>;
    batchnorm_forward_eval = batchnorm_forward_eval_cpu<float>;
    batchnorm_backward = batchnorm_backward_cpu<float>;
    batchnorm_backward_eval = batchnorm_backward_eval_cpu<float>;

    global_avg_pool_forward = global_avg_pool_forward_cpu<float>;
    global_avg_pool_backward = global_avg_pool_backward_cpu<float>;
    // Channels-last: batchnorm and pooling everywhere; the convolutions above with oneDNN.
    batchnorm_forward_train_nhwc = batchnorm_forward_train_nhwc_cpu<float>;
    batchnorm_forward_eval_nhwc = batchnorm_forward_eval_nhwc_cpu<float>;
    batchnorm_backward_nhwc = batchnorm_backward_nhwc_cpu<float>;
    batchnorm_backward_eval_nhwc = batchnorm_backward_eval_nhwc_cpu<float>;
    global_avg_pool_forward_nhwc = global_avg_pool_forward_nhwc_cpu<float>;
    global_avg_pool_backward_nhwc = global_avg_pool_backward_nhwc_cpu<float>;

    add_bf16 = add_cpu<uint16_t>;
    conv2d_forward_bf16 = conv2d_forward_bf16_cpu;
    conv2d_backward_data_bf16 = conv2d_backward_data_bf16_cpu;
    conv2d_backward_filter_bf16 = conv2d_backward_filter_bf16_cpu;
    linear_forward_bf16 = linear_forward_bf16_cpu;
    linear_backward_bf16 = linear_backward_bf16_cpu;
    batchnorm_forward_train_bf16 = batchnorm_forward_train_cpu<float, uint16_t>;
    batchnorm_forward_eval_bf16 = batchnorm_forward_eval_cpu<float, uint16_t>;
    batchnorm_backward_bf16 = batchnorm_backward_cpu<float, uint16_t>;
    batchnorm_backward_eval_bf16 = batchnorm_backward_eval_cpu<float, uint16_t>;
    global_avg_pool_forward_bf16 = global_avg_pool_forward_cpu<uint16_t>;
    global_avg_pool_backward_bf16 = global_avg_pool_backward_cpu<uint16_t>;

    cross_entropy_forward = cross_entropy_forward_cpu<float>;
    cross_entropy_backward = [](const float* logits, const int32_t* labels, const float* row_logsumexp, int64_t N,
                                int64_t K, float label_smoothing, const float* grad_loss, float* dlogits,
                                LabelMix mix) {
      cross_entropy_backward_cpu<float>(logits, labels, row_logsumexp, N, K, label_smoothing, *grad_loss, dlogits,
                                        mix);
    };
    mix_images = mix_images_cpu;
    cutmix_images = cutmix_images_cpu;

    assemble_batch = assemble_batch_cpu;

    upload_tensor_table = [](MultiTensorTable&) {};  // the host reads the table where it is
    sgd_step = [](const MultiTensorTable& t) {
      sgd_step_cpu(t.slots().data(), static_cast<int>(t.slots().size()), t.hyper<SgdHyper>());
    };
    adam_step = [](const MultiTensorTable& t) {
      adam_step_cpu(t.slots().data(), static_cast<int>(t.slots().size()), t.hyper<AdamHyper>());
    };
    ema_step = [](const MultiTensorTable& t) {
      ema_step_cpu(t.slots().data(), static_cast<int>(t.slots().size()), t.hyper<EmaHyper>());
    };
    grad_norm_clip = [](const MultiTensorTable& t, float max_norm, float* out) {
      grad_norm_clip_cpu(t.slots().data(), static_cast<int>(t.slots().size()), MultiTensorTable::kChunkElems, max_norm,
                         out);
    };
  }
};

}  // namespace

const Kernels& cpu_kernels() {
  static const CpuKernels table;
  return table;
}

}  // namespace cyg
