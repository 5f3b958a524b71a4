// Run directories, and reading their files back.
#include "apps/common/run_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/atomic_file.h"
#include "kernels/error.h"

namespace cyg::app {

namespace {
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

std::string format_significant(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", v);
  return text;
}

std::string format_epochs(int64_t first, int64_t last) {
  return first == last ? "epoch " + std::to_string(first)
                       : "epochs " + std::to_string(first) + "-" + std::to_string(last);
}

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

std::ifstream open_run_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  CYG_INPUT_CHECK(fs::exists(path, error), path, ": missing file");
  CYG_INPUT_CHECK(fs::is_regular_file(path, error), path, ": not a regular file");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  CYG_INPUT_CHECK(in.good(), path, ": cannot open: ", errno ? std::strerror(errno) : "unknown error");
  return in;
}

nlohmann::json read_json_object(const std::string& path) {
  constexpr bool kAllowExceptions = false;  // a malformed file parses as "discarded"
  std::ifstream in(path);
  nlohmann::json json = nlohmann::json::parse(in, nullptr, kAllowExceptions);
  return json.is_object() ? json : nlohmann::json::object();
}

RunDirectory::RunDirectory(std::string path, bool writes) : path_(std::move(path)), writes_(writes) {
  if (!writes_) return;
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

namespace {
// A killed writer leaves its temporary file (engine/atomic_file: <name>.tmp.<pid>.<n>)
// behind; a resume, the directory's only writer, removes them.
void remove_stale_temporaries(const std::string& dir) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.find(".tmp.");
    if (at == std::string::npos || !entry.is_regular_file(error)) continue;
    const std::string rest = name.substr(at + 5);
    const bool ours = !rest.empty() && rest.find_first_not_of("0123456789.") == std::string::npos;
    if (ours) std::filesystem::remove(entry.path(), error);
  }
}
}  // namespace

RunDirectory RunDirectory::open(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  CYG_INPUT_CHECK(::access((p + "/config.yaml").c_str(), R_OK) == 0, "resume: '", p,
            "' is not a run directory (no config.yaml)");
  remove_stale_temporaries(p);
  return RunDirectory(p);
}

RunDirectory RunDirectory::follow(const std::string& path) { return RunDirectory(path, false); }

void RunDirectory::write(const std::string& name, const std::string& content) const {
  if (!writes_) return;
  write_file_atomically(file(name), content);
}

void RunDirectory::log(const std::string& line) {
  if (!writes_) return;
  std::cout << line << std::endl;
  log_ << line << "\n";
  log_.flush();
}

}  // namespace cyg::app
