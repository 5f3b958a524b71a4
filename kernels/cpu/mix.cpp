// mix_images, CPU reference.
#include "kernels/mix.h"

#include "kernels/error.h"

namespace cyg {

void mix_images_cpu(const float* x, const int32_t* partner, const float* weight, int64_t N, int64_t image_size,
                    float* y) {
  CYG_CHECK(N >= 0 && image_size >= 0, "mix_images of ", N, " images of ", image_size, " values");
  for (int64_t i = 0; i < N; ++i)
    CYG_CHECK(partner_in_range(partner[i], N), "mix_images: image ", i, " has partner ", partner[i],
              ", outside [0, ", N, ")");
#pragma omp parallel for if (N * image_size > 65536)
  for (int64_t i = 0; i < N; ++i) {
    const float* own = x + i * image_size;
    const float* other = x + static_cast<int64_t>(partner[i]) * image_size;
    for (int64_t e = 0; e < image_size; ++e) y[i * image_size + e] = mix_op(own[e], other[e], weight[i]);
  }
}

void cutmix_images_cpu(const float* x, const int32_t* partner, const int32_t* box, int64_t N, int64_t C, int64_t H,
                       int64_t W, int channels_last, float* y) {
  CYG_CHECK(N >= 0 && C >= 0 && H >= 0 && W >= 0, "cutmix_images of ", N, " images of ", C, "x", H, "x", W);
  for (int64_t i = 0; i < N; ++i) {
    CYG_CHECK(partner_in_range(partner[i], N), "cutmix_images: image ", i, " has partner ", partner[i],
              ", outside [0, ", N, ")");
    const int32_t* b = box + 4 * i;
    CYG_CHECK(b[0] >= 0 && b[1] >= 0 && b[2] >= 0 && b[3] >= 0 && int64_t(b[0]) + b[2] <= H &&
                  int64_t(b[1]) + b[3] <= W,
              "cutmix_images: image ", i, " has box (top ", b[0], ", left ", b[1], ", height ", b[2], ", width ", b[3],
              "), not inside its ", H, "x", W, " pixels");
  }
  const int64_t image = C * H * W;
#pragma omp parallel for if (N * image > 65536)
  for (int64_t i = 0; i < N; ++i) {
    const float* own = x + i * image;
    const float* other = x + static_cast<int64_t>(partner[i]) * image;
    for (int64_t e = 0; e < image; ++e)
      y[i * image + e] = value_in_box(box + 4 * i, e, C, H, W, channels_last) ? other[e] : own[e];
  }
}

}  // namespace cyg
