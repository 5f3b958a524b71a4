// A constant learning rate (and optionally a constant momentum), e.g. the Adam baseline.
#pragma once

#include "schedules/schedule.h"

namespace cyg::sched {

class ConstantSchedule final : public Schedule {
 public:
  // Without a momentum the optimizer's own momentum / beta1 is left alone.
  explicit ConstantSchedule(double lr, std::optional<double> momentum = std::nullopt);

  double lr(int64_t step) const override;
  std::optional<double> momentum(int64_t step) const override;

 private:
  double lr_;
  std::optional<double> momentum_;
};

}  // namespace cyg::sched
