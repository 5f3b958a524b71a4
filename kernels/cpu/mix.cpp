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

}  // namespace cyg
