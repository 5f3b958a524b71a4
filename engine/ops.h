// Functional ops on f32 tensors, dispatched to the CPU reference or the CUDA kernels by
// the tensors' device. (Autograd-aware versions build on these.)
#pragma once
#include <vector>

#include "engine/tensor.h"
#include "kernels/metrics.h"

namespace cyg {

Tensor add(const Tensor& a, const Tensor& b);                 // a + b, same shape
Tensor& axpy_(Tensor& y, float alpha, const Tensor& x);       // y += alpha * x
Tensor& increment_(Tensor& counter, int64_t by);              // a one-element i64 counter += by
Tensor scale(const Tensor& x, float alpha);                   // alpha * x
// Device-side training metrics (kernels/metrics.h): loss_sum += loss * count,
// correct_sum += correct, step_losses[next_slot++] = loss (while it fits; a step in
// parts adds each part's share into its slot); all tensors on one device.
void accumulate_metrics(Tensor& loss_sum, Tensor& correct_sum, Tensor& step_losses, Tensor& next_slot,
                        const Tensor& loss, const Tensor& correct, float count, MetricsPart part = MetricsPart{});
Tensor relu(const Tensor& x);
Tensor relu_backward(const Tensor& grad_out, const Tensor& out);  // grad where out > 0
Tensor sum(const Tensor& x);                                   // 0-D
Tensor mean(const Tensor& x);                                  // 0-D
Tensor sum(const Tensor& x, int64_t dim);                      // that dimension removed
Tensor mean(const Tensor& x, int64_t dim);

// The moments of x's values (f32 or bf16, in any layout, on any device), for a layer's
// output statistics: their count, sum, sum of squares about their mean and count at or
// below `threshold`. Two passes of one kernel (kernels/reduce.h: the sums, then the
// squares about the first pass's mean), each chunk's sums added here in double after a
// wait for the device.
struct Moments {
  double count = 0, sum = 0, centred_squares = 0, at_or_below = 0;
};
Moments moments(const Tensor& x, float threshold);

// torch.histc(x, bins, lo, hi) of x's values (f32 or bf16, in any layout, on any device):
// the counts of `bins` equal bins over [lo, hi] (a value equal to hi in the last; values
// outside and NaN in none), read back to the host.
std::vector<int64_t> histogram(const Tensor& x, float lo, float hi, int bins);

}  // namespace cyg
