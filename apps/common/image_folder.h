// A dataset of image files in a folder per class, as torchvision's ImageFolder and
// fastai's ImageDataLoaders.from_folder read one (data.dataset=folder):
//
//   root/train/<class>/*.png|*.jpg|*.jpeg
//   root/valid/<class>/...   (or val/ or test/: the validation split)
//
// Each file is decoded (PNG here, JPEG through libjpeg), made the dataset's channels and
// size as the images a model is asked about are (image_input.h), and held in memory as u8
// CHW, as the other datasets are.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/image_input.h"
#include "data/datasets.h"
#include "data/transforms.h"

namespace cyg::app {

struct ImageFolderOptions {
  std::string root;   // the dataset's folder
  std::string split;  // the split's folder under root ("train", "valid", ...)
  // The class names, in label order. Empty: the split's own subfolders, sorted by name
  // (the training split's). Given (the training split's, for the validation split): a
  // subfolder of another name is an error; a class may have no subfolder.
  std::vector<std::string> classes;
  // With `classes` given: whose they are, for the errors ("the training split"), and
  // whether each must have a folder (the run's own classes, data.classes, for its
  // training split).
  std::string classes_from = "the training split";
  bool every_class = false;
  int64_t channels = 3;  // 3: RGB (gray repeated); 1: grayscale (RGB by ITU-R 601-2 luma)
  // Each image resized to size x size; 0: as they are, which must then be one size.
  int64_t size = 0;
  ResizeMethod resize = ResizeMethod::Squish;  // how an image of another aspect ratio is made square
  // > 0: that many images, taken from the classes in turn (each class's files in name
  // order), so a small limit still sees every class.
  int64_t limit = 0;
  // In (0, 1): the split's images are divided as fastai's RandomSplitter(valid_pct, seed)
  // divides them: a shuffle of all of them drawn from holdout_seed, its first
  // int(holdout * n) held out. `held_out` picks that part; otherwise the rest. The limit
  // applies to the part.
  double holdout = 0;
  bool held_out = false;
  uint64_t holdout_seed = 0;
};

// The split's images, ordered by class and then path (torchvision's order; image files in
// folders under a class folder count, hidden files and folders do not), each labelled
// with its folder's class, and their files in Dataset::files. The errors (cyg::Error)
// name the folder or file: a missing folder, no class folder, a class folder without
// image files, an unknown class, more images than 80% of the machine's memory holds, and,
// for the first file by position that fails (with a count of the others): not a PNG or
// JPEG, damaged, or, without a size, of another size than the first image (with the key
// that resizes them). Out of memory while decoding stays std::bad_alloc.
Dataset load_image_folder(const ImageFolderOptions& options);

// What a run records of its training folder (data.train_files): "<n> files, fnv1a
// <16 hex digits>", the count of the image files under root/split's class folders and
// the 64-bit FNV-1a hash of their paths as <class folder>/<path under it>, one a line, the
// class folders and the files under each sorted by name. Files added, removed, renamed or moved to another
// class change it; their contents do not.
std::string folder_fingerprint(const std::string& root, const std::string& split);

// The file count of a fingerprint (its leading number), or -1.
int64_t fingerprint_files(const std::string& fingerprint);

// The validation split's folder under root: `given` when not empty, else the first of
// valid, val and test that exists and is not the training split's `train`. An error names
// root and the folders looked for.
std::string validation_folder(const std::string& root, const std::string& given, const std::string& train = "train");

// Each channel's mean and standard deviation (over every pixel, the population's) of the
// images scaled to [0, 1], in double: the normalisation of a dataset that has no
// documented one, as a user computes it from the training images.
Normalization normalization_of(const Dataset& train);

}  // namespace cyg::app
