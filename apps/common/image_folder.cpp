// Image-folder datasets (apps/common/image_folder.h).
#include "apps/common/image_folder.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "apps/common/image_input.h"
#include "data/loader.h"
#include "kernels/error.h"

namespace cyg::app {
namespace {

namespace fs = std::filesystem;

bool hidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

// The entries of a folder that pass `keep`, sorted by name.
template <typename Keep>
std::vector<fs::path> entries(const fs::path& folder, Keep keep) {
  std::error_code error;
  std::vector<fs::path> found;
  fs::directory_iterator it(folder, error), end;
  CYG_INPUT_CHECK(!error, "image folder '", folder.string(), "' could not be read: ", error.message());
  for (; it != end; it.increment(error)) {
    CYG_INPUT_CHECK(!error, "image folder '", folder.string(), "' could not be read: ", error.message());
    if (!hidden(it->path()) && keep(*it)) found.push_back(it->path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// The image files in a class folder and the folders under it (as torchvision walks them),
// hidden ones passed over, sorted by path. Links to folders are not followed (a link may
// lead back up); links to files are.
std::vector<std::string> image_files_under(const fs::path& folder) {
  std::vector<std::string> found;
  std::error_code error;
  fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, error), end;
  CYG_INPUT_CHECK(!error, "image folder '", folder.string(), "' could not be read: ", error.message());
  for (; it != end; it.increment(error)) {
    CYG_INPUT_CHECK(!error, "image folder '", folder.string(), "' could not be read: ", error.message());
    if (hidden(it->path())) {
      if (it->is_directory(error)) it.disable_recursion_pending();
      continue;
    }
    std::error_code ec;
    if (it->is_regular_file(ec) && is_image_file_name(it->path().string())) found.push_back(it->path().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// The bytes of physical memory, or 0 where the system does not say.
double physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
}

// The stream of draws the held-out part comes from: an epoch no run reaches, so the
// division is independent of every epoch's order.
constexpr int64_t kHoldoutStream = int64_t{1} << 40;

std::string listed(const std::vector<std::string>& names) {
  std::string all;
  for (const std::string& c : names) all += (all.empty() ? "" : ", ") + c;
  return all;
}

struct Item {
  std::string path;
  int32_t label;
};

}  // namespace

Dataset load_image_folder(const ImageFolderOptions& o) {
  CYG_CHECK(o.channels == 1 || o.channels == 3, "load_image_folder: ", o.channels, " channels");
  CYG_CHECK(o.size >= 0 && o.limit >= 0, "load_image_folder: size ", o.size, ", limit ", o.limit);
  const fs::path folder = fs::path(o.root) / o.split;
  std::error_code error;
  CYG_INPUT_CHECK(fs::is_directory(folder, error), "image folder '", folder.string(),
                  "' not found: an image-folder dataset holds its splits as folders of class folders (",
                  (fs::path(o.root) / o.split / "<class>" / "<image>.png").string(), ")");
  const std::vector<fs::path> class_folders =
      entries(folder, [](const fs::directory_entry& e) { std::error_code ec; return e.is_directory(ec); });
  CYG_INPUT_CHECK(!class_folders.empty(), "image folder '", folder.string(),
                  "' holds no class folder (expected one folder of images per class)");
  std::vector<std::string> classes = o.classes;
  const bool own_classes = classes.empty();
  if (own_classes)
    for (const fs::path& p : class_folders) classes.push_back(p.filename().string());
  CYG_INPUT_CHECK(!own_classes || classes.size() >= 2, "image folder '", folder.string(), "' holds 1 class folder ('",
                  classes[0], "'); a classifier needs at least 2");

  // Each class's files in name order.
  std::vector<std::vector<std::string>> files(classes.size());
  for (const fs::path& class_folder : class_folders) {
    const std::string name = class_folder.filename().string();
    const auto at = std::find(classes.begin(), classes.end(), name);
    CYG_INPUT_CHECK(at != classes.end(), "image folder '", folder.string(), "' has a class folder '", name,
                    "' that ", o.classes_from, " has not (its classes: ", listed(classes), ")");
    std::vector<std::string>& mine = files[static_cast<size_t>(at - classes.begin())];
    mine = image_files_under(class_folder);
    CYG_INPUT_CHECK(!mine.empty(), "class folder '", class_folder.string(), "' holds no .png, .jpg or .jpeg file");
  }

  if (o.every_class)
    for (size_t c = 0; c < classes.size(); ++c)
      CYG_INPUT_CHECK(!files[c].empty(), "image folder '", folder.string(), "' has no class folder '", classes[c],
                      "', which ", o.classes_from, " has (its classes: ", listed(classes), ")");

  // The held-out part, or the rest.
  if (o.holdout > 0) {
    CYG_CHECK(o.holdout < 1, "load_image_folder: holdout ", o.holdout);
    std::vector<std::pair<size_t, size_t>> all;  // (class, file), in class order
    for (size_t c = 0; c < files.size(); ++c)
      for (size_t i = 0; i < files[c].size(); ++i) all.emplace_back(c, i);
    const auto count = static_cast<int64_t>(all.size());
    const auto cut = static_cast<int64_t>(o.holdout * static_cast<double>(count));  // int(), as fastai
    CYG_INPUT_CHECK(cut >= 1 && cut < count, "image folder '", folder.string(), "': data.valid_pct = ", o.holdout,
                    " of its ", count, " images holds out ", cut, ": expected at least one image in each part");
    std::vector<char> held(all.size(), 0);
    const std::vector<int64_t> order = epoch_permutation(count, o.holdout_seed, kHoldoutStream);
    for (int64_t k = 0; k < cut; ++k) held[static_cast<size_t>(order[static_cast<size_t>(k)])] = 1;
    std::vector<std::vector<std::string>> part(files.size());
    for (size_t k = 0; k < all.size(); ++k)
      if (static_cast<bool>(held[k]) == o.held_out) part[all[k].first].push_back(files[all[k].first][all[k].second]);
    files = std::move(part);
  }

  // Which files: all, or `limit` of them taken from the classes in turn.
  size_t total = 0;
  for (const auto& f : files) total += f.size();
  std::vector<size_t> taken(classes.size(), 0);
  if (o.limit > 0 && static_cast<size_t>(o.limit) < total) {
    for (size_t n = 0; n < static_cast<size_t>(o.limit);)
      for (size_t c = 0; c < classes.size() && n < static_cast<size_t>(o.limit); ++c)
        if (taken[c] < files[c].size()) ++taken[c], ++n;
  } else {
    for (size_t c = 0; c < classes.size(); ++c) taken[c] = files[c].size();
  }
  std::vector<Item> items;
  for (size_t c = 0; c < classes.size(); ++c)
    for (size_t i = 0; i < taken[c]; ++i) items.push_back({files[c][i], static_cast<int32_t>(c)});

  // The size every image is made: data.image_size, or the first image's.
  int64_t height = o.size, width = o.size;
  if (o.size == 0) {
    const DecodedImage first = read_image(items[0].path);
    height = first.height;
    width = first.width;
  }
  const auto n = static_cast<int64_t>(items.size());
  const int64_t plane = o.channels * height * width;
  const double bytes = static_cast<double>(n) * static_cast<double>(plane), memory = physical_memory_bytes();
  CYG_INPUT_CHECK(memory == 0 || bytes < 0.8 * memory, "image folder '", folder.string(), "': its ", n, " images of ",
                  o.channels, "x", height, "x", width, " would take ", bytes / (1 << 30), " GiB of the machine's ",
                  memory / (1 << 30), ": set data.image_size (smaller), or data.limit_train and data.limit_val");
  Dataset d;
  d.name = fs::path(o.root).filename().string();
  if (d.name.empty()) d.name = fs::path(o.root).parent_path().filename().string();
  d.name += "-" + o.split + (o.holdout > 0 && o.held_out ? "-held-out" : "");
  d.num_classes = static_cast<int64_t>(classes.size());
  d.class_names = classes;
  d.images = Tensor::empty({n, o.channels, height, width}, DType::U8);
  d.labels = Tensor::empty({n}, DType::I32);
  for (const Item& item : items) d.files.push_back(item.path);
  uint8_t* images = d.images.data<uint8_t>();
  int32_t* labels = d.labels.data<int32_t>();
  // Decoded in parallel; the first bad file by position is reported, the others counted.
  for_each_file_in_parallel(d.files, [&](size_t i) {
    const Item& item = items[i];
    const DecodedImage image = read_image(item.path, /*shrink=*/o.size > 0);
    CYG_INPUT_CHECK(o.size > 0 || (image.height == height && image.width == width), "image '", item.path, "' is ",
                    image.width, "x", image.height, " pixels where '", items[0].path, "' is ", width, "x", height,
                    ": set data.image_size to resize every image to one size");
    std::vector<uint8_t> pixels;
    try {
      pixels = dataset_image(image, o.channels, height, width, o.resize);
    } catch (const Error& e) {
      throw Error("image '" + item.path + "': " + e.what());
    }
    std::copy(pixels.begin(), pixels.end(), images + static_cast<int64_t>(i) * plane);
    labels[i] = item.label;
  });
  return d;
}

std::string folder_fingerprint(const std::string& root, const std::string& split) {
  const fs::path folder = fs::path(root) / split;
  const std::vector<fs::path> class_folders =
      entries(folder, [](const fs::directory_entry& e) { std::error_code ec; return e.is_directory(ec); });
  uint64_t hash = 14695981039346656037ull;  // FNV-1a, 64 bits
  int64_t count = 0;
  for (const fs::path& class_folder : class_folders)
    for (const std::string& file : image_files_under(class_folder)) {
      // <class>/<path under it>, however the folder was spelled (train, ./train, train/).
      const std::string line =
          class_folder.filename().string() + "/" + fs::path(file).lexically_relative(class_folder).generic_string();
      for (const char c : line + "\n") hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
      ++count;
    }
  char text[64];
  std::snprintf(text, sizeof text, "%lld files, fnv1a %016llx", static_cast<long long>(count),
                static_cast<unsigned long long>(hash));
  return text;
}

int64_t fingerprint_files(const std::string& fingerprint) {
  char* end = nullptr;
  const long long n = std::strtoll(fingerprint.c_str(), &end, 10);
  return end != fingerprint.c_str() && n >= 0 ? n : -1;
}

std::string validation_folder(const std::string& root, const std::string& given, const std::string& train) {
  if (!given.empty()) return given;
  std::error_code error;
  for (const char* name : {"valid", "val", "test"})
    if (name != train && fs::is_directory(fs::path(root) / name, error)) return name;
  throw Error(detail::concat("image folder '", root,
                             "' has no validation split: expected a folder valid, val or test in it (or set "
                             "data.valid_folder)"));
}

Normalization normalization_of(const Dataset& train) {
  CYG_CHECK(train.images.defined() && train.images.dim() == 4 && train.images.dtype() == DType::U8,
            "normalization_of: u8 NCHW images");
  const int64_t n = train.images.size(0), channels = train.images.size(1),
                pixels = train.images.size(2) * train.images.size(3);
  const uint8_t* data = train.images.data<uint8_t>();
  Normalization norm;
  for (int64_t c = 0; c < channels; ++c) {
    // Counts of each byte value, then the moments from them: exact, and in any order.
    std::vector<uint64_t> counts(256, 0);
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* p = data + (i * channels + c) * pixels;
      for (int64_t k = 0; k < pixels; ++k) ++counts[p[k]];
    }
    double count = 0, sum = 0;
    for (int v = 0; v < 256; ++v) count += static_cast<double>(counts[static_cast<size_t>(v)]),
                                  sum += static_cast<double>(counts[static_cast<size_t>(v)]) * v / 255.0;
    const double mean = sum / count;
    double squares = 0;
    for (int v = 0; v < 256; ++v) {
      const double d = v / 255.0 - mean;
      squares += static_cast<double>(counts[static_cast<size_t>(v)]) * d * d;
    }
    norm.mean.push_back(static_cast<float>(mean));
    // A channel of one value everywhere has nothing to scale: it is only centred.
    const double std = std::sqrt(squares / count);
    norm.std.push_back(static_cast<float>(std > 0 ? std : 1.0));
  }
  return norm;
}

}  // namespace cyg::app
