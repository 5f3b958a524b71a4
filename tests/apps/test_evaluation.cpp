// The evaluate app's per-class report (apps/common/evaluation.h): the confusion matrix
// counted from predictions, each class's accuracy and the matrix as printed, and its CSV;
// test-time augmentation's average of two views; the top losses, and the PNG and base64
// their picture is made of.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <regex>
#include <string>
#include <vector>

#include "apps/common/confusion_plot.h"
#include "apps/common/evaluation.h"
#include "apps/common/png.h"
#include "apps/common/show_batch.h"
#include "data/loader.h"
#include "apps/common/top_losses.h"

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
  // Each row numbered as its column is: dog is class 1.
  EXPECT_NE(report.find("           0   1   2\n  0 cat     2   0   0\n  1 dog     0   2   1\n  2 owl     1   0   0\n"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("most confused (true class as predicted class: images):\n  dog as owl: 1\n  owl as cat: 1\n"),
            std::string::npos)
      << report;
  EXPECT_EQ(cyg::app::confusion_csv(c, {"cat", "dog, a \"good\" one"}),
            "label,name,pred_0,pred_1,pred_2,images,accuracy,precision,f1\n"
            "0,cat,2,0,0,2,1,0.6666666666666666,0.8\n"
            "1,\"dog, a \"\"good\"\" one\",0,2,1,3,0.6666666666666666,1,0.8\n"
            "2,class 2,1,0,0,1,0,0,0\n");
}

// scikit-learn's classification_report on the matrix above, worked out by hand: cat is
// predicted 3 times, 2 of them right (precision 2/3, recall 1, F1 0.8); dog 2 times,
// both right (1, 2/3, 0.8); owl once (a dog), never right (0, 0, 0). A fourth class
// with no images and no predictions stays out of the averages, as sklearn leaves out
// labels it does not see.
TEST(Confusion, PrecisionRecallAndF1AsScikitLearnGivesThem) {
  const Confusion c = cyg::app::confusion_of(predictions_of(4, {0, 0, 1, 1, 1, 2}, {0, 0, 2, 1, 1, 0}), 4);
  const cyg::app::ClassScores cat = cyg::app::class_scores(c, 0), dog = cyg::app::class_scores(c, 1),
                              owl = cyg::app::class_scores(c, 2), none = cyg::app::class_scores(c, 3);
  EXPECT_DOUBLE_EQ(cat.precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(cat.recall, 1.0);
  EXPECT_DOUBLE_EQ(cat.f1, 0.8);
  EXPECT_EQ(cat.support, 2);
  EXPECT_EQ(cat.predicted, 3);
  EXPECT_DOUBLE_EQ(dog.precision, 1.0);
  EXPECT_DOUBLE_EQ(dog.recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(dog.f1, 0.8);
  EXPECT_EQ(owl.precision, 0.0);
  EXPECT_EQ(owl.recall, 0.0);
  EXPECT_EQ(owl.f1, 0.0);
  EXPECT_EQ(owl.predicted, 1);
  EXPECT_EQ(none.support + none.predicted, 0);
  const cyg::app::ClassScores macro = cyg::app::macro_average(c), weighted = cyg::app::weighted_average(c);
  EXPECT_DOUBLE_EQ(macro.precision, 5.0 / 9.0);
  EXPECT_DOUBLE_EQ(macro.recall, 5.0 / 9.0);
  EXPECT_DOUBLE_EQ(macro.f1, 1.6 / 3.0);
  EXPECT_EQ(macro.support, 6);
  EXPECT_DOUBLE_EQ(weighted.precision, 13.0 / 18.0);  // (2 * 2/3 + 3 * 1 + 1 * 0) / 6
  EXPECT_DOUBLE_EQ(weighted.recall, 2.0 / 3.0);       // the accuracy
  EXPECT_DOUBLE_EQ(weighted.f1, 4.0 / 6.0);
  const std::string report = cyg::app::confusion_report(c, {"cat", "dog", "owl"});
  EXPECT_NE(report.find("  cat             0.6667  1.0000  0.8000        2\n"), std::string::npos) << report;
  EXPECT_NE(report.find("  macro avg       0.5556  0.5556  0.5333        6\n"), std::string::npos) << report;
  EXPECT_NE(report.find("  weighted avg    0.7222  0.6667  0.6667        6\n"), std::string::npos) << report;
}

// The picture's shade: matplotlib's "Blues" ends and middle, linear between, worked out
// by hand.
TEST(ConfusionPicture, TheShadeRunsFromWhiteThroughLightToDarkBlue) {
  EXPECT_EQ(cyg::app::confusion_shade(0.0), "#f7fbff");
  EXPECT_EQ(cyg::app::confusion_shade(0.5), "#6baed6");
  EXPECT_EQ(cyg::app::confusion_shade(1.0), "#08306b");
  // 1/4: halfway from (247, 251, 255) to (107, 174, 214): (177, 212.5, 234.5), rounded away.
  EXPECT_EQ(cyg::app::confusion_shade(0.25), "#b1d5eb");
  // 3/4: halfway from (107, 174, 214) to (8, 48, 107): (57.5, 111, 160.5).
  EXPECT_EQ(cyg::app::confusion_shade(0.75), "#3a6fa1");
  EXPECT_EQ(cyg::app::confusion_shade(-1.0), "#f7fbff");
  EXPECT_EQ(cyg::app::confusion_shade(7.0), "#08306b");
  EXPECT_EQ(cyg::app::confusion_shade(std::nan("")), "#f7fbff");
}

// Each cell: its fill by its share of the true class (worked out by hand), its tooltip,
// its count; each row's accuracy; names escaped; a class without images; the limits.
TEST(ConfusionPicture, EachCellIsShadedByItsShareOfTheTrueClass) {
  // 0 -> 0, 0; 1 -> 2, 1, 1; 2 -> 0; class 3 has no images.
  const Confusion c = cyg::app::confusion_of(predictions_of(4, {0, 0, 1, 1, 1, 2}, {0, 0, 2, 1, 1, 0}), 4);
  const std::string svg = cyg::app::confusion_svg(c, {"cat", "d<g", "owl"}, "title & more", "ckpt");
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  EXPECT_NE(svg.find(">title &amp; more</text>"), std::string::npos);
  const std::regex cell("fill=\"(#[0-9a-f]{6})\" stroke=\"#ddd\" stroke-width=\"0.5\"><title>([^<]*)</title>");
  std::vector<std::pair<std::string, std::string>> cells;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), cell); it != std::sregex_iterator(); ++it)
    cells.emplace_back((*it)[1].str(), (*it)[2].str());
  ASSERT_EQ(cells.size(), 16u);
  const std::string white = "#f7fbff", dark = "#08306b";
  // Row d<g: 0 of 3, 2 of 3 (t = 1/3 from light to dark: (74, 132, 178.3)), 1 of 3 (t = 2/3
  // from white to light: (153.7, 199.7, 227.7)).
  const std::vector<std::pair<std::string, std::string>> expected = {
      {dark, "cat predicted right: 2 of 2 (100.0%)"},
      {white, "cat predicted as d&lt;g: 0 of 2 (0.0%)"},
      {white, "cat predicted as owl: 0 of 2 (0.0%)"},
      {white, "cat predicted as class 3: 0 of 2 (0.0%)"},
      {white, "d&lt;g predicted as cat: 0 of 3 (0.0%)"},
      {"#4a84b2", "d&lt;g predicted right: 2 of 3 (66.7%)"},
      {"#9ac8e4", "d&lt;g predicted as owl: 1 of 3 (33.3%)"},
      {white, "d&lt;g predicted as class 3: 0 of 3 (0.0%)"},
      {dark, "owl predicted as cat: 1 of 1 (100.0%)"},
      {white, "owl predicted as d&lt;g: 0 of 1 (0.0%)"},
      {white, "owl predicted right: 0 of 1 (0.0%)"},
      {white, "owl predicted as class 3: 0 of 1 (0.0%)"},
      {white, "class 3 predicted as cat: 0 of 0 (—)"},
      {white, "class 3 predicted as d&lt;g: 0 of 0 (—)"},
      {white, "class 3 predicted as owl: 0 of 0 (—)"},
      {white, "class 3 predicted right: 0 of 0 (—)"},
  };
  EXPECT_EQ(cells, expected);
  // The counts, white on the dark cells; the rows' accuracies.
  const std::regex count("fill=\"(white|#222)\">([0-9]+)</text>");
  std::vector<std::string> counts;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), count); it != std::sregex_iterator(); ++it)
    counts.push_back((*it)[1].str() + " " + (*it)[2].str());
  EXPECT_EQ(counts, (std::vector<std::string>{"white 2", "#222 0", "#222 0", "#222 0", "#222 0", "white 2", "#222 1",
                                              "#222 0", "white 1", "#222 0", "#222 0", "#222 0", "#222 0", "#222 0",
                                              "#222 0", "#222 0"}));
  const std::regex accuracy("fill=\"#444\">([^<]*)</text>");
  std::vector<std::string> accuracies;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), accuracy); it != std::sregex_iterator(); ++it)
    accuracies.push_back((*it)[1].str());
  EXPECT_EQ(accuracies, (std::vector<std::string>{"100.0%", "66.7%", "0.0%", "—"}));

  // Beyond 20 classes the cells hold no counts; beyond 40 there is no picture.
  Confusion many;
  many.classes = 21;
  many.counts.assign(21 * 21, 1);
  const std::string crowded = cyg::app::confusion_svg(many, {}, "t", "s");
  EXPECT_NE(crowded.find("class 20 predicted right: 1 of 21 (4.8%)"), std::string::npos);
  EXPECT_FALSE(std::regex_search(crowded, count));
  many.classes = 41;
  many.counts.assign(41 * 41, 1);
  EXPECT_THROW(cyg::app::confusion_svg(many, {}, "t", "s"), cyg::Error);
  many.classes = 3;
  EXPECT_THROW(cyg::app::confusion_svg(many, {}, "t", "s"), cyg::Error) << "counts of another size";
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
            "  class 20 0.5000  (1 of 2)\n"
            // Over 20 classes, the averages alone. Recall: 20 classes 1, three 1/2, two 0:
            // 21.5/25. Precision: 18 classes 1 (15 untouched; 1, 11 and 20, predicted once,
            // rightly), 4 and 8 1/2, 2, 12 and 21 2/3, 3 and 7 never predicted (0): 21/25.
            // F1: 15 of 1, five of 2/3, three of 0.8, two of 0: 20.7333/25. Equal supports:
            // the weighted average is the macro one.
            "classification report (precision, recall, F1, support):\n"
            "               precision  recall      f1  support\n"
            "  macro avg       0.8400  0.8600  0.8293       50\n"
            "  weighted avg    0.8400  0.8600  0.8293       50\n"
            "most confused (true class as predicted class: images):\n"
            "  class 3 as class 4: 2\n"
            "  class 7 as class 8: 2\n"
            "  class 1 as class 2: 1\n"
            "  class 11 as class 12: 1\n"
            "  class 20 as class 21: 1\n");
}

// fastai's most_confused: the most images first, ties in (true, predicted) order, the
// diagonal and empty cells left out, at most the count asked for.
TEST(Confusion, MostConfusedPairsTheMostImagesFirst) {
  Confusion c;
  c.classes = 3;
  c.counts = {9, 1, 4,   // true 0: 1 as 1, 4 as 2
              4, 7, 0,   // true 1: 4 as 0
              0, 2, 5};  // true 2: 2 as 1
  const std::vector<cyg::app::ConfusedPair> all = cyg::app::most_confused(c, 10);
  ASSERT_EQ(all.size(), 4u);
  const std::vector<std::vector<int64_t>> want = {{0, 2, 4}, {1, 0, 4}, {2, 1, 2}, {0, 1, 1}};
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(all[k].label, want[k][0]) << k;
    EXPECT_EQ(all[k].pred, want[k][1]) << k;
    EXPECT_EQ(all[k].images, want[k][2]) << k;
  }
  EXPECT_EQ(cyg::app::most_confused(c, 2).size(), 2u);
  EXPECT_TRUE(cyg::app::most_confused(c, 0).empty());
  Confusion perfect;
  perfect.classes = 2;
  perfect.counts = {3, 0, 0, 4};
  EXPECT_TRUE(cyg::app::most_confused(perfect, 5).empty());
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

// RFC 4648's test vectors.
TEST(Png, Base64IsRfc4648s) {
  EXPECT_EQ(cyg::app::base64(""), "");
  EXPECT_EQ(cyg::app::base64("f"), "Zg==");
  EXPECT_EQ(cyg::app::base64("fo"), "Zm8=");
  EXPECT_EQ(cyg::app::base64("foo"), "Zm9v");
  EXPECT_EQ(cyg::app::base64("foob"), "Zm9vYg==");
  EXPECT_EQ(cyg::app::base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(cyg::app::base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(cyg::app::base64(std::string("\xff\xfe\x00", 3)), "//4A");
}

// CRC-32 as PNG defines it (ISO 3309, reflected polynomial 0xedb88320), bit by bit:
// written here, independent of zlib's table-driven one the encoder uses.
uint32_t crc32_bitwise(const std::string& bytes) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

uint32_t be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) | (uint32_t(uint8_t(s[at + 2])) << 8) |
         uint32_t(uint8_t(s[at + 3]));
}

// The file read back by the PNG specification: the signature, IHDR's fields, each chunk's
// CRC, and IDAT inflated to the rows, each a filter byte 0 and the samples given.
TEST(Png, AnRgbAndAGrayImageReadBackByTheSpecification) {
  for (int channels : {1, 3}) {
    SCOPED_TRACE(channels);
    const int64_t W = 5, H = 3;
    std::vector<uint8_t> pixels(static_cast<size_t>(W * H * channels));
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 37 + 11);
    const std::string png = cyg::app::png_bytes(pixels.data(), W, H, channels);
    ASSERT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    std::vector<std::string> types;
    std::string idat;
    size_t at = 8;
    while (at < png.size()) {
      ASSERT_LE(at + 12, png.size());
      const uint32_t length = be32(png, at);
      const std::string type = png.substr(at + 4, 4), data = png.substr(at + 8, length);
      EXPECT_EQ(be32(png, at + 8 + length), crc32_bitwise(type + data)) << type;
      types.push_back(type);
      if (type == "IHDR") {
        ASSERT_EQ(length, 13u);
        EXPECT_EQ(be32(data, 0), 5u);
        EXPECT_EQ(be32(data, 4), 3u);
        EXPECT_EQ(data[8], 8) << "bit depth";
        EXPECT_EQ(data[9], channels == 1 ? 0 : 2) << "colour type";
        EXPECT_EQ(data.substr(10), std::string(3, '\0'));
      }
      if (type == "IDAT") idat += data;
      at += 12 + length;
    }
    EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
    std::vector<uint8_t> rows(static_cast<size_t>(H * (1 + W * channels)));
    uLongf size = rows.size();
    ASSERT_EQ(uncompress(rows.data(), &size, reinterpret_cast<const Bytef*>(idat.data()), idat.size()), Z_OK);
    ASSERT_EQ(size, rows.size());
    for (int64_t y = 0; y < H; ++y) {
      const uint8_t* row = rows.data() + y * (1 + W * channels);
      EXPECT_EQ(row[0], 0) << "filter of row " << y;
      EXPECT_EQ(std::memcmp(row + 1, pixels.data() + y * W * channels, static_cast<size_t>(W * channels)), 0)
          << "row " << y;
    }
  }
  EXPECT_THROW(cyg::app::png_bytes(nullptr, 0, 3, 1), cyg::Error);
  const uint8_t pixel[4] = {1, 2, 3, 4};
  EXPECT_THROW(cyg::app::png_bytes(pixel, 1, 1, 4), cyg::Error);
}

// Three images of three classes, the losses worked out by hand: logits (0, 0, 0) give
// each class 1/3 (loss ln 3); (ln 8, 0, 0) give the first 8/10 (label 1: loss ln 10,
// predicted 0 with 0.8); (0, 0, ln 2) with label 2 give 1/2 (loss ln 2). A fourth image
// ties the first.
TEST(TopLosses, TheHighestLossesFirstTiesInIndexOrder) {
  Predictions p;
  p.labels = {0, 1, 2, 1};
  p.logits = {0, 0, 0, std::log(8.0f), 0, 0, 0, 0, std::log(2.0f), 0, 0, 0};
  const std::vector<cyg::app::TopLoss> top = cyg::app::top_losses(p, 3, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].index, 1);
  EXPECT_NEAR(top[0].loss, std::log(10.0), 1e-6);
  EXPECT_EQ(top[0].label, 1);
  EXPECT_EQ(top[0].pred, 0);
  EXPECT_NEAR(top[0].label_probability, 0.1, 1e-7);
  EXPECT_NEAR(top[0].pred_probability, 0.8, 1e-7);
  EXPECT_EQ(top[1].index, 0) << "a tie at ln 3 is taken in index order";
  EXPECT_EQ(top[2].index, 3);
  EXPECT_NEAR(top[1].loss, std::log(3.0), 1e-6);
  EXPECT_EQ(cyg::app::top_losses(p, 3, 10).size(), 4u) << "all of them where there are fewer";
  EXPECT_EQ(cyg::app::top_losses(p, 3, 10).back().index, 2);
  const std::string report = cyg::app::top_losses_report(top, {"cat", "dog", "owl"});
  EXPECT_NE(report.find("1. image 1      dog            as cat            loss  2.3026  p(true) 0.1000  p(pred) 0.8000"),
            std::string::npos)
      << report;
  // With the dataset's files, each line ends with its image's.
  const std::string with_files =
      cyg::app::top_losses_report(top, {"cat", "dog", "owl"}, {"a/0.png", "b/1.jpg", "c/2.png", "b/3.png"});
  EXPECT_NE(with_files.find("p(pred) 0.8000  b/1.jpg\n"), std::string::npos) << with_files;
  EXPECT_NE(with_files.find("p(pred) 0.3333  a/0.png\n"), std::string::npos) << with_files;
  EXPECT_NE(with_files.find("p(pred) 0.3333  b/3.png\n"), std::string::npos) << with_files;
  EXPECT_THROW(cyg::app::top_losses(p, 4, 3), cyg::Error) << "logits of another class count";
  // A NaN logit's image (its loss NaN) comes first, whatever the others' losses.
  Predictions with_nan = p;
  with_nan.logits[static_cast<size_t>(2 * 3 + 1)] = std::nanf("");
  const std::vector<cyg::app::TopLoss> nan_first = cyg::app::top_losses(with_nan, 3, 2);
  ASSERT_EQ(nan_first.size(), 2u);
  EXPECT_EQ(nan_first[0].index, 2);
  EXPECT_TRUE(std::isnan(nan_first[0].loss));
  EXPECT_EQ(nan_first[1].index, 1);
}

// The picture: one image each, in rank order, each the image's PNG enlarged by whole
// pixels to about 96 a side, and the captions escaped.
TEST(TopLosses, ThePictureHoldsEachImageEnlargedWithItsCaption) {
  const int64_t N = 4, C = 1, H = 28, W = 28;
  cyg::Tensor images = cyg::Tensor::empty({N, C, H, W}, cyg::DType::U8);
  for (int64_t i = 0; i < images.numel(); ++i) images.data<uint8_t>()[i] = static_cast<uint8_t>(i * 7);
  Predictions p;
  p.labels = {0, 1, 0, 1};
  p.logits = {5, 0, 0, 5, 0, 3, 1, 0};  // losses: ~0, ~0, 3.05, 1.31
  const std::vector<cyg::app::TopLoss> top = cyg::app::top_losses(p, 2, 2);
  const std::string svg = cyg::app::top_losses_svg(top, images, {"a<b", "c&d"}, "title", "ckpt");
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  size_t count = 0, at = 0;
  std::vector<std::string> uris;
  while ((at = svg.find("href=\"data:image/png;base64,", at)) != std::string::npos) {
    at += std::strlen("href=\"data:image/png;base64,");
    uris.push_back(svg.substr(at, svg.find('"', at) - at));
    ++count;
  }
  ASSERT_EQ(count, 2u);
  // 28 x 3 = 84 pixels a side: image 2's PNG is its pixels, each repeated 3 x 3.
  std::vector<uint8_t> enlarged(84 * 84);
  for (int64_t y = 0; y < 84; ++y)
    for (int64_t x = 0; x < 84; ++x)
      enlarged[static_cast<size_t>(y * 84 + x)] = images.data<uint8_t>()[2 * H * W + (y / 3) * W + x / 3];
  EXPECT_EQ(uris[0], cyg::app::base64(cyg::app::png_bytes(enlarged.data(), 84, 84, 1)));
  EXPECT_NE(svg.find("a&lt;b as <tspan fill=\"#c0392b\">c&amp;d</tspan>"), std::string::npos) << "image 2's caption";
  EXPECT_NE(svg.find("#1, image 2"), std::string::npos);
  EXPECT_NE(svg.find("#2, image 3"), std::string::npos);
  // With the images' files: each named by its file's name, a long one by its last 16
  // characters, escaped.
  const std::string named = cyg::app::top_losses_svg(
      top, images, {"a<b", "c&d"}, "title", "ckpt",
      {"x/0.png", "x/1.png", "pics/cat/a&b.jpg", "pics/dog/a_rather_long_name_0003.png"});
  EXPECT_NE(named.find("#1, a&amp;b.jpg<"), std::string::npos) << named;
  EXPECT_NE(named.find("#2, \u2026g_name_0003.png<"), std::string::npos) << named;
  EXPECT_EQ(named.find("image 2"), std::string::npos);
  cyg::app::TopLoss outside;
  outside.index = 9;
  EXPECT_THROW(cyg::app::top_losses_svg({outside}, images, {}, "t", "s"), cyg::Error);
}

}  // namespace

namespace {

// 6 RGB images of 5x4 pixels, every byte different from its neighbours, labels 0..5.
cyg::Dataset rgb_dataset() {
  cyg::Dataset d;
  d.name = "rgb";
  d.num_classes = 6;
  d.images = cyg::Tensor::empty({6, 3, 5, 4}, cyg::DType::U8);
  d.labels = cyg::Tensor::empty({6}, cyg::DType::I32);
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37) % 251);
  for (int64_t i = 0; i < 6; ++i) d.labels.data<int32_t>()[i] = static_cast<int32_t>(i);
  return d;
}

// The pixels of the PNG the picture inlines for its k-th image (the base64 decoded by the
// test, the PNG inflated by zlib): RGB rows, each pixel repeated `scale` times.
std::string kth_uri(const std::string& svg, size_t k) {
  size_t at = 0;
  for (size_t i = 0; i <= k; ++i) {
    at = svg.find("href=\"data:image/png;base64,", at);
    if (at == std::string::npos) return "";
    at += std::strlen("href=\"data:image/png;base64,");
  }
  return svg.substr(at, svg.find('"', at) - at);
}

}  // namespace

// A normalised batch, in either layout, on the CPU and the emulated device, comes back
// to its bytes exactly.
TEST(ShowBatch, PixelsOfANormalisedBatchAreItsBytes) {
  const cyg::Dataset d = rgb_dataset();
  const cyg::Normalization norm{{0.1f, 0.2f, 0.3f}, {0.5f, 0.25f, 2.0f}};
  for (cyg::Device device : {cyg::Device::cpu(), cyg::Device::emu()})
    for (bool channels_last : {false, true}) {
      SCOPED_TRACE(::testing::Message() << device.str() << (channels_last ? " NHWC" : " NCHW"));
      cyg::Loader loader(d, cyg::LoaderOptions(6).normalization(norm).device(device).channels_last(channels_last));
      cyg::Batch batch;
      ASSERT_TRUE(loader.next(batch));
      const cyg::Tensor pixels = cyg::app::pixels_of(batch.images, norm);
      ASSERT_EQ(pixels.shape(), d.images.shape());
      for (int64_t i = 0; i < pixels.numel(); ++i)
        ASSERT_EQ(pixels.data<uint8_t>()[i], d.images.data<uint8_t>()[i]) << "byte " << i;
    }
}

// The batch's picture: its first part's images mixed as the step mixes them (MixUp's
// blend of the bytes, within a rounding), each captioned with its class and share and its
// partner's; unpaired, the class alone.
TEST(ShowBatch, ThePictureShowsTheMixedImagesWithTheirShares) {
  const cyg::Dataset d = rgb_dataset();
  const cyg::Normalization norm{{0.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 1.0f}};
  cyg::Loader loader(d, cyg::LoaderOptions(6).normalization(norm).mixup(0.4, 2));
  cyg::Batch batch;
  ASSERT_TRUE(loader.next(batch));
  const std::vector<std::string> names = {"zero", "one", "two", "three", "four", "five"};
  const std::string svg = cyg::app::batch_svg(batch, 2, norm, names, "title", "sub");
  // The first micro-batch: images 0-2, partners among them.
  auto shares = [](const std::string& text) {  // the captions' percentages
    size_t n = 0;
    for (size_t at = 0; (at = text.find("%</text>", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  EXPECT_EQ(shares(svg), 6u) << svg;
  const cyg::Tensor partner = batch.mixing.partner.to(cyg::Device::cpu());
  const std::vector<float> weight = batch.mixing.weight.to_vector();
  for (int64_t i = 0; i < 3; ++i) {
    const int32_t p = partner.data<int32_t>()[i];
    ASSERT_TRUE(p >= 0 && p < 3) << "a partner in the first micro-batch";
    char caption[64];
    std::snprintf(caption, sizeof caption, "%s %.0f%%", names[static_cast<size_t>(i)].c_str(), 100.0 * weight[i]);
    EXPECT_NE(svg.find(caption), std::string::npos) << caption;
    std::snprintf(caption, sizeof caption, "+ %s %.0f%%", names[static_cast<size_t>(p)].c_str(),
                  100.0 * (1.0 - weight[i]));
    EXPECT_NE(svg.find(caption), std::string::npos) << caption;
    // The image: each byte its own and its partner's, blended, enlarged 19 times (96 / 5).
    std::vector<uint8_t> enlarged(static_cast<size_t>(95 * 76 * 3));
    const uint8_t* x = d.images.data<uint8_t>();
    for (int64_t y = 0; y < 95; ++y)
      for (int64_t c2 = 0; c2 < 76; ++c2)
        for (int64_t c = 0; c < 3; ++c) {
          const int64_t at = (c * 5 + y / 19) * 4 + c2 / 19;
          const double own = x[i * 60 + at] / 255.0, other = x[p * 60 + at] / 255.0;
          const double v = other + weight[static_cast<size_t>(i)] * (own - other);
          enlarged[static_cast<size_t>((y * 76 + c2) * 3 + c)] = static_cast<uint8_t>(std::nearbyint(v * 255.0));
        }
    EXPECT_EQ(kth_uri(svg, static_cast<size_t>(i)), cyg::app::base64(cyg::app::png_bytes(enlarged.data(), 76, 95, 3)))
        << "image " << i;
  }
  EXPECT_EQ(kth_uri(svg, 3), "") << "three images: the first micro-batch's";

  cyg::Loader plain(d, cyg::LoaderOptions(6).normalization(norm));
  ASSERT_TRUE(plain.next(batch));
  const std::string unpaired = cyg::app::batch_svg(batch, 1, norm, names, "title", "sub", 4);
  EXPECT_EQ(shares(unpaired), 0u);
  EXPECT_NE(unpaired.find(">three</text>"), std::string::npos);
  EXPECT_EQ(kth_uri(unpaired, 4), "") << "four asked for";
}

// Class names beyond ASCII line up by characters, not bytes, and a long one is cut
// between characters (never inside one): each column starts at the same character.
TEST(Confusion, NamesBeyondAsciiLineUpByCharacters) {
  const Predictions p = predictions_of(3, {0, 1, 2}, {0, 1, 2});
  const Confusion c = cyg::app::confusion_of(p, 3);
  const std::string long_name = "éééééééééééééééééé";  // 18 characters, 36 bytes
  const std::string report = cyg::app::confusion_report(c, {"ünï cödé", "b", long_name});
  auto characters = [](const std::string& s) {
    size_t n = 0;
    for (const char ch : s) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
    return n;
  };
  // "  <name in 14 characters> 1.0000  (1 of 1)": the accuracy at character 17 of each line.
  const std::string cut = "éééééééééééééé";  // 14 characters
  for (const std::string& name : {std::string("ünï cödé      "), std::string("b             "), cut}) {
    const std::string line = "  " + name + " 1.0000  (1 of 1)\n";
    EXPECT_NE(report.find(line), std::string::npos) << report << "\nlacks: " << line;
    EXPECT_EQ(characters(line.substr(0, line.find("1.0000"))), 17u) << line;
  }
  EXPECT_EQ(report.find(long_name), std::string::npos) << "cut to 14 characters";
  EXPECT_NE(report.find("  2 " + cut + "   0   0   1\n"), std::string::npos) << report;
}
