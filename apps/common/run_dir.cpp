// Run directories and CSV tables.
#include "apps/common/run_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <sstream>

#include "engine/safetensors.h"
#include "kernels/error.h"

namespace cyg::app {

namespace {
std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, ',')) cells.push_back(cell);
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

void make_dirs(const std::string& path) {
  std::string partial;
  std::istringstream in(path);
  std::string part;
  if (!path.empty() && path[0] == '/') partial = "/";
  while (std::getline(in, part, '/')) {
    if (part.empty()) continue;
    partial += part;
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST)
      CYG_INPUT_CHECK(false, "cannot create run directory folder '", partial, "': ", std::strerror(errno));
    partial += "/";
  }
}
}  // namespace

std::string format_number(double v) {
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string out = buf;
  // YAML 1.1 readers (PyYAML) take "1e-08" for a string: give the mantissa a point.
  const size_t e = out.find('e');
  if (e != std::string::npos && out.find('.') == std::string::npos) out.insert(e, ".0");
  return out;
}

CsvTable::CsvTable(std::vector<std::string> header) : header_(std::move(header)) {}

void CsvTable::add_row(const std::vector<std::string>& cells) {
  CYG_INPUT_CHECK(cells.size() == header_.size(), "CSV row of ", cells.size(), " cells for ", header_.size(), " columns");
  rows_.push_back(cells);
}

std::string CsvTable::text() const {
  std::ostringstream os;
  for (size_t i = 0; i < header_.size(); ++i) os << (i ? "," : "") << header_[i];
  os << "\n";
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) os << (i ? "," : "") << row[i];
    os << "\n";
  }
  return os.str();
}

void CsvTable::load(const std::string& path) {
  std::ifstream in(path);
  CYG_INPUT_CHECK(in.good(), "cannot read '", path, "'");
  std::string line;
  CYG_INPUT_CHECK(static_cast<bool>(std::getline(in, line)) && split_csv_line(line) == header_, "'", path,
            "': expected the header ", CsvTable(header_).text().substr(0, CsvTable(header_).text().size() - 1));
  rows_.clear();
  int64_t number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    const auto cells = split_csv_line(line);
    CYG_INPUT_CHECK(cells.size() == header_.size(), "'", path, "' line ", number, ": ", cells.size(), " cells for ",
              header_.size(), " columns");
    rows_.push_back(cells);
  }
}

RunDirectory::RunDirectory(std::string path) : path_(std::move(path)) {
  log_.open(file("train.log"), std::ios::app);
  CYG_INPUT_CHECK(log_.good(), "cannot write '", file("train.log"), "': ", std::strerror(errno));
}

RunDirectory RunDirectory::create(const std::string& root, const std::string& app, const std::string& name) {
  make_dirs(root);
  CYG_INPUT_CHECK(::access(root.c_str(), W_OK) == 0, "run directory root '", root, "' is not writable");
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  const std::string base = root + "/" + app + "-" + name + "-" + stamp;
  std::string path = base;
  for (int k = 2; ::mkdir(path.c_str(), 0755) != 0; ++k) {
    CYG_INPUT_CHECK(errno == EEXIST, "cannot create run directory '", path, "': ", std::strerror(errno));
    path = base + "-" + std::to_string(k);
  }
  return RunDirectory(path);
}

RunDirectory RunDirectory::open(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  CYG_INPUT_CHECK(::access((p + "/config.yaml").c_str(), R_OK) == 0, "resume: '", p,
            "' is not a run directory (no config.yaml)");
  return RunDirectory(p);
}

void RunDirectory::write(const std::string& name, const std::string& content) const {
  write_file_atomically(file(name), content);
}

void RunDirectory::log(const std::string& line) {
  std::cout << line << std::endl;
  log_ << line << "\n";
  log_.flush();
}

}  // namespace cyg::app
