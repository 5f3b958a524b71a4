// The rows of a run directory's tables, one record type per file: metrics.csv holds
// EpochMetrics, steps.csv StepRecord (the range test's: RangeTestStep). Each type has one
// column list (header name and field) that writes the header, formats rows and reads
// them back.
#pragma once
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace cyg::app {

// A column of Record's table: integers print as integers, numbers as format_number, names
// as they are (CSV-quoted where they need it). An optional column (a number) is written
// only where some row has a value (not NaN), and reads as NaN from a file without it: what
// a run has only with a setting on.
template <typename Record>
struct Column {
  const char* name;
  std::variant<int64_t Record::*, double Record::*, std::string Record::*> field;
  bool optional = false;
};

// metrics.csv: one row per epoch; losses are mean cross-entropy per image, accuracies
// fractions.
struct EpochMetrics {
  int64_t epoch = 0;
  int64_t step = 0;
  double lr = 0.0, momentum = 0.0;
  double train_loss = 0.0, train_acc = 0.0, val_loss = 0.0, val_acc = 0.0;
  double epoch_seconds = 0.0, images_per_second = 0.0;
  // The moving average of the weights on the validation set (train.ema_decay; optional
  // columns, NaN without it).
  double ema_val_loss = NAN, ema_val_acc = NAN;
  static const std::vector<Column<EpochMetrics>>& columns();
};

// Time to accuracy: the first of the first `complete_epochs` epochs whose validation
// accuracy reaches `target`, and the training seconds until its end (the epochs'
// epoch_seconds, evaluation excluded); nothing where none does. A partial epoch's row (a
// step limit inside it) does not count: a resume continues that epoch.
struct TargetReached {
  int64_t epoch = 0;
  double seconds = 0.0;
};
std::optional<TargetReached> first_reaching(const std::vector<EpochMetrics>& epochs, double target,
                                            int64_t complete_epochs);

// steps.csv of a training run: one row per optimizer step.
struct StepRecord {
  int64_t step = 0, epoch = 0;
  double lr = 0.0, momentum = 0.0, loss = 0.0;
  static const std::vector<Column<StepRecord>>& columns();
};

// steps.csv of the range test: a training step's row and the smoothed loss the
// suggestions are read from (NaN before the smoother has a value).
struct RangeTestStep {
  int64_t step = 0, epoch = 0;
  double lr = 0.0, momentum = 0.0, loss = 0.0, smoothed_loss = 0.0;
  double weight_decay = 0.0;  // the sweep's (lr_find.weight_decays)
  static const std::vector<Column<RangeTestStep>>& columns();
};

// activation_stats.csv (train.activation_stats_every, fastai's ActivationStats): one row
// per recorded step and layer, the statistics of the layer's output on the step's first
// (micro-)batch. `layer` is the module's qualified name, "+relu" or "+add+relu" after a
// batchnorm whose forward applied them; `hist` the counts of its histogram's bins
// (apps/common/activation_stats.h), separated by spaces.
struct ActivationStat {
  int64_t step = 0;
  std::string layer;
  double mean = 0.0, std = 0.0, near_zero = 0.0;
  std::string hist;
  static const std::vector<Column<ActivationStat>>& columns();
};

// A CSV field: quoted where it holds a comma, a quote or a line break (RFC 4180).
std::string csv_field(const std::string& s);

// The header line's text, without the newline: the columns every file has.
template <typename Record>
std::string csv_header();

// The whole file: the header, then one line per row.
template <typename Record>
std::string csv_text(const std::vector<Record>& rows);

// Reads a table written by csv_text. Columns may come in any order and extra ones are
// ignored. Throws cyg::Error naming the file and what is wrong with it: missing, a
// header without one of Record's columns, a row with the wrong number of cells, or a
// cell that is not a number (an integer in an integer column), with its line and column.
template <typename Record>
std::vector<Record> read_csv(const std::string& path);
// The same from the table's text; errors name `where`.
template <typename Record>
std::vector<Record> parse_csv(const std::string& text, const std::string& where);

// One field of every row, as numbers (for plots).
template <typename Record, typename Field>
std::vector<double> values(const std::vector<Record>& rows, Field Record::*field) {
  std::vector<double> out;
  out.reserve(rows.size());
  for (const Record& row : rows) out.push_back(static_cast<double>(row.*field));
  return out;
}

}  // namespace cyg::app
