// A run directory, runs/<app>-<name>-<timestamp>/: the resolved config, metrics.csv
// (one row per epoch), steps.csv (one row per step), summary.json, plots, checkpoints
// and train.log. Files are rewritten whole and atomically, so each is always complete;
// the log is appended line by line.
#pragma once
#include <cstdint>
#include <fstream>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace cyg::app {

// The shortest decimal that reads back as the same double (0.001, 1.0e-08).
std::string format_number(double v);
// A value to 4 significant digits, for reading (0.01421), not for reading back.
std::string format_significant(double v);
// Epochs first to last, for reading: "epoch 4", "epochs 4-9".
std::string format_epochs(int64_t first, int64_t last);

// A run file opened for reading; the error names it and says why not (a missing file,
// not a regular file, or the system's reason).
std::ifstream open_run_file(const std::string& path);

// A JSON file's object (summary.json); a missing, unreadable or malformed file, or one
// holding something else, reads as an empty object.
nlohmann::json read_json_object(const std::string& path);

class RunDirectory {
 public:
  // Creates root/<app>-<name>-<YYYYmmdd-HHMMSS>[-k]; the error names the folder when it
  // cannot be made or written.
  static RunDirectory create(const std::string& root, const std::string& app, const std::string& name);
  // An existing run directory (for resume); checks it has a config.yaml.
  static RunDirectory open(const std::string& path);
  // The run directory another rank writes (data parallelism: rank 0's): its path, and
  // writes and logs that do nothing.
  static RunDirectory follow(const std::string& path);
  bool writes() const { return writes_; }

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& content) const;  // atomically
  // Appends a line to train.log and echoes it to stdout.
  void log(const std::string& line);

 private:
  explicit RunDirectory(std::string path, bool writes = true);
  std::string path_;
  bool writes_;
  std::ofstream log_;
};

}  // namespace cyg::app
