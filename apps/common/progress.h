// Training progress: on a terminal, one bar redrawn in place (step/total, it/s, ETA,
// loss, lr); otherwise a plain line every `every` steps, so logs stay readable.
#pragma once
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>

namespace cyg::app {

class Progress {
 public:
  // start: steps already done when the bar starts (a resumed epoch), so rates and ETAs
  // count only the steps taken now.
  Progress(std::string label, int64_t total, int64_t every, int64_t start = 0);
  // Called after each step; prints when the terminal bar is due or every `every` steps.
  // A finite grad_norm (gradient clipping's) is shown after the lr.
  void update(int64_t done, double loss, double lr, double grad_norm = NAN);
  // Ends the bar's line (on a terminal).
  void finish();
  static bool stdout_is_terminal();

 private:
  std::string label_;
  int64_t total_, every_, first_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);

}  // namespace cyg::app
