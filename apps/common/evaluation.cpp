// Evaluation passes and the predictions CSV.
#include "apps/common/evaluation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include "apps/common/checkpoint.h"
#include "apps/common/confusion_plot.h"
#include "apps/common/image_input.h"
#include "apps/common/plot.h"
#include "apps/common/run_dir.h"
#include "apps/common/run_records.h"
#include "apps/common/top_losses.h"
#include "engine/atomic_file.h"
#include "engine/autograd.h"
#include "engine/functional.h"
#include "engine/ops.h"
#include "engine/safetensors.h"
#include "kernels/loss.h"

namespace cyg::app {

namespace {

void append_predictions(const Variable& logits, const Batch& batch, Predictions& out) {
  const auto values = logits.data().to_vector();
  out.logits.insert(out.logits.end(), values.begin(), values.end());
  const Tensor labels = batch.labels.to(Device::cpu());
  out.labels.insert(out.labels.end(), labels.data<int32_t>(), labels.data<int32_t>() + labels.numel());
  for (int64_t i = 0; i < labels.numel(); ++i) out.positions.push_back(batch.first_position + i);
}

// With the split's files (a folder dataset), each row also names its image's file, as
// fastai's interpretation names its items.
std::string predictions_csv(const Predictions& p, int64_t classes, const std::vector<std::string>& files) {
  std::ostringstream os;
  os << "index" << (files.empty() ? "" : ",file") << ",label,pred";
  for (int64_t c = 0; c < classes; ++c) os << ",logit_" << c;
  os << "\n";
  for (size_t i = 0; i < p.labels.size(); ++i) {
    const float* row = p.logits.data() + i * static_cast<size_t>(classes);
    os << i;
    if (!files.empty()) {
      const auto position = static_cast<size_t>(p.positions.empty() ? static_cast<int64_t>(i) : p.positions[i]);
      os << "," << csv_field(position < files.size() ? files[position] : std::string());
    }
    os << "," << p.labels[i] << "," << row_argmax(row, classes);
    for (int64_t c = 0; c < classes; ++c) os << "," << format_number(row[c]);
    os << "\n";
  }
  return os.str();
}

}  // namespace

std::string class_name(const std::vector<std::string>& names, int64_t label) {
  return label < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(label)]
                                                     : "class " + std::to_string(label);
}

Confusion confusion_of(const Predictions& predictions, int64_t classes, Communicator* communicator) {
  Confusion c = confusion_of(predictions, classes);
  if (communicator == nullptr || communicator->size() == 1) return c;
  std::vector<double> counts(c.counts.begin(), c.counts.end());
  communicator->all_reduce_sum(counts.data(), static_cast<int64_t>(counts.size()));
  for (size_t i = 0; i < counts.size(); ++i) c.counts[i] = static_cast<int64_t>(counts[i]);
  return c;
}

int64_t Confusion::images_of(int64_t label) const {
  int64_t n = 0;
  for (int64_t p = 0; p < classes; ++p) n += counts[static_cast<size_t>(label * classes + p)];
  return n;
}

Confusion confusion_of(const Predictions& predictions, int64_t classes) {
  Confusion c;
  c.classes = classes;
  c.counts.assign(static_cast<size_t>(classes * classes), 0);
  for (size_t i = 0; i < predictions.labels.size(); ++i) {
    const int64_t pred = row_argmax(predictions.logits.data() + i * static_cast<size_t>(classes), classes);
    const int64_t label = predictions.labels[i];
    CYG_CHECK(label >= 0 && label < classes, "label ", label, " outside the ", classes, " classes");
    ++c.counts[static_cast<size_t>(label * classes + pred)];
  }
  return c;
}

std::vector<ConfusedPair> most_confused(const Confusion& c, int64_t count) {
  std::vector<ConfusedPair> pairs;
  for (int64_t k = 0; k < c.classes; ++k)
    for (int64_t p = 0; p < c.classes; ++p) {
      const int64_t n = c.counts[static_cast<size_t>(k * c.classes + p)];
      if (p != k && n > 0) pairs.push_back({k, p, n});
    }
  // Built in (true, predicted) order, so a stable sort by count keeps ties in it.
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const ConfusedPair& a, const ConfusedPair& b) { return a.images > b.images; });
  if (static_cast<int64_t>(pairs.size()) > count) pairs.resize(static_cast<size_t>(std::max<int64_t>(count, 0)));
  return pairs;
}

ClassScores class_scores(const Confusion& c, int64_t label) {
  ClassScores s;
  s.support = c.images_of(label);
  for (int64_t t = 0; t < c.classes; ++t) s.predicted += c.counts[static_cast<size_t>(t * c.classes + label)];
  const auto right = static_cast<double>(c.correct_of(label));
  s.precision = s.predicted > 0 ? right / static_cast<double>(s.predicted) : 0.0;
  s.recall = s.support > 0 ? right / static_cast<double>(s.support) : 0.0;
  s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
  return s;
}

namespace {
// The average of the scores of the classes with images or predictions, each weighing 1
// (macro) or its support.
ClassScores averaged_scores(const Confusion& c, bool by_support) {
  ClassScores mean;
  double weights = 0;
  for (int64_t k = 0; k < c.classes; ++k) {
    const ClassScores s = class_scores(c, k);
    if (s.support == 0 && s.predicted == 0) continue;
    const double w = by_support ? static_cast<double>(s.support) : 1.0;
    mean.precision += w * s.precision;
    mean.recall += w * s.recall;
    mean.f1 += w * s.f1;
    mean.support += s.support;
    mean.predicted += s.predicted;
    weights += w;
  }
  if (weights > 0) {
    mean.precision /= weights;
    mean.recall /= weights;
    mean.f1 /= weights;
  }
  return mean;
}
}  // namespace

ClassScores macro_average(const Confusion& c) { return averaged_scores(c, false); }
ClassScores weighted_average(const Confusion& c) { return averaged_scores(c, true); }

namespace {

// Characters (UTF-8 code points) in a name: a column's width, where bytes would count
// "ünï" as 5.
size_t characters_in(const std::string& s) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// A name in a column of `width` characters: cut to that many (never inside a character)
// and padded with spaces.
std::string in_column(const std::string& name, size_t width) {
  std::string out;
  size_t characters = 0;
  for (size_t i = 0; i < name.size();) {
    size_t end = i + 1;
    while (end < name.size() && (static_cast<unsigned char>(name[end]) & 0xC0) == 0x80) ++end;
    if (characters == width) break;
    out.append(name, i, end - i);
    ++characters;
    i = end;
  }
  return out + std::string(width - characters, ' ');
}

}  // namespace

std::string confusion_report(const Confusion& c, const std::vector<std::string>& names) {
  std::ostringstream os;
  size_t width = 5;
  for (int64_t k = 0; k < c.classes; ++k) width = std::max(width, characters_in(class_name(names, k)));
  width = std::min<size_t>(width, 14);
  char line[160];
  // Up to 20 classes each; more, the five with the lowest accuracy (--confusion has all).
  std::vector<int64_t> shown;
  for (int64_t k = 0; k < c.classes; ++k) shown.push_back(k);
  auto accuracy = [&](int64_t k) {
    const int64_t n = c.images_of(k);
    return n > 0 ? static_cast<double>(c.correct_of(k)) / static_cast<double>(n) : 2.0;  // none: last
  };
  if (c.classes > 20) {
    std::stable_sort(shown.begin(), shown.end(), [&](int64_t a, int64_t b) { return accuracy(a) < accuracy(b); });
    shown.resize(5);
    os << "the 5 of " << c.classes << " classes with the lowest accuracy (correct of images):\n";
  } else {
    os << "per class (accuracy, correct of images):\n";
  }
  for (int64_t k : shown) {
    const int64_t n = c.images_of(k);
    const std::string name = in_column(class_name(names, k), width);
    if (n == 0) {
      std::snprintf(line, sizeof line, "  %s      -  (no images)\n", name.c_str());
    } else {
      std::snprintf(line, sizeof line, "  %s %6.4f  (%lld of %lld)\n", name.c_str(),
                    static_cast<double>(c.correct_of(k)) / static_cast<double>(n),
                    static_cast<long long>(c.correct_of(k)), static_cast<long long>(n));
    }
    os << line;
  }
  // scikit-learn's classification_report: the classes (up to 20), then the averages.
  os << "classification report (precision, recall, F1, support):\n";
  const int label_width = static_cast<int>(std::max<size_t>(width, 12));
  auto score_line = [&](const std::string& label, const ClassScores& s) {
    std::snprintf(line, sizeof line, "  %s %9.4f %7.4f %7.4f %8lld\n",
                  in_column(label, static_cast<size_t>(label_width)).c_str(), s.precision, s.recall, s.f1,
                  static_cast<long long>(s.support));
    os << line;
  };
  std::snprintf(line, sizeof line, "  %-*s %9s %7s %7s %8s\n", label_width, "", "precision", "recall", "f1",
                "support");
  os << line;
  if (c.classes <= 20)
    for (int64_t k = 0; k < c.classes; ++k) score_line(in_column(class_name(names, k), width), class_scores(c, k));
  score_line("macro avg", macro_average(c));
  score_line("weighted avg", weighted_average(c));
  const std::vector<ConfusedPair> confused = most_confused(c, 5);
  if (!confused.empty()) {
    os << "most confused (true class as predicted class: images):\n";
    for (const ConfusedPair& p : confused)
      os << "  " << class_name(names, p.label) << " as " << class_name(names, p.pred) << ": " << p.images << "\n";
  }
  if (c.classes > 12) return os.str();
  int64_t largest = 0;
  for (int64_t v : c.counts) largest = std::max(largest, v);
  const int column = std::max(3, static_cast<int>(std::to_string(largest).size())) + 1;
  // Each row starts with its class's number, the number its column has.
  const int number = static_cast<int>(std::to_string(c.classes - 1).size());
  os << "confusion matrix (rows: true class, columns: predicted class):\n  "
     << std::string(static_cast<size_t>(number + 1) + width, ' ');
  for (int64_t p = 0; p < c.classes; ++p) {
    const std::string label = std::to_string(p);
    os << std::string(static_cast<size_t>(column) - label.size(), ' ') << label;
  }
  os << "\n";
  for (int64_t k = 0; k < c.classes; ++k) {
    std::snprintf(line, sizeof line, "  %*lld %s", number, static_cast<long long>(k),
                  in_column(class_name(names, k), width).c_str());
    os << line;
    for (int64_t p = 0; p < c.classes; ++p) {
      const std::string v = std::to_string(c.counts[static_cast<size_t>(k * c.classes + p)]);
      os << std::string(static_cast<size_t>(column) - v.size(), ' ') << v;
    }
    os << "\n";
  }
  return os.str();
}

std::string confusion_csv(const Confusion& c, const std::vector<std::string>& names) {
  std::ostringstream os;
  os << "label,name";
  for (int64_t p = 0; p < c.classes; ++p) os << ",pred_" << p;
  os << ",images,accuracy,precision,f1\n";
  for (int64_t k = 0; k < c.classes; ++k) {
    os << k << "," << csv_field(class_name(names, k));
    for (int64_t p = 0; p < c.classes; ++p) os << "," << c.counts[static_cast<size_t>(k * c.classes + p)];
    const int64_t n = c.images_of(k);
    const ClassScores scores = class_scores(c, k);
    os << "," << n << "," << (n > 0 ? format_number(static_cast<double>(c.correct_of(k)) / static_cast<double>(n)) : "")
       << "," << format_number(scores.precision) << "," << format_number(scores.f1) << "\n";
  }
  return os.str();
}

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

Evaluation average_of_views(const Predictions& a, const Predictions& b, int64_t classes, Predictions* averaged) {
  CYG_CHECK(classes > 0 && a.labels == b.labels && a.logits.size() == b.logits.size() &&
                a.logits.size() == a.labels.size() * static_cast<size_t>(classes),
            "average_of_views: two views of ", a.labels.size(), " and ", b.labels.size(),
            " images whose labels or logits do not match");
  Evaluation e;
  e.images = static_cast<int64_t>(a.labels.size());
  std::vector<float> row(static_cast<size_t>(classes));
  double loss_sum = 0;
  int64_t correct = 0;
  // Each view's log-softmax, then log((p + q) / 2) as log(1/2) + logaddexp: finite
  // wherever either view's probability is.
  auto log_softmax = [classes](const float* logits, std::vector<double>& out) {
    const double log_sum = row_logsumexp(logits, classes);
    for (int64_t c = 0; c < classes; ++c) out[static_cast<size_t>(c)] = static_cast<double>(logits[c]) - log_sum;
  };
  std::vector<double> la(static_cast<size_t>(classes)), lb(static_cast<size_t>(classes));
  if (averaged != nullptr) {
    averaged->labels = a.labels;
    averaged->positions = a.positions;
    averaged->logits.assign(a.logits.size(), 0.0f);
  }
  for (size_t i = 0; i < a.labels.size(); ++i) {
    log_softmax(a.logits.data() + i * static_cast<size_t>(classes), la);
    log_softmax(b.logits.data() + i * static_cast<size_t>(classes), lb);
    double log_p_label = 0;
    for (int64_t c = 0; c < classes; ++c) {
      const double hi = std::max(la[static_cast<size_t>(c)], lb[static_cast<size_t>(c)]);
      const double lo = std::min(la[static_cast<size_t>(c)], lb[static_cast<size_t>(c)]);
      const double log_p = std::log(0.5) + hi + std::log1p(std::exp(lo - hi));
      row[static_cast<size_t>(c)] = static_cast<float>(log_p);
      if (c == a.labels[i]) log_p_label = log_p;
    }
    loss_sum -= log_p_label;
    correct += row_argmax(row.data(), classes) == a.labels[i];
    if (averaged != nullptr) std::copy(row.begin(), row.end(), averaged->logits.begin() + i * static_cast<size_t>(classes));
  }
  if (e.images > 0) {
    e.loss = loss_sum / static_cast<double>(e.images);
    e.accuracy = static_cast<double>(correct) / static_cast<double>(e.images);
  }
  return e;
}

namespace {

// The predictions of image files without labels (fastai's get_preds on a test_dl): per
// image its path, the predicted class, its name, its probability and the logits (with
// flip test-time augmentation, the log of the averaged probabilities).
std::string image_predictions_csv(const Predictions& p, const std::vector<std::string>& paths,
                                  const std::vector<std::string>& class_names, int64_t classes) {
  std::ostringstream os;
  os << "file,pred,class,probability";
  for (int64_t c = 0; c < classes; ++c) os << ",logit_" << c;
  os << "\n";
  for (size_t row = 0; row < p.labels.size(); ++row) {
    const float* logits = p.logits.data() + row * static_cast<size_t>(classes);
    const int64_t pred = row_argmax(logits, classes);
    const double probability = std::exp(static_cast<double>(logits[pred]) - row_logsumexp(logits, classes));
    const auto index = static_cast<size_t>(p.positions.empty() ? static_cast<int64_t>(row) : p.positions[row]);
    os << csv_field(paths[index]) << "," << pred << "," << csv_field(class_name(class_names, pred)) << ","
       << format_number(probability);
    for (int64_t c = 0; c < classes; ++c) os << "," << format_number(logits[c]);
    os << "\n";
  }
  return os.str();
}

// fastai's learn.predict (and, with --predictions, get_preds on a test_dl): each image
// file, made like the validation images, with its most likely classes and their
// probabilities; with --tta, those of the image and its mirror averaged.
int predict_images(Experiment& experiment, const EvaluateRequest& request) {
  // Lines printed when the predictions also go to a file; the file holds them all.
  constexpr size_t kMostLinesBesideFile = 20;
  const Dataset& val = experiment.data.val;
  const std::vector<std::string> paths = image_files(request.images);
  const Dataset files = images_like(paths, val, resize_method_named(experiment.config.data.resize_method));
  load_weights(request.checkpoint, *experiment.model);
  Loader loader(files, experiment.loader_options());
  Predictions predictions;
  evaluate(*experiment.model, loader, &predictions);
  const int64_t classes = val.num_classes, C = val.images.size(1);
  if (request.tta) {
    Augmentation mirror;
    mirror.mirror_every_image = true;
    Loader mirrored_loader(files, experiment.loader_options().augmentation(mirror));
    Predictions mirrored, averaged;
    evaluate(*experiment.model, mirrored_loader, &mirrored);
    average_of_views(predictions, mirrored, classes, &averaged);
    predictions = std::move(averaged);
  }
  std::printf("%s on %zu image file%s, each made %lldx%lld %s as %s's images are%s:\n", request.checkpoint.c_str(),
              paths.size(), paths.size() == 1 ? "" : "s",
              static_cast<long long>(val.images.size(2)), static_cast<long long>(val.images.size(3)),
              C == 1 ? "grayscale" : "RGB", val.name.c_str(),
              request.tta ? ", with flip test-time augmentation (image and mirror, probabilities averaged)" : "");
  const bool to_file = !request.predictions.empty();
  std::vector<int64_t> per_class(static_cast<size_t>(classes), 0);
  for (size_t row = 0; row < predictions.labels.size(); ++row) {
    const float* logits = predictions.logits.data() + row * static_cast<size_t>(classes);
    double top = -INFINITY, sum = 0;
    for (int64_t k = 0; k < classes; ++k) top = std::max(top, static_cast<double>(logits[k]));
    std::vector<std::pair<double, int64_t>> ranked;  // (probability, class), the highest first
    for (int64_t k = 0; k < classes; ++k) sum += std::exp(static_cast<double>(logits[k]) - top);
    for (int64_t k = 0; k < classes; ++k) ranked.push_back({std::exp(static_cast<double>(logits[k]) - top) / sum, k});
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    ++per_class[static_cast<size_t>(ranked[0].second)];
    if (to_file && row >= kMostLinesBesideFile) continue;
    const auto index = static_cast<size_t>(predictions.positions.empty() ? static_cast<int64_t>(row)
                                                                         : predictions.positions[row]);
    std::string line = "  " + paths[index] + ":";
    for (size_t k = 0; k < std::min<size_t>(3, ranked.size()); ++k) {
      char part[96];
      std::snprintf(part, sizeof part, "%s %s %.4f", k == 0 ? "" : ",", class_name(val.class_names, ranked[k].second).c_str(),
                    ranked[k].first);
      line += part;
    }
    std::printf("%s\n", line.c_str());
  }
  if (!to_file) return 0;
  if (paths.size() > kMostLinesBesideFile)
    std::printf("  ... and %zu more, in %s\n", paths.size() - kMostLinesBesideFile, request.predictions.c_str());
  // How many images each class got, the most first (a check on a test set's balance).
  std::vector<int64_t> order(static_cast<size_t>(classes));
  for (int64_t c = 0; c < classes; ++c) order[static_cast<size_t>(c)] = c;
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return per_class[static_cast<size_t>(a)] > per_class[static_cast<size_t>(b)]; });
  std::string counts;
  for (int64_t c : order) {
    if (per_class[static_cast<size_t>(c)] == 0) break;
    counts += (counts.empty() ? "" : ", ") + class_name(val.class_names, c) + " " +
              std::to_string(per_class[static_cast<size_t>(c)]);
  }
  std::printf("predicted classes: %s\n", counts.c_str());
  write_file_atomically(request.predictions,
                        image_predictions_csv(predictions, paths, val.class_names, classes));
  std::printf("predictions: %s\n", request.predictions.c_str());
  return 0;
}

// Goodfellow et al.'s linear interpolation: the validation loss and accuracy of the
// weights (1 - t) A + t B at evenly spaced t from 0 to 1.
int interpolate_checkpoints(Experiment& experiment, const EvaluateRequest& request) {
  // A first on its own: a checkpoint of another model is named as such before anything.
  load_weights(request.checkpoint, *experiment.model);
  const SafetensorsContent a = load_safetensors(request.checkpoint), b = load_safetensors(request.interpolate);
  auto tensors = [](size_t n) { return std::to_string(n) + (n == 1 ? " tensor" : " tensors"); };
  CYG_INPUT_CHECK(a.tensors.size() == b.tensors.size(), "'", request.interpolate, "' has ", tensors(b.tensors.size()),
                  " and '", request.checkpoint, "' ", tensors(a.tensors.size()), ": not the same model's weights");
  std::vector<Tensor> partner;  // B's tensor of each of A's names
  for (const auto& entry : a.tensors) {
    const std::string& name = entry.first;
    const Tensor& tensor = entry.second;
    const auto it = std::find_if(b.tensors.begin(), b.tensors.end(), [&](const auto& e) { return e.first == name; });
    CYG_INPUT_CHECK(it != b.tensors.end(), "'", request.interpolate, "' has no tensor '", name, "', which '",
                    request.checkpoint, "' has: not the same model's weights");
    CYG_INPUT_CHECK(it->second.shape() == tensor.shape() && it->second.dtype() == tensor.dtype(), "tensor '", name,
                    "' differs in shape or type between '", request.checkpoint, "' and '", request.interpolate, "'");
    CYG_INPUT_CHECK(tensor.dtype() == DType::F32 || tensor.dtype() == DType::I64 || tensor.dtype() == DType::I32,
                    "tensor '", name, "' of '", request.checkpoint, "' is ", dtype_name(tensor.dtype()),
                    ": the line takes fp32 weights (and integer counters, kept from the first checkpoint)");
    partner.push_back(it->second);
  }
  const int64_t points = request.points > 0 ? request.points : kInterpolationPoints;
  // The training images for the statistics, without augmentation, in order, the last
  // batch kept or dropped as training does (a batch of one has no variance).
  std::optional<Loader> train;
  if (request.recompute_bn)
    train.emplace(experiment.data.train, experiment.loader_options().drop_last(experiment.config.train.drop_last));
  const std::string statistics = request.recompute_bn ? "recomputed over the training images at each point"
                                                      : "interpolated with the weights";
  std::printf("the line from %s (t = 0) to %s (t = 1), %lld points on %s, batchnorm statistics %s:\n",
              request.checkpoint.c_str(), request.interpolate.c_str(), static_cast<long long>(points),
              experiment.data.val.name.c_str(), statistics.c_str());
  std::printf("  %-8s %10s %9s\n", "t", "loss", "accuracy");
  std::string csv = "t,val_loss,val_acc\n";
  std::vector<double> ts, losses, accuracies;
  for (int64_t k = 0; k < points; ++k) {
    const double t = static_cast<double>(k) / static_cast<double>(points - 1);
    nn::NamedTensors state;
    for (size_t i = 0; i < a.tensors.size(); ++i) {
      const Tensor& from = a.tensors[i].second;
      // The ends as they are (a weight that is not finite stays so); counters A's.
      if (k == points - 1 && from.dtype() == DType::F32) {
        state.emplace_back(a.tensors[i].first, partner[i]);
        continue;
      }
      if (k == 0 || from.dtype() != DType::F32) {
        state.push_back(a.tensors[i]);
        continue;
      }
      Tensor mixed = Tensor::empty(from.shape(), DType::F32);
      const float *x = from.data<float>(), *y = partner[i].data<float>();
      float* out = mixed.data<float>();
      for (int64_t j = 0; j < from.numel(); ++j)
        out[j] = static_cast<float>((1.0 - t) * static_cast<double>(x[j]) + t * static_cast<double>(y[j]));
      state.emplace_back(a.tensors[i].first, mixed);
    }
    load_state_into(request.interpolate, state, *experiment.model);
    if (train) {
      train->start_epoch(0);
      Batch batch;
      nn::recompute_batchnorm_statistics(*experiment.model, [&](Tensor& images) {
        if (!train->next(batch)) return false;
        images = batch.images;
        return true;
      });
    }
    const Evaluation e = evaluate(*experiment.model, *experiment.val_loader);
    std::printf("  %-8.4f %10.6f %9.4f\n", t, e.loss, e.accuracy);
    csv += format_number(t) + "," + format_number(e.loss) + "," + format_number(e.accuracy) + "\n";
    ts.push_back(t);
    losses.push_back(e.loss);
    accuracies.push_back(e.accuracy);
  }
  if (!request.interpolation_csv.empty()) {
    write_file_atomically(request.interpolation_csv, csv);
    std::printf("interpolation: %s\n", request.interpolation_csv.c_str());
  }
  if (!request.interpolation_svg.empty()) {
    plot::Chart chart;
    chart.title = "Between two checkpoints: (1 - t) A + t B";
    chart.x_label = "t (0: " + std::filesystem::path(request.checkpoint).filename().string() + ", 1: " +
                    std::filesystem::path(request.interpolate).filename().string() + ")";
    chart.y_label = "validation loss";
    chart.y2_label = "validation accuracy";
    chart.log_y = plot::spans_decades(losses);
    chart.series = {{"loss", ts, losses, plot::LineStyle::Solid, plot::Axis::Left, ""},
                    {"accuracy", ts, accuracies, plot::LineStyle::Dashed, plot::Axis::Right, ""}};
    plot::write_svg(request.interpolation_svg, chart);
    std::printf("interpolation picture: %s\n", request.interpolation_svg.c_str());
  }
  return 0;
}

}  // namespace

int evaluate_checkpoint(Experiment& experiment, const EvaluateRequest& request) {
  const std::string& checkpoint = request.checkpoint;
  const std::string &predictions_path = request.predictions, &confusion_path = request.confusion;
  const bool tta = request.tta;
  if (!request.images.empty()) return predict_images(experiment, request);
  // The validation images data.valid_pct draws from the training folder are the run's only
  // while that folder is as the run recorded it.
  if (experiment.config.data.valid_pct > 0)
    check_training_files(experiment.config.data, experiment.train_files_now,
                         "data.valid_pct draws the validation images from that folder, and would now draw others, "
                         "training images among them: put the folder back as it was, or score a validation folder "
                         "(data.valid_pct=0 data.valid_folder=NAME)");
  if (!request.interpolate.empty()) return interpolate_checkpoints(experiment, request);
  const Dataset& val = experiment.data.val;
  CYG_INPUT_CHECK(request.confusion_svg.empty() || val.num_classes <= kMostConfusionPictureClasses,
                  "--confusion-svg draws up to ", kMostConfusionPictureClasses, " classes, and ", val.name, " has ",
                  val.num_classes, ": use --confusion FILE.csv for the counts");
  load_weights(checkpoint, *experiment.model);
  Predictions predictions;
  const Evaluation e = evaluate(*experiment.model, *experiment.val_loader, &predictions);
  std::printf("%s on %s (%lld images): loss %.6f, accuracy %.4f\n", checkpoint.c_str(), val.name.c_str(),
              static_cast<long long>(e.images), e.loss, e.accuracy);
  if (tta) {
    // The plain view's logits are those just computed; the mirror's come from one more pass.
    Predictions mirrored, averaged;
    evaluate(*experiment.model, *experiment.mirrored_val_loader(), &mirrored);
    const Evaluation t = average_of_views(predictions, mirrored, val.num_classes, &averaged);
    std::printf("with flip test-time augmentation (image and mirror, probabilities averaged): loss %.6f, "
                "accuracy %.4f (%+.4f)\n",
                t.loss, t.accuracy, t.accuracy - e.accuracy);
    std::printf("the figures below are those of the average\n");
    predictions = std::move(averaged);
  }
  const Confusion confusion = confusion_of(predictions, val.num_classes);
  std::printf("%s", confusion_report(confusion, val.class_names).c_str());
  if (!predictions_path.empty()) {
    write_file_atomically(predictions_path, predictions_csv(predictions, val.num_classes, val.files));
    std::printf("predictions: %s\n", predictions_path.c_str());
  }
  if (!confusion_path.empty()) {
    write_file_atomically(confusion_path, confusion_csv(confusion, val.class_names));
    std::printf("confusion matrix: %s\n", confusion_path.c_str());
  }
  if (!request.confusion_svg.empty()) {
    write_file_atomically(request.confusion_svg,
                          confusion_svg(confusion, val.class_names,
                                        "Confusion matrix on " + val.name + (tta ? ", flip test-time augmentation" : ""),
                                        checkpoint));
    std::printf("confusion matrix picture: %s\n", request.confusion_svg.c_str());
  }
  if (request.top_losses > 0) {
    const std::vector<TopLoss> top = top_losses(predictions, val.num_classes, request.top_losses);
    std::printf("%s", top_losses_report(top, val.class_names, val.files).c_str());
    if (!request.top_losses_svg.empty()) {
      const std::string title = "The " + std::to_string(top.size()) + " highest losses on " + val.name +
                                (tta ? ", flip test-time augmentation" : "");
      write_file_atomically(request.top_losses_svg,
                            top_losses_svg(top, val.images, val.class_names, title, checkpoint, val.files));
      std::printf("top losses: %s\n", request.top_losses_svg.c_str());
    }
  }
  return 0;
}

}  // namespace cyg::app
