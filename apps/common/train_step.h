// One training step, the same for fit, the range test and the benchmark: clear the
// gradients, forward and loss, backward, optimizer update. NVTX ranges "step" (around
// it all), "forward", "backward" and "optimizer" mark it for Nsight Systems.
#pragma once
#include "engine/functional.h"
#include "engine/nn.h"
#include "engine/optim.h"

namespace cyg::app {

// The loss is the batch's mean cross-entropy (with label_smoothing); the result's
// `correct` counts the right predictions. Neither is read back: the step does not wait
// for the device.
fn::CrossEntropy train_step(nn::Module& model, Optimizer& optimizer, const Tensor& images, const Tensor& labels,
                            double label_smoothing);

}  // namespace cyg::app
