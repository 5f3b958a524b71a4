// Image files made into a dataset's images, for asking a model about them (fastai's
// learn.predict) and for image-folder datasets: a PNG's or JPEG's channels converted to the dataset's and its size changed to
// the dataset's, as u8 CHW, ready for the loader's batches.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "apps/common/png.h"
#include "data/datasets.h"

namespace cyg::app {

// One channel plane of height x width bytes resized to out_height x out_width with a
// triangle (bilinear) filter whose radius grows with the scale where the image shrinks
// (antialiased: each output pixel averages the input it covers, as PIL's BILINEAR does),
// pixel centres at half-integers; each value rounded to the nearest byte. The same size
// gives the plane back.
std::vector<uint8_t> resize_plane(const uint8_t* plane, int64_t height, int64_t width, int64_t out_height,
                                  int64_t out_width);

// How an image of another shape is made height x width, as fastai's Resize(method=...):
// - Squish: resized as it is, its aspect ratio changed (fastai's ResizeMethod.Squish);
// - Crop: the largest box of the target's aspect ratio at its centre, resized (fastai's
//   ResizeMethod.Crop as it makes validation images; torchvision's Resize + CenterCrop);
// - Pad: zeros (black) added on both sides of the short side up to the target's aspect
//   ratio, then resized (fastai's ResizeMethod.Pad with PadMode.Zeros).
enum class ResizeMethod { Squish, Crop, Pad };

// "squish", "crop" and "pad", in the enum's order (the config key's choices).
const std::vector<std::string>& resize_method_names();
// The method of a name of resize_method_names(); an error names what is expected.
ResizeMethod resize_method_named(const std::string& name);

// The box of a width x height image that the method makes height_out x width_out before
// resizing: its top-left corner (negative where it pads) and its size. Squish: the image.
// The box's other side is floor(kept side x the target's ratio) (at least 1), and its
// offsets (image - box) / 2 truncated towards zero, as fastai's Resize sizes and places
// its box for validation images (int(m * size), int(0.5 * (image - box))).
struct ResizeBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};
ResizeBox resize_box(int64_t height, int64_t width, int64_t height_out, int64_t width_out, ResizeMethod method);

// The image with `channels` (1 or 3) channels, CHW: an alpha channel dropped, RGB made
// grayscale by ITU-R 601-2 luma (0.299 R + 0.587 G + 0.114 B, in 16-bit fixed point),
// grayscale repeated into R, G and B; then cropped or padded to resize_box's box and each
// channel resized to height x width.
std::vector<uint8_t> dataset_image(const DecodedImage& image, int64_t channels, int64_t height, int64_t width,
                                   ResizeMethod method = ResizeMethod::Squish);

// The image file at `path`, decoded as what its first bytes say it is: a PNG file
// (png_decode) or a JPEG file (jpeg_decode, with `shrink`: for an image about to be
// resized, a JPEG over the size limits is decoded at 1/2, 1/4 or 1/8 of its size). The
// errors name the file.
DecodedImage read_image(const std::string& path, bool shrink = false);

// Whether a file name ends as an image file's: .png, .jpg or .jpeg, in any case.
bool is_image_file_name(const std::string& name);

// The files the paths name, in order: a folder stands for the image files in it (.png,
// .jpg, .jpeg; not its subfolders nor its hidden files), sorted by name; an error names a
// folder that has none.
std::vector<std::string> image_files(const std::vector<std::string>& paths);

// Calls work(i) for every file i of `paths`, on every core (OpenMP). Every failure is
// kept; the first by position is thrown, its message followed by a count of the others and
// the next three files' names, so that all of them can be fixed at once. An out-of-memory
// error stays std::bad_alloc (the apps' advice about memory).
void for_each_file_in_parallel(const std::vector<std::string>& paths, const std::function<void(size_t)>& work);

// A dataset of the given image files in order, each made like `like`'s images (its channels
// and size, by `method`), with its class names and the paths as its files; every label 0 (unknown).
// Decoded on every core; an error names the file (the first bad one, with the others
// counted).
Dataset images_like(const std::vector<std::string>& paths, const Dataset& like,
                    ResizeMethod method = ResizeMethod::Squish);

}  // namespace cyg::app
