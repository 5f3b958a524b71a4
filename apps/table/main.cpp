// cygnet_table: gathers run directories into the seed report's Table I (Markdown, and
// a page beside the report's own numbers) and the validation accuracy and loss overlays
// (Figs. 4a and 4b).
//   cygnet_table [--out DIR] [--with-train] [--each-run] RUN_DIR|PARENT_DIR...
#include <cctype>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/common/html_page.h"
#include "apps/common/plot.h"
#include "apps/common/run_table.h"
#include "engine/atomic_file.h"

namespace {

const char* const kUsage =
    "usage: cygnet_table [--out DIR] [--with-train] [--each-run] RUN_DIR...\n"
    "  RUN_DIR     a run directory (config.yaml, metrics.csv, summary.json), or a folder\n"
    "              whose subfolders are run directories (taken in name order)\n"
    "  --out DIR   where to write table1.md, table1.csv, val_accuracy.svg, val_loss.svg and\n"
    "              table1.html (default: .)\n"
    "  --with-train  also draw each run's training accuracy and loss, dashed\n"
    "  --each-run  one row per run; by default runs that differ in their seed alone (and\n"
    "              their name) share a row: the mean and sample standard deviation of\n"
    "              their final validation loss and accuracy, and how many seeds\n"
    "Prints the table (Markdown) on stdout.\n";

namespace html = cyg::app::html;

// A path as a URL: every byte but letters, digits, - . _ ~ and / percent-encoded (a run
// named "a#1" or "b c" still links to its page).
std::string percent_encoded(const std::string& path) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// table1.html: the table beside the report's numbers, the overlays, and each run's page.
std::string page(const std::vector<cyg::runs::RunRecord>& runs,
                 const std::vector<std::vector<cyg::runs::RunRecord>>& rows, const cyg::plot::Chart& accuracy,
                 const cyg::plot::Chart& loss, const std::filesystem::path& out) {
  std::string body = "<h1>Table I: the runs beside the report</h1>\n"
                     "<p>Each run's settings, its final validation loss and accuracy, and the validation accuracy the "
                     "report gives for the same settings (&ldquo;Experiments on Super-Convergence&rdquo;, Table I "
                     "and its Adam baseline).</p>\n" +
                     (rows.size() < runs.size()
                          ? "<p>Runs that differ in their seed alone share a row: the mean &plusmn; the sample standard "
                            "deviation of their final values, over the runs that recorded one.</p>\n"
                          : std::string()) +
                     html::table(cyg::runs::grouped_table_cells(rows));
  body += "<h2>Validation accuracy (Fig. 4a)</h2>\n<figure>" + html::inline_svg(cyg::plot::render_svg(accuracy)) +
          "</figure>\n<h2>Validation loss (Fig. 4b)</h2>\n<figure>" + html::inline_svg(cyg::plot::render_svg(loss)) +
          "</figure>\n<h2>Runs</h2>\n<ul>\n";
  for (const cyg::runs::RunRecord& run : runs) {
    // A link relative to the page, so the folder can move as a whole.
    std::error_code error;
    const std::filesystem::path index = std::filesystem::path(run.dir) / "index.html";
    const std::filesystem::path link = std::filesystem::relative(index, out, error);
    body += "<li><a href=\"" + html::escape(percent_encoded((error || link.empty() ? index : link).generic_string())) +
            "\">" + html::escape(cyg::runs::run_label(run, runs)) + "</a></li>\n";
  }
  return html::page("cygnet: Table I", body + "</ul>\n");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string out_dir = ".";
    cyg::runs::TrainingAccuracy training = cyg::runs::TrainingAccuracy::Omitted;
    bool each_run = false;
    std::vector<std::string> inputs;
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      }
      if (arg == "--with-train") {
        training = cyg::runs::TrainingAccuracy::Dashed;
      } else if (arg == "--each-run") {
        each_run = true;
      } else if (arg == "--out") {
        if (i + 1 >= argc) {
          std::fprintf(stderr, "cygnet_table: --out needs a folder (try --help)\n");
          return 2;
        }
        out_dir = argv[++i];
      } else if (arg.size() > 1 && arg[0] == '-') {
        std::fprintf(stderr, "cygnet_table: unknown option '%s' (try --help)\n", arg.c_str());
        return 2;
      } else {
        inputs.push_back(arg);
      }
    }
    if (inputs.empty()) {
      std::fprintf(stderr, "cygnet_table: no run directories given (try --help)\n");
      return 2;
    }

    std::vector<cyg::runs::RunRecord> runs;
    for (const std::string& dir : cyg::runs::find_run_dirs(inputs)) runs.push_back(cyg::runs::read_run(dir));
    std::vector<std::vector<cyg::runs::RunRecord>> rows;
    if (each_run)
      for (const cyg::runs::RunRecord& run : runs) rows.push_back({run});
    else
      rows = cyg::runs::group_by_settings(runs);
    const std::string table = cyg::runs::grouped_table_markdown(rows);

    const std::filesystem::path out(out_dir);
    std::error_code error;
    std::filesystem::create_directories(out, error);
    if (error) {
      std::fprintf(stderr, "cygnet_table: cannot create the output folder '%s': %s\n", out_dir.c_str(),
                   error.message().c_str());
      return 1;
    }
    cyg::write_file_atomically((out / "table1.md").string(), table);
    cyg::write_file_atomically((out / "table1.csv").string(), cyg::runs::grouped_table_csv(rows));
    const cyg::plot::Chart accuracy = cyg::runs::grouped_accuracy_overlay(rows, training);
    const cyg::plot::Chart loss = cyg::runs::grouped_loss_overlay(rows, training);
    cyg::plot::write_svg((out / "val_accuracy.svg").string(), accuracy);
    cyg::plot::write_svg((out / "val_loss.svg").string(), loss);
    cyg::write_file_atomically((out / "table1.html").string(), page(runs, rows, accuracy, loss, out));
    std::fputs(table.c_str(), stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cygnet_table: %s\n", e.what());
    return 1;
  }
}
