// Images in a grid, as one SVG (apps/common/image_grid.h).
#include "apps/common/image_grid.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "apps/common/plot.h"
#include "apps/common/png.h"
#include "kernels/error.h"

namespace cyg::app {
namespace {

// The image's pixels enlarged `scale` times by repetition, as HWC rows for png_bytes.
std::string enlarged_png(const Tensor& images, int64_t index, int64_t scale) {
  const int64_t C = images.size(1), H = images.size(2), W = images.size(3);
  const uint8_t* src = images.data<uint8_t>() + index * C * H * W;
  std::vector<uint8_t> out(static_cast<size_t>(H * scale * W * scale * C));
  for (int64_t y = 0; y < H * scale; ++y)
    for (int64_t x = 0; x < W * scale; ++x)
      for (int64_t c = 0; c < C; ++c)
        out[static_cast<size_t>((y * W * scale + x) * C + c)] = src[(c * H + y / scale) * W + x / scale];
  return png_bytes(out.data(), W * scale, H * scale, static_cast<int>(C));
}

}  // namespace

std::string image_grid_svg(const std::vector<GridCell>& cells, const Tensor& images, const std::string& title,
                           const std::string& subtitle) {
  CYG_CHECK(images.defined() && images.dim() == 4 && images.dtype() == DType::U8 &&
                (images.size(1) == 1 || images.size(1) == 3) && images.device().is_cpu() && images.is_contiguous(),
            "image_grid_svg: images must be u8 [N, C, H, W] with 1 or 3 channels, contiguous on the CPU");
  const int64_t H = images.size(2), W = images.size(3);
  const int64_t scale = std::max<int64_t>(1, 96 / std::max(H, W));
  const int64_t image_w = W * scale, image_h = H * scale;
  const int64_t n = static_cast<int64_t>(cells.size());
  size_t lines = 0;
  for (const GridCell& cell : cells) lines = std::max(lines, cell.captions.size());
  const int64_t columns = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n)))));
  const int64_t rows = n == 0 ? 0 : (n + columns - 1) / columns;
  const int64_t cell_w = std::max<int64_t>(image_w, 150) + 16;
  const int64_t cell_h = image_h + 15 * static_cast<int64_t>(lines) + 17, top_margin = 58;
  const int64_t width = std::max<int64_t>(columns * cell_w, 360), height = top_margin + rows * cell_h + 8;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
     << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"sans-serif\">\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<text x=\"8\" y=\"22\" font-size=\"15\" font-weight=\"bold\">" << plot::escape_xml(title) << "</text>\n";
  os << "<text x=\"8\" y=\"40\" font-size=\"11\" fill=\"#666\">" << plot::escape_xml(subtitle) << "</text>\n";
  for (int64_t k = 0; k < n; ++k) {
    const GridCell& cell = cells[static_cast<size_t>(k)];
    CYG_CHECK(cell.image >= 0 && cell.image < images.size(0), "image_grid_svg: image ", cell.image, " of ",
              images.size(0));
    const int64_t x = (k % columns) * cell_w + 8, y = top_margin + (k / columns) * cell_h;
    const int64_t image_x = x + (cell_w - 16 - image_w) / 2;
    os << "<image x=\"" << image_x << "\" y=\"" << y << "\" width=\"" << image_w << "\" height=\"" << image_h
       << "\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,"
       << base64(enlarged_png(images, cell.image, scale)) << "\"/>\n";
    const int64_t text_x = x + (cell_w - 16) / 2;
    for (size_t l = 0; l < cell.captions.size(); ++l) {
      const GridCaption& c = cell.captions[l];
      os << "<text x=\"" << text_x << "\" y=\"" << y + image_h + 16 + 15 * static_cast<int64_t>(l)
         << "\" font-size=\"" << c.font_size << "\" text-anchor=\"middle\""
         << (c.color == "#000" ? "" : " fill=\"" + c.color + "\"") << ">" << c.markup << "</text>\n";
    }
  }
  os << "</svg>\n";
  return os.str();
}

}  // namespace cyg::app
