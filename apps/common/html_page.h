// Self-contained HTML pages: a run's index.html and cygnet_table's table1.html. One
// file each, styles inline, plots as inline SVG: no network, no JavaScript.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace cyg::app::html {

// Text with &, <, >, " and ' escaped.
std::string escape(const std::string& text);
// An SVG document (plot::render_svg) as an element of a page: without its XML declaration.
std::string inline_svg(const std::string& svg);
// A table of text cells, the first row its header; cells are escaped.
std::string table(const std::vector<std::vector<std::string>>& rows);
// The whole page around `body` (HTML), titled `title` (text).
std::string page(const std::string& title, const std::string& body);

}  // namespace cyg::app::html
