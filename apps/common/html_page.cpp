#include "apps/common/html_page.h"

#include "apps/common/plot.h"

namespace cyg::app::html {

// XML's escapes (&apos; included) are HTML5's too.
std::string escape(const std::string& text) { return plot::escape_xml(text); }

std::string inline_svg(const std::string& svg) {
  if (svg.rfind("<?xml", 0) != 0) return svg;
  const size_t end = svg.find("?>");
  return end == std::string::npos ? svg : svg.substr(svg.find_first_not_of("\r\n", end + 2));
}

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::string out = "<table>\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    out += "<tr>";
    for (const std::string& cell : rows[r]) out += (r == 0 ? "<th>" : "<td>") + escape(cell) + (r == 0 ? "</th>" : "</td>");
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

std::string page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + escape(title) +
         "</title>\n<style>\n"
         "body { font-family: Helvetica, Arial, sans-serif; max-width: 980px; margin: 2em auto; color: #222; "
         "padding: 0 1em; }\n"
         "h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }\n"
         "table { border-collapse: collapse; margin: 0.5em 0; }\n"
         "th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; }\n"
         "th { background: #f2f2f2; }\n"
         "td:not(:first-child) { font-variant-numeric: tabular-nums; }\n"
         "pre { background: #f6f6f6; padding: 1em; overflow: auto; font-size: 0.9em; }\n"
         "figure { margin: 1.2em 0; } svg { max-width: 100%; height: auto; }\n"
         ".header { font-family: monospace; background: #f6f6f6; padding: 0.6em; }\n"
         "</style>\n</head>\n<body>\n" +
         body + "</body>\n</html>\n";
}

}  // namespace cyg::app::html
