// Softmax cross-entropy: the backward against central differences, with and without label
// smoothing; small cases worked by hand; stability at large logits; bad labels rejected.
#include <cmath>
#include <string>

#include "kernels/error.h"
#include "kernels/loss.h"
#include "tests/gradcheck/gradcheck.h"

namespace {

struct LossResult {
  double loss = 0;
  int64_t correct = -1;
  std::vector<double> logsumexp, dlogits;
};

LossResult run_loss(const std::vector<double>& logits, const std::vector<int32_t>& labels, int64_t K,
                    double smoothing, double grad_loss = 1.0) {
  const int64_t N = static_cast<int64_t>(labels.size());
  LossResult r;
  r.logsumexp.resize(labels.size());
  r.dlogits.resize(logits.size());
  cyg::cross_entropy_forward_cpu(logits.data(), labels.data(), N, K, smoothing, &r.loss, &r.correct,
                                 r.logsumexp.data());
  cyg::cross_entropy_backward_cpu(logits.data(), labels.data(), r.logsumexp.data(), N, K, smoothing, grad_loss,
                                  r.dlogits.data());
  return r;
}

TEST(Gradcheck, CrossEntropyLoss) {
  const int64_t N = 6, K = 7;
  const std::vector<int32_t> labels = {0, 6, 3, 3, 1, 5};
  for (double smoothing : {0.0, 0.1}) {
    SCOPED_TRACE(::testing::Message() << "smoothing=" << smoothing);
    std::vector<double> x = cyg::test::random_doubles(static_cast<size_t>(N * K), 3, -3.0, 3.0);
    const double grad_loss = 0.7;
    const LossResult r = run_loss(x, labels, K, smoothing, grad_loss);
    auto loss = [&] {
      double out = 0;
      int64_t correct = 0;
      std::vector<double> lse(static_cast<size_t>(N));
      cyg::cross_entropy_forward_cpu(x.data(), labels.data(), N, K, smoothing, &out, &correct, lse.data());
      return grad_loss * out;
    };
    EXPECT_TRUE(cyg::test::check_gradient(loss, x, r.dlogits, "logits"));
  }
}

// MixUp's targets: each row's one-hot shared with its partner row's label, with and
// without smoothing, including a row paired with itself and weights 1 and 1/2.
TEST(Gradcheck, CrossEntropyLossWithMixedLabels) {
  const int64_t N = 6, K = 7;
  const std::vector<int32_t> labels = {0, 6, 3, 3, 1, 5};
  const std::vector<int32_t> partner = {3, 0, 2, 5, 1, 4};
  const std::vector<float> weight = {0.75f, 0.5f, 1.0f, 0.625f, 0.875f, 0.53125f};
  const cyg::LabelMix mix{partner.data(), weight.data()};
  for (double smoothing : {0.0, 0.1}) {
    SCOPED_TRACE(::testing::Message() << "smoothing=" << smoothing);
    std::vector<double> x = cyg::test::random_doubles(static_cast<size_t>(N * K), 5, -3.0, 3.0);
    const double grad_loss = 0.7;
    std::vector<double> lse(static_cast<size_t>(N)), dlogits(x.size());
    double unused = 0;
    int64_t correct = 0;
    cyg::cross_entropy_forward_cpu(x.data(), labels.data(), N, K, smoothing, &unused, &correct, lse.data(), mix);
    cyg::cross_entropy_backward_cpu(x.data(), labels.data(), lse.data(), N, K, smoothing, grad_loss, dlogits.data(),
                                    mix);
    auto loss = [&] {
      double out = 0;
      int64_t c = 0;
      std::vector<double> l(static_cast<size_t>(N));
      cyg::cross_entropy_forward_cpu(x.data(), labels.data(), N, K, smoothing, &out, &c, l.data(), mix);
      return grad_loss * out;
    };
    EXPECT_TRUE(cyg::test::check_gradient(loss, x, dlogits, "logits"));
  }
}

// fastai's MixUp loss, lerp(loss(z, y[partner]), loss(z, y), w) row by row, worked out from
// -log softmax: a row of two classes paired with a row of the other label.
TEST(Gradcheck, CrossEntropyLossWithMixedLabelsByHand) {
  const std::vector<double> logits = {1.0, 0.0, 0.0, 2.0};
  const std::vector<int32_t> labels = {0, 1};
  const std::vector<int32_t> partner = {1, 1};  // row 0 with row 1's label; row 1 with itself
  const std::vector<float> weight = {0.75f, 0.5f};
  const cyg::LabelMix mix{partner.data(), weight.data()};
  double loss = 0;
  int64_t correct = 0;
  std::vector<double> lse(2), dlogits(4);
  cyg::cross_entropy_forward_cpu(logits.data(), labels.data(), 2, 2, 0.0, &loss, &correct, lse.data(), mix);
  cyg::cross_entropy_backward_cpu(logits.data(), labels.data(), lse.data(), 2, 2, 0.0, 1.0, dlogits.data(), mix);
  const double p0 = 1.0 / (1.0 + std::exp(-1.0)), p1 = 1.0 / (1.0 + std::exp(-2.0));
  const double row0 = 0.75 * -std::log(p0) + 0.25 * -std::log(1.0 - p0);
  const double row1 = -std::log(p1);
  EXPECT_NEAR(loss, (row0 + row1) / 2, 1e-15);
  EXPECT_NEAR(dlogits[0], 0.5 * (p0 - 0.75), 1e-15);
  EXPECT_NEAR(dlogits[1], 0.5 * ((1.0 - p0) - 0.25), 1e-15);
  EXPECT_NEAR(dlogits[2], 0.5 * (1.0 - p1), 1e-15);
  EXPECT_NEAR(dlogits[3], 0.5 * (p1 - 1.0), 1e-15);
  EXPECT_EQ(correct, 2);  // each row's own label is its argmax

  // A partner or a weight out of range is named.
  const std::vector<int32_t> far = {2, 0};
  try {
    cyg::cross_entropy_forward_cpu(logits.data(), labels.data(), 2, 2, 0.0, &loss, &correct, lse.data(),
                                   cyg::LabelMix{far.data(), weight.data()});
    ADD_FAILURE() << "a partner out of range was taken";
  } catch (const cyg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 0 has mixing partner 2"), std::string::npos) << e.what();
  }
  const std::vector<float> heavy = {0.5f, 1.5f};
  EXPECT_THROW(cyg::cross_entropy_backward_cpu(logits.data(), labels.data(), lse.data(), 2, 2, 0.0, 1.0,
                                               dlogits.data(), cyg::LabelMix{partner.data(), heavy.data()}),
               cyg::Error);
}

TEST(Gradcheck, CrossEntropyLossByHand) {
  const double ln2 = std::log(2.0);
  LossResult r = run_loss({0.0, 0.0}, {0}, 2, 0.0);
  EXPECT_NEAR(r.loss, ln2, 1e-15);
  EXPECT_NEAR(r.logsumexp[0], ln2, 1e-15);
  EXPECT_NEAR(r.dlogits[0], -0.5, 1e-15);
  EXPECT_NEAR(r.dlogits[1], 0.5, 1e-15);
  EXPECT_EQ(r.correct, 1);  // a tie goes to index 0

  // Smoothing 0.1 over two classes: target (0.95, 0.05); equal logits still cost ln 2.
  r = run_loss({0.0, 0.0}, {0}, 2, 0.1);
  EXPECT_NEAR(r.loss, ln2, 1e-15);
  EXPECT_NEAR(r.dlogits[0], 0.5 - 0.95, 1e-15);
  EXPECT_NEAR(r.dlogits[1], 0.5 - 0.05, 1e-15);

  // Mean over the batch of ln 2 and -ln p, p = softmax(1, 0)[0]; the gradient carries grad_loss / N.
  r = run_loss({0.0, 0.0, 1.0, 0.0}, {1, 0}, 2, 0.0, 3.0);
  const double p = 1.0 / (1.0 + std::exp(-1.0));
  EXPECT_NEAR(r.loss, (ln2 - std::log(p)) / 2, 1e-15);
  EXPECT_NEAR(r.dlogits[0], 1.5 * 0.5, 1e-15);
  EXPECT_NEAR(r.dlogits[1], 1.5 * -0.5, 1e-15);
  EXPECT_NEAR(r.dlogits[2], 1.5 * (p - 1.0), 1e-15);
  EXPECT_NEAR(r.dlogits[3], 1.5 * (1.0 - p), 1e-15);
  EXPECT_EQ(r.correct, 1);  // row 0 ties and goes to index 0, not the label 1

  // Ties go to the lowest index, wherever they are in the row.
  EXPECT_EQ(run_loss({1.0, 3.0, 3.0}, {1}, 3, 0.0).correct, 1);
  EXPECT_EQ(run_loss({1.0, 3.0, 3.0}, {2}, 3, 0.0).correct, 0);
  EXPECT_EQ(run_loss({3.0, 1.0, 3.0, 3.0, 1.0, 3.0}, {0, 2}, 3, 0.0).correct, 1);
}

TEST(Gradcheck, CrossEntropyLossStableAtLargeLogits) {
  // exp(1000) overflows double and exp(100) float: only the shift by the maximum saves them.
  const LossResult r = run_loss({1000.0, 0.0}, {1}, 2, 0.0);
  EXPECT_NEAR(r.loss, 1000.0, 1e-12);
  EXPECT_NEAR(r.dlogits[0], 1.0, 1e-15);
  EXPECT_NEAR(r.dlogits[1], -1.0, 1e-15);

  const std::vector<float> logits = {100.0f, -100.0f, 100.0f};
  const std::vector<int32_t> labels = {2};
  float loss = 0, lse = 0;
  int64_t correct = -1;
  cyg::cross_entropy_forward_cpu(logits.data(), labels.data(), 1, 3, 0.1f, &loss, &correct, &lse);
  // Target (0.1/3, 0.1/3, 0.9 + 0.1/3): the -100 and one +100 cancel in sum_k target_k z_k.
  const double ref_lse = 100.0 + std::log(2.0 + std::exp(-200.0));
  EXPECT_NEAR(lse, ref_lse, 1e-4);
  EXPECT_NEAR(loss, ref_lse - 100.0 * (0.9 + 0.1 / 3), 1e-4);
  EXPECT_EQ(correct, 0);  // the tie goes to index 0, not the label 2
}

TEST(Gradcheck, CrossEntropyLossRejectsLabelOutOfRange) {
  const std::vector<double> logits(9, 0.0);
  std::vector<double> lse(3), dlogits(9);
  double loss = 0;
  int64_t correct = 0;
  for (int32_t bad : {3, -1}) {
    const std::vector<int32_t> labels = {0, 2, bad};
    try {
      cyg::cross_entropy_forward_cpu(logits.data(), labels.data(), 3, 3, 0.0, &loss, &correct, lse.data());
      ADD_FAILURE() << "label " << bad << " accepted";
    } catch (const cyg::Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("row 2 has label " + std::to_string(bad)), std::string::npos) << what;
    }
    EXPECT_THROW(cyg::cross_entropy_backward_cpu(logits.data(), labels.data(), lse.data(), 3, 3, 0.0, 1.0,
                                                 dlogits.data()),
                 cyg::Error);
  }
  const std::vector<int32_t> labels = {0, 1, 2};
  EXPECT_THROW(cyg::cross_entropy_forward_cpu(logits.data(), labels.data(), 3, 3, 1.0, &loss, &correct, lse.data()),
               cyg::Error);
}

}  // namespace
