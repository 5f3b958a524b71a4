// Defaults of the Schedule interface: no momentum, no fixed end.
#include "schedules/schedule.h"

namespace cyg::sched {

std::optional<double> Schedule::momentum(int64_t) const { return std::nullopt; }

std::optional<int64_t> Schedule::total_steps() const { return std::nullopt; }

}  // namespace cyg::sched
