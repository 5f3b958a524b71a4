// The evaluate app's per-class report (apps/common/evaluation.h): the confusion matrix
// counted from predictions, each class's accuracy and the matrix as printed, and its CSV;
// test-time augmentation's average of two views.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "apps/common/evaluation.h"

namespace {

using cyg::app::Confusion;
using cyg::app::Predictions;

// Images of `classes` classes: image i has label labels[i] and logits that pick preds[i].
Predictions predictions_of(int64_t classes, const std::vector<int32_t>& labels, const std::vector<int>& preds) {
  Predictions p;
  p.labels = labels;
  for (int pred : preds)
    for (int64_t k = 0; k < classes; ++k) p.logits.push_back(k == pred ? 1.0f : -static_cast<float>(k) * 0.01f);
  return p;
}

TEST(Confusion, CountsEachLabelsPredictionsAndPrintsTheMatrix) {
  // Three classes: 0 -> 0, 0; 1 -> 2, 1, 1; 2 -> 0.
  const Predictions p = predictions_of(3, {0, 0, 1, 1, 1, 2}, {0, 0, 2, 1, 1, 0});
  const Confusion c = cyg::app::confusion_of(p, 3);
  EXPECT_EQ(c.counts, (std::vector<int64_t>{2, 0, 0, 0, 2, 1, 1, 0, 0}));
  EXPECT_EQ(c.images_of(1), 3);
  EXPECT_EQ(c.correct_of(1), 2);
  const std::string report = cyg::app::confusion_report(c, {"cat", "dog", "owl"});
  EXPECT_NE(report.find("  cat   1.0000  (2 of 2)\n"), std::string::npos) << report;
  EXPECT_NE(report.find("  dog   0.6667  (2 of 3)\n"), std::string::npos) << report;
  EXPECT_NE(report.find("  owl   0.0000  (0 of 1)\n"), std::string::npos) << report;
  EXPECT_NE(report.find("  dog     0   2   1  1\n"), std::string::npos) << report;
  EXPECT_EQ(cyg::app::confusion_csv(c, {"cat", "dog, a \"good\" one"}),
            "label,name,pred_0,pred_1,pred_2,images,accuracy\n"
            "0,cat,2,0,0,2,1\n"
            "1,\"dog, a \"\"good\"\" one\",0,2,1,3,0.6666666666666666\n"
            "2,class 2,1,0,0,1,0\n");
}

TEST(Confusion, ManyClassesShowTheFiveWithTheLowestAccuracy) {
  // 25 classes, two images each: class k is right on both but for 7 and 3 (none right),
  // 11, 20 and 1 (one right).
  std::vector<int32_t> labels;
  std::vector<int> preds;
  for (int k = 0; k < 25; ++k) {
    const int right = k == 7 || k == 3 ? 0 : k == 11 || k == 20 || k == 1 ? 1 : 2;
    for (int i = 0; i < 2; ++i) {
      labels.push_back(k);
      preds.push_back(i < right ? k : (k + 1) % 25);
    }
  }
  const std::string report = cyg::app::confusion_report(cyg::app::confusion_of(predictions_of(25, labels, preds), 25), {});
  EXPECT_EQ(report,
            "the 5 of 25 classes with the lowest accuracy (correct of images):\n"
            "  class 3  0.0000  (0 of 2)\n"
            "  class 7  0.0000  (0 of 2)\n"
            "  class 1  0.5000  (1 of 2)\n"
            "  class 11 0.5000  (1 of 2)\n"
            "  class 20 0.5000  (1 of 2)\n");
}

// Two views of three images of two classes, the averaged probabilities worked out by
// hand: (1/2, 1/2) and (3/4, 1/4) average to (5/8, 3/8); (e^2, 1)/(e^2 + 1) and its
// reverse to (1/2, 1/2), a tie the first class takes, as argmax does; two views each
// certain of another class (logits 1000 apart) to (1/2, 1/2), finite.
TEST(TestTimeAugmentation, AveragesEachImagesProbabilitiesOverTheViews) {
  Predictions a, b;
  a.labels = b.labels = {1, 1, 0};
  a.logits = {0.0f, 0.0f, 2.0f, 0.0f, 1000.0f, 0.0f};
  b.logits = {std::log(3.0f), 0.0f, -2.0f, 0.0f, 0.0f, 1000.0f};
  Predictions averaged;
  const cyg::app::Evaluation e = cyg::app::average_of_views(a, b, 2, &averaged);
  EXPECT_EQ(e.images, 3);
  const double want_loss = (-std::log(3.0 / 8) - std::log(0.5) - std::log(0.5)) / 3;
  EXPECT_NEAR(e.loss, want_loss, 1e-6);
  EXPECT_DOUBLE_EQ(e.accuracy, 1.0 / 3) << "image 2 is a tie (class 0, wrong); image 3's tie is right";
  EXPECT_EQ(averaged.labels, a.labels);
  const std::vector<double> want = {std::log(5.0 / 8), std::log(3.0 / 8), std::log(0.5), std::log(0.5),
                                    std::log(0.5),     std::log(0.5)};
  ASSERT_EQ(averaged.logits.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(averaged.logits[i], want[i], 1e-6) << "logit " << i;
  // The views must be of the same images.
  Predictions other = b;
  other.labels = {1, 0, 0};
  EXPECT_THROW(cyg::app::average_of_views(a, other, 2, nullptr), cyg::Error);
  EXPECT_THROW(cyg::app::average_of_views(a, b, 3, nullptr), cyg::Error);
}

}  // namespace
