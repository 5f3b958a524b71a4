// Evaluation passes and the predictions CSV.
#include "apps/common/evaluation.h"

#include <cstdio>
#include <sstream>

#include "apps/common/checkpoint.h"
#include "apps/common/run_dir.h"
#include "engine/atomic_file.h"
#include "engine/autograd.h"
#include "engine/functional.h"
#include "engine/ops.h"

namespace cyg::app {

namespace {

void append_predictions(const Variable& logits, const Batch& batch, Predictions& out) {
  const auto values = logits.data().to_vector();
  out.logits.insert(out.logits.end(), values.begin(), values.end());
  const Tensor labels = batch.labels.to(Device::cpu());
  out.labels.insert(out.labels.end(), labels.data<int32_t>(), labels.data<int32_t>() + labels.numel());
}

std::string predictions_csv(const Predictions& p, int64_t classes) {
  std::ostringstream os;
  os << "index,label,pred";
  for (int64_t c = 0; c < classes; ++c) os << ",logit_" << c;
  os << "\n";
  for (size_t i = 0; i < p.labels.size(); ++i) {
    const float* row = p.logits.data() + i * static_cast<size_t>(classes);
    int64_t pred = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (row[c] > row[pred]) pred = c;
    os << i << "," << p.labels[i] << "," << pred;
    for (int64_t c = 0; c < classes; ++c) os << "," << format_number(row[c]);
    os << "\n";
  }
  return os.str();
}

}  // namespace

Evaluation evaluate(nn::Module& model, Loader& loader, Predictions* predictions, Communicator* communicator) {
  NoGradGuard no_grad;
  model.eval();
  const Device device = loader.device();
  Tensor loss_sum = Tensor::zeros({1}, DType::F32, device), correct = Tensor::zeros({1}, DType::I64, device);
  // The losses of single batches are not kept: a ring of one slot, filled once.
  Tensor ring = Tensor::zeros({1}, DType::F32, device), next_slot = Tensor::zeros({1}, DType::I64, device);
  Evaluation e;
  loader.start_epoch(0);
  Batch batch;
  while (loader.next(batch)) {
    const Variable logits = model(Variable(batch.images));
    const fn::CrossEntropy ce = fn::cross_entropy(logits, batch.labels, 0.0);
    const int64_t n = batch.labels.numel();
    accumulate_metrics(loss_sum, correct, ring, next_slot, ce.loss.data(), ce.correct, static_cast<float>(n));
    e.images += n;
    if (predictions) append_predictions(logits, batch, *predictions);
  }
  model.train();
  double sums[3] = {loss_sum.item(), correct.item(), static_cast<double>(e.images)};
  if (communicator != nullptr) communicator->all_reduce_sum(sums, 3);
  e.images = static_cast<int64_t>(sums[2]);
  if (e.images > 0) {
    e.loss = sums[0] / sums[2];
    e.accuracy = sums[1] / sums[2];
  }
  return e;
}

int evaluate_checkpoint(Experiment& experiment, const std::string& checkpoint, const std::string& predictions_path) {
  load_weights(checkpoint, *experiment.model);
  Predictions predictions;
  const Evaluation e =
      evaluate(*experiment.model, *experiment.val_loader, predictions_path.empty() ? nullptr : &predictions);
  std::printf("%s on %s (%lld images): loss %.6f, accuracy %.4f\n", checkpoint.c_str(),
              experiment.data.val.name.c_str(), static_cast<long long>(e.images), e.loss, e.accuracy);
  if (!predictions_path.empty()) {
    write_file_atomically(predictions_path, predictions_csv(predictions, experiment.data.val.num_classes));
    std::printf("predictions: %s\n", predictions_path.c_str());
  }
  return 0;
}

}  // namespace cyg::app
