// A self-contained SVG of small images in a grid, each enlarged by whole pixels to about
// 96 pixels a side (no smoothing) and inlined as a PNG, with caption lines under it: what
// the highest-losses picture and a training batch's picture are drawn with.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace cyg::app {

struct GridCaption {
  std::string markup;  // SVG text content: plain text escaped (plot::escape_xml), <tspan>s allowed
  int font_size = 11;
  std::string color = "#444";
};

struct GridCell {
  int64_t image = 0;  // index into the images
  std::vector<GridCaption> captions;
};

// images: u8 [N, C, H, W] with C 1 or 3, contiguous on the CPU. `title` above, `subtitle`
// (smaller) under it.
std::string image_grid_svg(const std::vector<GridCell>& cells, const Tensor& images, const std::string& title,
                           const std::string& subtitle);

}  // namespace cyg::app
