// The column lists of the run tables and the CSV writing and reading they drive.
#include "apps/common/run_records.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "apps/common/run_dir.h"
#include "kernels/error.h"

namespace cyg::app {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string quoted = "\"";
  for (char ch : s) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return quoted + "\"";
}

std::optional<TargetReached> first_reaching(const std::vector<EpochMetrics>& epochs, double target,
                                            int64_t complete_epochs) {
  double seconds = 0.0;
  for (const EpochMetrics& row : epochs) {
    if (row.epoch > complete_epochs) break;
    seconds += row.epoch_seconds;
    if (row.val_acc >= target) return TargetReached{row.epoch, seconds};
  }
  return std::nullopt;
}

const std::vector<Column<EpochMetrics>>& EpochMetrics::columns() {
  static const std::vector<Column<EpochMetrics>> list = {
      {"epoch", &EpochMetrics::epoch},
      {"step", &EpochMetrics::step},
      {"lr", &EpochMetrics::lr},
      {"momentum", &EpochMetrics::momentum},
      {"train_loss", &EpochMetrics::train_loss},
      {"train_acc", &EpochMetrics::train_acc},
      {"val_loss", &EpochMetrics::val_loss},
      {"val_acc", &EpochMetrics::val_acc},
      {"epoch_seconds", &EpochMetrics::epoch_seconds},
      {"images_per_second", &EpochMetrics::images_per_second},
      {"ema_val_loss", &EpochMetrics::ema_val_loss, true},
      {"ema_val_acc", &EpochMetrics::ema_val_acc, true},
  };
  return list;
}

const std::vector<Column<StepRecord>>& StepRecord::columns() {
  static const std::vector<Column<StepRecord>> list = {
      {"step", &StepRecord::step}, {"epoch", &StepRecord::epoch}, {"lr", &StepRecord::lr},
      {"momentum", &StepRecord::momentum}, {"loss", &StepRecord::loss},
  };
  return list;
}

const std::vector<Column<RangeTestStep>>& RangeTestStep::columns() {
  static const std::vector<Column<RangeTestStep>> list = {
      {"step", &RangeTestStep::step},         {"epoch", &RangeTestStep::epoch},
      {"lr", &RangeTestStep::lr},             {"momentum", &RangeTestStep::momentum},
      {"loss", &RangeTestStep::loss},         {"smoothed_loss", &RangeTestStep::smoothed_loss},
      {"weight_decay", &RangeTestStep::weight_decay},
  };
  return list;
}

const std::vector<Column<ActivationStat>>& ActivationStat::columns() {
  static const std::vector<Column<ActivationStat>> list = {
      {"step", &ActivationStat::step}, {"layer", &ActivationStat::layer}, {"mean", &ActivationStat::mean},
      {"std", &ActivationStat::std},   {"near_zero", &ActivationStat::near_zero},
      {"hist", &ActivationStat::hist},
  };
  return list;
}

namespace {

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, ',')) cells.push_back(trim(cell));
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

// The columns a file of these rows has: every one but the optional ones no row has a
// value in.
template <typename Record>
std::vector<Column<Record>> written_columns(const std::vector<Record>& rows) {
  std::vector<Column<Record>> out;
  for (const Column<Record>& c : Record::columns()) {
    CYG_CHECK(!c.optional || std::holds_alternative<double Record::*>(c.field), "column '", c.name,
              "': an optional column holds numbers (NaN where absent)");
    if (!c.optional || std::any_of(rows.begin(), rows.end(), [&](const Record& row) {
          return !std::isnan(row.*std::get<double Record::*>(c.field));
        }))
      out.push_back(c);
  }
  return out;
}

template <typename Record>
std::string format_row(const Record& row, const std::vector<Column<Record>>& columns) {
  std::string line;
  for (const Column<Record>& c : columns) {
    if (!line.empty()) line += ',';
    if (const auto* integer = std::get_if<int64_t Record::*>(&c.field)) line += std::to_string(row.**integer);
    else if (const auto* text = std::get_if<std::string Record::*>(&c.field)) line += csv_field(row.**text);
    else line += format_number(row.*std::get<double Record::*>(c.field));
  }
  return line;
}

// Where each of Record's columns is in a file's header line (npos: an optional column the
// file does not have).
template <typename Record>
std::vector<size_t> column_positions(const std::string& path, const std::string& header_line) {
  const std::vector<std::string> header = split_csv(header_line);
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < header.size(); ++i) index.emplace(header[i], i);
  std::vector<size_t> positions;
  std::string missing;
  for (const Column<Record>& c : Record::columns()) {
    const auto it = index.find(c.name);
    if (it != index.end()) positions.push_back(it->second);
    else if (c.optional) positions.push_back(std::string::npos);
    else missing += (missing.empty() ? "" : ", ") + std::string(c.name);
  }
  CYG_INPUT_CHECK(missing.empty(), path, ": bad header '", trim(header_line), "': no column ", missing, " (expected ",
                  csv_header<Record>(), ")");
  return positions;
}

// One cell into its field; the error names the file, line and column.
template <typename Record>
void parse_cell(const std::string& cell, const Column<Record>& column, Record& row, const std::string& where) {
  if (const auto* text = std::get_if<std::string Record::*>(&column.field)) {
    CYG_INPUT_CHECK(!cell.empty() && cell.find('"') == std::string::npos, where, ", column '", column.name, "': '",
                    cell, "' is not a name");
    row.**text = cell;
    return;
  }
  char* end = nullptr;
  const double value = std::strtod(cell.c_str(), &end);
  CYG_INPUT_CHECK(!cell.empty() && *end == '\0', where, ", column '", column.name, "': '", cell, "' is not a number");
  if (const auto* integer = std::get_if<int64_t Record::*>(&column.field)) {
    CYG_INPUT_CHECK(std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9e15, where, ", column '",
                    column.name, "': '", cell, "' is not an integer");
    row.**integer = static_cast<int64_t>(value);
  } else {
    row.*std::get<double Record::*>(column.field) = value;
  }
}

}  // namespace

template <typename Record>
std::string csv_header() {
  std::string line;
  for (const Column<Record>& c : Record::columns())
    if (!c.optional) line += (line.empty() ? "" : ",") + std::string(c.name);
  return line;
}

template <typename Record>
std::string csv_text(const std::vector<Record>& rows) {
  const std::vector<Column<Record>> columns = written_columns(rows);
  std::string text;
  for (const Column<Record>& c : columns) text += (text.empty() ? "" : ",") + std::string(c.name);
  text += "\n";
  for (const Record& row : rows) text += format_row(row, columns) + "\n";
  return text;
}

template <typename Record>
std::vector<Record> read_csv(const std::string& path) {
  std::ifstream file = open_run_file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return parse_csv<Record>(text.str(), path);
}

template <typename Record>
std::vector<Record> parse_csv(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  std::string line;
  CYG_INPUT_CHECK(static_cast<bool>(std::getline(in, line)), path, ": empty file; expected the header ",
                  csv_header<Record>());
  const size_t header_cells = split_csv(line).size();
  const std::vector<size_t> positions = column_positions<Record>(path, line);
  const auto& columns = Record::columns();
  std::vector<Record> rows;
  for (int line_number = 2; std::getline(in, line); ++line_number) {
    if (trim(line).empty()) continue;
    const std::vector<std::string> cells = split_csv(line);
    const std::string where = path + ": line " + std::to_string(line_number);
    CYG_INPUT_CHECK(cells.size() == header_cells, where, " has ", cells.size(), " cells, the header has ", header_cells);
    Record row;
    for (size_t c = 0; c < columns.size(); ++c)
      if (positions[c] != std::string::npos) parse_cell(cells[positions[c]], columns[c], row, where);
    rows.push_back(row);
  }
  return rows;
}

template std::string csv_header<EpochMetrics>();
template std::string csv_header<StepRecord>();
template std::string csv_header<RangeTestStep>();
template std::string csv_text(const std::vector<EpochMetrics>&);
template std::string csv_text(const std::vector<StepRecord>&);
template std::string csv_text(const std::vector<RangeTestStep>&);
template std::vector<EpochMetrics> read_csv<EpochMetrics>(const std::string&);
template std::vector<StepRecord> read_csv<StepRecord>(const std::string&);
template std::vector<RangeTestStep> read_csv<RangeTestStep>(const std::string&);
template std::vector<EpochMetrics> parse_csv<EpochMetrics>(const std::string&, const std::string&);
template std::vector<StepRecord> parse_csv<StepRecord>(const std::string&, const std::string&);
template std::string csv_header<ActivationStat>();
template std::string csv_text(const std::vector<ActivationStat>&);
template std::vector<ActivationStat> read_csv<ActivationStat>(const std::string&);
template std::vector<ActivationStat> parse_csv<ActivationStat>(const std::string&, const std::string&);

}  // namespace cyg::app
