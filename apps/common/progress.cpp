// Progress bar and plain progress lines.
#include "apps/common/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace cyg::app {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%02ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

bool Progress::stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

Progress::Progress(std::string label, int64_t total, int64_t every, int64_t start)
    : label_(std::move(label)),
      total_(total),
      every_(every),
      first_(start),
      terminal_(stdout_is_terminal()),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void Progress::update(int64_t done, double loss, double lr, double grad_norm) {
  char norm[48] = "";
  if (std::isfinite(grad_norm)) std::snprintf(norm, sizeof norm, ", grad norm %.4g", grad_norm);
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done - first_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : NAN;
  if (terminal_) {
    // At most ten redraws a second, and always the last one.
    if (done < total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : 0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(static_cast<size_t>(width), '.');
    std::printf("\r%s [%s] %lld/%lld %.1f it/s ETA %s loss %.4f lr %.3g%s   ", label_.c_str(), bar.c_str(),
                static_cast<long long>(done), static_cast<long long>(total_), rate, format_duration(eta).c_str(), loss,
                lr, norm + (norm[0] != 0 ? 1 : 0));
    std::fflush(stdout);
  } else if ((done - first_) % every_ == 0 || done == total_) {
    std::printf("%s step %lld/%lld, %.1f it/s, ETA %s, loss %.4f, lr %.4g%s\n", label_.c_str(),
                static_cast<long long>(done), static_cast<long long>(total_), rate, format_duration(eta).c_str(), loss,
                lr, norm);
    std::fflush(stdout);
  }
}

void Progress::finish() {
  if (terminal_) {
    std::printf("\n");
    std::fflush(stdout);
  }
}

}  // namespace cyg::app
