// Datasets read by name.
#include "apps/common/dataset_factory.h"

#include <filesystem>
#include <system_error>

#include "apps/common/image_folder.h"
#include "apps/common/name_table.h"
#include "kernels/error.h"

namespace cyg::app {

namespace {

using DatasetLoader = DataSplits (*)(const RunConfig&);

DataSplits load_cifar10_splits(const RunConfig& c) {
  const std::string root = c.data.root.empty() ? "data/cifar-10-batches-bin" : c.data.root;
  return {load_cifar10(root, Split::Train, c.data.limit_train), load_cifar10(root, Split::Test, c.data.limit_val),
          cifar10_normalization()};
}

DataSplits load_fashion_mnist_splits(const RunConfig& c) {
  const std::string root = c.data.root.empty() ? kFashionMnistDefaultRoot : c.data.root;
  return {load_fashion_mnist(root, Split::Train, c.data.limit_train),
          load_fashion_mnist(root, Split::Test, c.data.limit_val), fashion_mnist_normalization()};
}

// The training split's classes are the validation split's, and its images give the
// normalisation.
DataSplits load_folder_splits(const RunConfig& c) {
  const DataConfig& d = c.data;
  ImageFolderOptions o;
  o.root = d.root;
  o.channels = d.channels;
  o.size = d.image_size;
  o.resize = resize_method_named(d.resize_method);
  o.split = d.train_folder;
  o.limit = d.limit_train;
  o.holdout = d.valid_pct;
  o.holdout_seed = static_cast<uint64_t>(c.seed);
  if (!d.classes.empty()) {  // the run's, recorded: the folder must still hold them
    o.classes = d.classes;
    o.classes_from = "data.classes (the classes the run was trained on)";
    o.every_class = true;
  }
  DataSplits splits;
  splits.train = load_image_folder(o);
  o.classes_from = "the training split";
  o.every_class = false;
  o.split = d.valid_pct > 0 ? d.train_folder : validation_folder(d.root, d.valid_folder, d.train_folder);
  if (d.valid_pct == 0) {  // another name may still be the same folder: ./train, train/, a link
    std::error_code error;
    const std::filesystem::path train = std::filesystem::path(d.root) / d.train_folder,
                                val = std::filesystem::path(d.root) / o.split;
    CYG_INPUT_CHECK(!std::filesystem::equivalent(train, val, error), "'data.valid_folder' = '", o.split,
                    "' is the training folder '", train.string(),
                    "' itself: expected the validation images in another folder (or data.valid_pct)");
  }
  o.held_out = true;
  o.limit = d.limit_val;
  o.classes = splits.train.class_names;
  splits.val = load_image_folder(o);
  CYG_INPUT_CHECK(d.image_size > 0 || (splits.val.images.size(2) == splits.train.images.size(2) &&
                                       splits.val.images.size(3) == splits.train.images.size(3)),
                  "the validation images under '", d.root, "/", o.split, "' are ", splits.val.images.size(3), "x",
                  splits.val.images.size(2), " pixels and the training images ", splits.train.images.size(3), "x",
                  splits.train.images.size(2), ": set data.image_size to resize them to one size");
  splits.normalization = normalization_of(splits.train);
  return splits;
}

// The validation split is drawn from the next seed, so it holds other images.
DataSplits make_synthetic_splits(const RunConfig& c) {
  const DataConfig& d = c.data;
  auto limited = [](int64_t n, int64_t limit) { return limit > 0 && limit < n ? limit : n; };
  const auto seed = static_cast<uint64_t>(c.seed);
  DataSplits splits;
  splits.train = make_synthetic(limited(d.synthetic_train, d.limit_train), d.synthetic_channels, d.synthetic_size,
                                d.synthetic_classes, seed);
  splits.val = make_synthetic(limited(d.synthetic_val, d.limit_val), d.synthetic_channels, d.synthetic_size,
                              d.synthetic_classes, seed + 1);
  splits.normalization.mean.assign(static_cast<size_t>(d.synthetic_channels), 0.5f);
  splits.normalization.std.assign(static_cast<size_t>(d.synthetic_channels), 0.25f);
  return splits;
}

const std::vector<Named<DatasetLoader>>& datasets() {
  static const std::vector<Named<DatasetLoader>> table = {
      {"cifar10", load_cifar10_splits},
      {"fashion_mnist", load_fashion_mnist_splits},
      {"folder", load_folder_splits},
      {"synthetic", make_synthetic_splits},
  };
  return table;
}

}  // namespace

void check_training_files(const DataConfig& d, const std::string& now, const std::string& why) {
  if (d.train_files.empty() || d.train_files == now) return;
  const int64_t then = fingerprint_files(d.train_files), files = fingerprint_files(now);
  const std::string how = then == files ? "the same number of image files (" + std::to_string(files) +
                                              ") but not the same ones (renamed or moved to another class)"
                                        : std::to_string(files) + " image files where the run had " +
                                              std::to_string(then);
  throw Error("the training folder '" + (std::filesystem::path(d.root) / d.train_folder).string() +
              "' has changed since the run: " + how + " (data.train_files: " + d.train_files + "); " + why);
}

std::vector<std::string> dataset_names() { return names_of(datasets()); }

DataSplits load_data(const RunConfig& config) {
  DataSplits d = find_named(datasets(), "data.dataset", config.data.dataset)(config);
  const DataConfig& dc = config.data;
  if (!dc.mean.empty()) {
    d.normalization.mean.assign(dc.mean.begin(), dc.mean.end());
    d.normalization.std.assign(dc.std.begin(), dc.std.end());
  }
  const int64_t channels = d.train.images.size(1);
  CYG_INPUT_CHECK(static_cast<int64_t>(d.normalization.mean.size()) == channels, "'data.mean' and 'data.std' have ",
                  d.normalization.mean.size(), " values for ", channels, "-channel images");
  return d;
}

}  // namespace cyg::app
