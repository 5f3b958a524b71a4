// Builds the message of every cyg::Error in one format: "<api> error: <reason> in `<expr>` at <file>:<line>".
#include "kernels/error.h"

#include <sstream>

namespace cyg {

void throw_error(const char* api, const std::string& reason, const char* expr, const char* file,
                 int line) {
  std::ostringstream os;
  os << api << " error: " << reason << " in `" << expr << "` at " << file << ":" << line;
  throw Error(os.str());
}

}  // namespace cyg
