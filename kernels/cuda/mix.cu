// mix_images (MixUp's blend): one thread per output value, grid-stride; each reads its
// own value and its partner image's, so it is bound by memory bandwidth.
#include "kernels/cuda/launch.h"
#include "kernels/error.h"
#include "kernels/mix.h"

namespace cyg::CYG_KNS {
namespace {
__global__ void CYG_LAUNCH_BOUNDS mix_images_kernel(const float* x, const int32_t* partner, const float* weight,
                                                    int64_t N, int64_t image_size, float* y) {
  CYG_GRID_STRIDE_LOOP(i, N * image_size) {
    const int64_t image = i / image_size;
    const int32_t p = partner[image];
    y[i] = partner_in_range(p, N) ? mix_op(x[i], x[static_cast<int64_t>(p) * image_size + (i - image * image_size)],
                                           weight[image])
                                  : NAN;
  }
}

__global__ void CYG_LAUNCH_BOUNDS cutmix_images_kernel(const float* x, const int32_t* partner, const int32_t* box,
                                                       int64_t N, int64_t C, int64_t H, int64_t W, int channels_last,
                                                       float* y) {
  const int64_t image_size = C * H * W;
  CYG_GRID_STRIDE_LOOP(i, N * image_size) {
    const int64_t image = i / image_size, e = i - image * image_size;
    const int32_t p = partner[image];
    y[i] = !partner_in_range(p, N)                                         ? NAN
           : value_in_box(box + 4 * image, e, C, H, W, channels_last) ? x[static_cast<int64_t>(p) * image_size + e]
                                                                          : x[i];
  }
}
}  // namespace

void cutmix_images_cuda(const float* x, const int32_t* partner, const int32_t* box, int64_t N, int64_t C, int64_t H,
                        int64_t W, int channels_last, float* y, const LaunchConfig& cfg) {
  CYG_CHECK(N >= 0 && C >= 0 && H >= 0 && W >= 0, "cutmix_images of ", N, " images of ", C, "x", H, "x", W);
  const int64_t n = N * C * H * W;
  if (n == 0) return;
  // Each value is read once, from its own image or its partner's.
  count_traffic(__func__, 4 * n + 20 * N, 4 * n);
  CYG_LAUNCH(cutmix_images_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), x, partner, box, N, C, H,
             W, channels_last, y);
  CYG_CHECK_LAUNCH();
}

void mix_images_cuda(const float* x, const int32_t* partner, const float* weight, int64_t N, int64_t image_size,
                     float* y, const LaunchConfig& cfg) {
  CYG_CHECK(N >= 0 && image_size >= 0, "mix_images of ", N, " images of ", image_size, " values");
  const int64_t n = N * image_size;
  if (n == 0) return;
  count_traffic(__func__, 8 * n + 8 * N, 4 * n);
  CYG_LAUNCH(mix_images_kernel, grid_size(n, cfg), block_size(cfg), 0, stream_of(cfg), x, partner, weight, N,
             image_size, y);
  CYG_CHECK_LAUNCH();
}

}  // namespace cyg::CYG_KNS
