// A run directory, runs/<app>-<name>-<timestamp>/: the resolved config, metrics.csv
// (one row per epoch), steps.csv (one row per step), summary.json, plots, checkpoints
// and train.log. Tables are kept in memory and rewritten atomically, so a file is
// always whole; the log is appended line by line.
#pragma once
#include <fstream>
#include <string>
#include <vector>

namespace cyg::app {

// A CSV table with a fixed header; numbers are written with full precision.
class CsvTable {
 public:
  explicit CsvTable(std::vector<std::string> header);
  void add_row(const std::vector<std::string>& cells);
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }
  void truncate(size_t rows) { rows_.resize(std::min(rows, rows_.size())); }
  std::string text() const;
  // Reads a CSV written by text(); the header must match. Errors name the file.
  void load(const std::string& path);

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// The shortest decimal that reads back as the same double (0.001, 1.0e-08).
std::string format_number(double v);

class RunDirectory {
 public:
  // Creates root/<app>-<name>-<YYYYmmdd-HHMMSS>[-k]; the error names the folder when it
  // cannot be made or written.
  static RunDirectory create(const std::string& root, const std::string& app, const std::string& name);
  // An existing run directory (for resume); checks it has a config.yaml.
  static RunDirectory open(const std::string& path);

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& content) const;  // atomically
  // Appends a line to train.log and echoes it to stdout.
  void log(const std::string& line);

 private:
  explicit RunDirectory(std::string path);
  std::string path_;
  std::ofstream log_;
};

}  // namespace cyg::app
