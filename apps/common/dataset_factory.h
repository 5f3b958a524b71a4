// The datasets by name (data.dataset): the list validate() checks a config against,
// and the loader that reads the named one's training and validation splits.
#pragma once
#include <string>
#include <vector>

#include "apps/common/config.h"
#include "data/datasets.h"
#include "data/transforms.h"

namespace cyg::app {

struct DataSplits {
  Dataset train, val;
  Normalization normalization;  // the dataset's own, or data.mean and data.std
};

std::vector<std::string> dataset_names();

// Refuses (cyg::Error) an image folder's training files as they are now (`now`, a
// folder_fingerprint) where the run recorded others (d.train_files, when set), saying how
// they differ and, in `why`, what that would spoil.
void check_training_files(const DataConfig& d, const std::string& now, const std::string& why);

// Reads the named dataset (data.limit_train / limit_val: the first N images). Errors
// name the file or the key at fault.
DataSplits load_data(const RunConfig& config);

}  // namespace cyg::app
