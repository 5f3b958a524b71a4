// A training batch's picture (apps/common/show_batch.h).
#include "apps/common/show_batch.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "apps/common/evaluation.h"
#include "apps/common/image_grid.h"
#include "apps/common/plot.h"
#include "engine/functional.h"
#include "kernels/error.h"

namespace cyg::app {

Tensor pixels_of(const Tensor& images, const Normalization& n) {
  CYG_CHECK(images.defined() && images.dtype() == DType::F32 && images.dim() == 4,
            "pixels_of: images must be f32 [N, C, H, W]");
  const Tensor x = images.to(Device::cpu()).contiguous();
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  CYG_CHECK(n.mean.size() == static_cast<size_t>(C) && n.std.size() == static_cast<size_t>(C), "pixels_of: ",
            n.mean.size(), " means and ", n.std.size(), " stds for ", C, " channel(s)");
  Tensor out = Tensor::empty({N, C, x.size(2), x.size(3)}, DType::U8);
  const float* v = x.data<float>();
  uint8_t* p = out.data<uint8_t>();
  for (int64_t i = 0; i < N * C * HW; ++i) {
    const size_t c = static_cast<size_t>((i / HW) % C);
    const double unit = static_cast<double>(v[i]) * n.std[c] + n.mean[c];
    p[i] = static_cast<uint8_t>(std::clamp(std::nearbyint(unit * 255.0), 0.0, 255.0));
  }
  return out;
}

std::string batch_svg(const Batch& batch, int64_t parts, const Normalization& n, const std::vector<std::string>& names,
                      const std::string& title, const std::string& subtitle, int64_t count) {
  const int64_t local = batch.labels.numel();
  CYG_CHECK(parts >= 1 && local >= 1 && count >= 1, "batch_svg of ", local, " images in ", parts, " part(s)");
  // The first part, as the step cuts it: its partners count from its start.
  const int64_t end = local / parts, shown = std::min(count, end);
  Tensor images = batch.images.slice(0, end);
  const fn::Mixing mixing = batch.mixing.slice(0, end);
  if (mixing.on()) images = fn::mix_images(images, mixing);
  const Tensor pixels = pixels_of(images.slice(0, shown), n);
  const Tensor labels = batch.labels.slice(0, end).to(Device::cpu()).contiguous();
  const Tensor partner = mixing.on() ? mixing.partner.to(Device::cpu()).contiguous() : Tensor();
  const std::vector<float> weight = mixing.on() ? mixing.weight.to_vector() : std::vector<float>();
  std::vector<GridCell> cells;
  char share[32];
  for (int64_t i = 0; i < shown; ++i) {
    const int32_t label = labels.data<int32_t>()[i];
    GridCell cell{i, {}};
    if (!mixing.on()) {
      cell.captions.push_back({plot::escape_xml(class_name(names, label)), 12, "#000"});
    } else {
      const float w = weight[static_cast<size_t>(i)];
      const int32_t other = labels.data<int32_t>()[partner.data<int32_t>()[i]];
      std::snprintf(share, sizeof share, " %.0f%%", 100.0 * w);
      cell.captions.push_back({plot::escape_xml(class_name(names, label)) + share, 12, "#000"});
      std::snprintf(share, sizeof share, " %.0f%%", 100.0 * (1.0 - w));
      cell.captions.push_back({"+ " + plot::escape_xml(class_name(names, other)) + share, 11, "#888"});
    }
    cells.push_back(cell);
  }
  return image_grid_svg(cells, pixels, title, subtitle);
}

}  // namespace cyg::app
