// Image files made into a dataset's images (apps/common/image_input.h).
#include "apps/common/image_input.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <new>

#include "apps/common/jpeg.h"
#include "kernels/error.h"

namespace cyg::app {
namespace {

// The taps of one axis: for each output position, the first input index and the
// normalised weights of the inputs from it on.
struct Taps {
  std::vector<int64_t> first;
  std::vector<std::vector<double>> weights;
};

Taps taps_for(int64_t in, int64_t out) {
  Taps taps;
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double radius = std::max(scale, 1.0);  // the triangle's half-width, in input pixels
  for (int64_t i = 0; i < out; ++i) {
    const double centre = (static_cast<double>(i) + 0.5) * scale;
    const auto lo = std::max<int64_t>(0, static_cast<int64_t>(std::floor(centre - radius)));
    const auto hi = std::min<int64_t>(in, static_cast<int64_t>(std::ceil(centre + radius)));
    std::vector<double> w;
    double sum = 0;
    for (int64_t j = lo; j < hi; ++j) {
      const double d = std::abs((static_cast<double>(j) + 0.5 - centre) / radius);
      w.push_back(std::max(0.0, 1.0 - d));
      sum += w.back();
    }
    for (double& v : w) v /= sum;  // the input pixel nearest the centre always weighs more than 0
    taps.first.push_back(lo);
    taps.weights.push_back(std::move(w));
  }
  return taps;
}

}  // namespace

std::vector<uint8_t> resize_plane(const uint8_t* plane, int64_t height, int64_t width, int64_t out_height,
                                  int64_t out_width) {
  CYG_CHECK(height > 0 && width > 0 && out_height > 0 && out_width > 0, "resize_plane: ", height, "x", width, " to ",
            out_height, "x", out_width);
  const Taps across = taps_for(width, out_width), down = taps_for(height, out_height);
  // Across each row first (height x out_width), then down each column.
  std::vector<double> rows(static_cast<size_t>(height * out_width));
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < out_width; ++x) {
      double v = 0;
      const std::vector<double>& w = across.weights[static_cast<size_t>(x)];
      for (size_t k = 0; k < w.size(); ++k)
        v += w[k] * plane[y * width + across.first[static_cast<size_t>(x)] + static_cast<int64_t>(k)];
      rows[static_cast<size_t>(y * out_width + x)] = v;
    }
  std::vector<uint8_t> out(static_cast<size_t>(out_height * out_width));
  for (int64_t y = 0; y < out_height; ++y)
    for (int64_t x = 0; x < out_width; ++x) {
      double v = 0;
      const std::vector<double>& w = down.weights[static_cast<size_t>(y)];
      for (size_t k = 0; k < w.size(); ++k)
        v += w[k] * rows[static_cast<size_t>((down.first[static_cast<size_t>(y)] + static_cast<int64_t>(k)) * out_width + x)];
      out[static_cast<size_t>(y * out_width + x)] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  return out;
}

const std::vector<std::string>& resize_method_names() {
  static const std::vector<std::string> names = {"squish", "crop", "pad"};
  return names;
}

ResizeMethod resize_method_named(const std::string& name) {
  const std::vector<std::string>& names = resize_method_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<ResizeMethod>(i);
  throw Error("resize method '" + name + "': expected squish, crop or pad");
}

ResizeBox resize_box(int64_t height, int64_t width, int64_t height_out, int64_t width_out, ResizeMethod method) {
  CYG_CHECK(height >= 1 && width >= 1 && height_out >= 1 && width_out >= 1, "resize_box: an empty image or target");
  ResizeBox box{0, 0, height, width};
  // The image is wider than the target's aspect ratio where width / height > width_out / height_out.
  const bool wider = width * height_out > height * width_out, taller = width * height_out < height * width_out;
  auto floored = [](int64_t num, int64_t den) { return std::max<int64_t>(1, num / den); };
  if ((method == ResizeMethod::Crop && wider) || (method == ResizeMethod::Pad && taller))
    box.width = floored(height * width_out, height_out);  // the height kept, the width made to the ratio
  else if ((method == ResizeMethod::Crop && taller) || (method == ResizeMethod::Pad && wider))
    box.height = floored(width * height_out, width_out);
  // Halves of the difference truncated towards zero: a crop's odd pixel is left at the
  // bottom or right, a pad's odd row or column goes there too.
  box.top = (height - box.height) / 2;
  box.left = (width - box.width) / 2;
  return box;
}

std::vector<uint8_t> dataset_image(const DecodedImage& image, int64_t channels, int64_t height, int64_t width,
                                   ResizeMethod method) {
  CYG_CHECK(channels == 1 || channels == 3, "dataset_image: ", channels, " channels (expected 1 or 3)");
  CYG_CHECK(image.channels >= 1 && image.channels <= 4 &&
                image.pixels.size() == static_cast<size_t>(image.width * image.height * image.channels),
            "dataset_image: a malformed image");
  const int64_t pixels = image.width * image.height;
  const bool colour = image.channels >= 3;
  // The image's planes in the dataset's channels, at the image's size.
  std::vector<uint8_t> planes(static_cast<size_t>(channels * pixels));
  for (int64_t p = 0; p < pixels; ++p) {
    const uint8_t* px = image.pixels.data() + static_cast<size_t>(p * image.channels);
    for (int64_t c = 0; c < channels; ++c) {
      uint8_t v;
      if (channels == 3)
        v = colour ? px[c] : px[0];
      else
        v = colour ? static_cast<uint8_t>((px[0] * 19595u + px[1] * 38470u + px[2] * 7471u + 0x8000u) >> 16) : px[0];
      planes[static_cast<size_t>(c * pixels + p)] = v;
    }
  }
  const ResizeBox box = resize_box(image.height, image.width, height, width, method);
  int64_t h = image.height, w = image.width;
  // A pad grows the image (a panorama to a square): held to the decoders' limit.
  CYG_INPUT_CHECK(box.height * box.width <= kMostImagePixels, "a ", w, "x", h, " image padded to ", box.width, "x",
                  box.height, " is over the ", kMostImagePixels, "-pixel limit: use data.resize_method=crop or squish");
  if (box.height != h || box.width != w) {  // the box's pixels: the image's inside it, zeros outside
    std::vector<uint8_t> boxed(static_cast<size_t>(channels * box.height * box.width), 0);
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t y = 0; y < box.height; ++y) {
        const int64_t sy = y + box.top;
        if (sy < 0 || sy >= h) continue;
        for (int64_t x = 0; x < box.width; ++x) {
          const int64_t sx = x + box.left;
          if (sx >= 0 && sx < w)
            boxed[static_cast<size_t>((c * box.height + y) * box.width + x)] =
                planes[static_cast<size_t>((c * h + sy) * w + sx)];
        }
      }
    planes = std::move(boxed);
    h = box.height;
    w = box.width;
  }
  if (h == height && w == width) return planes;
  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(channels * height * width));
  for (int64_t c = 0; c < channels; ++c) {
    const std::vector<uint8_t> resized = resize_plane(planes.data() + c * h * w, h, w, height, width);
    out.insert(out.end(), resized.begin(), resized.end());
  }
  return out;
}

DecodedImage read_image(const std::string& path, bool shrink) {
  std::ifstream in(path, std::ios::binary);
  CYG_INPUT_CHECK(in.good(), "image '", path, "' not found or not readable");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CYG_INPUT_CHECK(!in.bad(), "image '", path, "' could not be read");
  if (looks_like_jpeg(bytes)) return jpeg_decode(bytes, path, shrink);
  CYG_INPUT_CHECK(bytes.size() >= 8 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0, "image '", path,
                  "' is neither a PNG nor a JPEG file (by its first bytes)");
  return png_decode(bytes, path);
}

bool is_image_file_name(const std::string& name) {
  std::string extension = std::filesystem::path(name).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".png" || extension == ".jpg" || extension == ".jpeg";
}

std::vector<std::string> image_files(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code error;
    if (!std::filesystem::is_directory(path, error)) {
      files.push_back(path);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
      // Hidden files (macOS's ._ resource forks among them) are passed over, as the
      // image-folder dataset passes them over.
      if (is_image_file_name(entry.path().string()) && entry.path().filename().string()[0] != '.' &&
          entry.is_regular_file(error))
        found.push_back(entry.path().string());
    }
    CYG_INPUT_CHECK(!error, "image folder '", path, "' could not be read: ", error.message());
    CYG_INPUT_CHECK(!found.empty(), "image folder '", path, "' holds no image file (.png, .jpg or .jpeg)");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

void for_each_file_in_parallel(const std::vector<std::string>& paths, const std::function<void(size_t)>& work) {
  const auto n = static_cast<int64_t>(paths.size());
  std::vector<std::exception_ptr> failures(paths.size());  // nothing may leave the parallel loop
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < n; ++i) {
    try {
      work(static_cast<size_t>(i));
    } catch (...) {
      failures[static_cast<size_t>(i)] = std::current_exception();
    }
  }
  std::vector<size_t> failed;
  for (size_t i = 0; i < failures.size(); ++i)
    if (failures[i]) failed.push_back(i);
  if (failed.empty()) return;
  try {
    std::rethrow_exception(failures[failed[0]]);
  } catch (const Error& e) {
    std::string more;
    if (failed.size() > 1) {
      more = detail::concat(" (", failed.size() - 1, " more of the ", n, " files failed too: ");
      for (size_t k = 1; k < failed.size() && k <= 3; ++k) more += (k > 1 ? ", '" : "'") + paths[failed[k]] + "'";
      more += failed.size() > 4 ? ", ...)" : ")";
    }
    throw Error(e.what() + more);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(detail::concat("image '", paths[failed[0]], "': ", e.what()));
  }
}

Dataset images_like(const std::vector<std::string>& paths, const Dataset& like, ResizeMethod method) {
  CYG_CHECK(like.images.defined() && like.images.dim() == 4, "images_like: a dataset without images");
  const int64_t C = like.images.size(1), H = like.images.size(2), W = like.images.size(3);
  Dataset d;
  d.name = std::to_string(paths.size()) + " image file" + (paths.size() == 1 ? "" : "s");
  d.num_classes = like.num_classes;
  d.class_names = like.class_names;
  d.files = paths;
  d.images = Tensor::empty({static_cast<int64_t>(paths.size()), C, H, W}, DType::U8);
  d.labels = Tensor::zeros({static_cast<int64_t>(paths.size())}, DType::I32);
  uint8_t* images = d.images.data<uint8_t>();
  for_each_file_in_parallel(paths, [&](size_t i) {
    const DecodedImage image = read_image(paths[i], /*shrink=*/true);
    std::vector<uint8_t> pixels;
    try {
      pixels = dataset_image(image, C, H, W, method);
    } catch (const Error& e) {
      throw Error("image '" + paths[i] + "': " + e.what());
    }
    std::copy(pixels.begin(), pixels.end(), images + static_cast<int64_t>(i) * C * H * W);
  });
  return d;
}

}  // namespace cyg::app
