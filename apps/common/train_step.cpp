// The training step.
#include "apps/common/train_step.h"

#include "engine/autograd.h"
#include "engine/profiling.h"

namespace cyg::app {

fn::CrossEntropy train_step(nn::Module& model, Optimizer& optimizer, const Tensor& images, const Tensor& labels,
                            double label_smoothing) {
  NvtxRange step_range("step");
  optimizer.zero_grad();
  fn::CrossEntropy ce;
  {
    NvtxRange range("forward");
    ce = fn::cross_entropy(model(Variable(images)), labels, label_smoothing);
  }
  {
    NvtxRange range("backward");
    backward(ce.loss);
  }
  {
    NvtxRange range("optimizer");
    optimizer.step();
  }
  return ce;
}

}  // namespace cyg::app
