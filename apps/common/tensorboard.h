// TensorBoard scalars and histograms: a run's tables as one TensorBoard event file, as PyTorch's
// SummaryWriter writes them (`tensorboard --logdir runs` shows runs side by side). The
// file is a sequence of TFRecords (length, masked CRC-32C of the length, the data, its
// masked CRC-32C), each an `Event` protocol buffer: a file-version event first, then one
// per scalar (`Summary.Value` with a tag and a simple_value at a step). The encoder is
// small and covers exactly those messages; tests check it byte by byte, and
// TensorBoard's own reader reads it back (tests/apps/tensorboard_reader.py).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/run_records.h"

namespace cyg::app::tensorboard {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), and TFRecord's masking of it.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

// One TFRecord around `payload`.
std::string record(const std::string& payload);

// Serialised Event messages.
std::string file_version_event(double wall_time);
std::string scalar_event(const std::string& tag, float value, int64_t step, double wall_time);
// A histogram (Summary.Value's histo, a HistogramProto) of `counts` in equal bins over
// [lo, hi]: bucket_limit each bin's upper edge and bucket its count; min and max the outer
// edges of the first and last bins holding any value, num their total, sum and
// sum_squares from the bins' centres (all 0 where no bin holds one).
std::string histogram_event(const std::string& tag, const std::vector<int64_t>& counts, double lo, double hi,
                            int64_t step, double wall_time);

// The event file of a training run: per step its loss, lr and momentum (train/loss,
// train/lr, train/momentum), and at the steps train.activation_stats_every recorded each
// layer's activations_mean/<layer>, activations_std/<layer> and
// activations_near_zero/<layer>, with the histogram of each output after a ReLU
// (activations_hist/<layer>: PyTorch's add_histogram, the Histograms tab); per epoch its
// four metrics (epoch/train_loss, epoch/train_acc, epoch/val_loss, epoch/val_acc) at the
// epoch's last step, then `final_scalars` (a run's end: stochastic weight averaging's
// swa/val_loss, swa/val_acc) at the last step. wall_time stamps every event.
struct FinalScalar {
  std::string tag;
  double value;
};
std::string training_events(const std::vector<StepRecord>& steps, const std::vector<EpochMetrics>& epochs,
                            double wall_time, const std::vector<FinalScalar>& final_scalars = {},
                            const std::vector<ActivationStat>& activations = {});

// The file's name in the run directory (TensorBoard reads every file whose name holds
// "tfevents"); one file per run, rewritten whole as the tables grow.
constexpr const char* kEventFile = "events.out.tfevents.cygnet";

}  // namespace cyg::app::tensorboard
