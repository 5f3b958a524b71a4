// The one exception type of the library: the failed expression or check, where it
// happened, and the library's own words about it. Apps catch it at main.
#pragma once
#include <stdexcept>
#include <string>

namespace cyg {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A device allocation the runtime could not satisfy; the caching allocator frees its
// cache and tries once more.
class OutOfMemory : public Error {
 public:
  explicit OutOfMemory(const std::string& what) : Error(what) {}
};

[[noreturn]] void throw_error(const char* api, const std::string& reason, const char* expr,
                              const char* file, int line);

}  // namespace cyg

// A precondition of the library (bad shape, dtype, argument): throws cyg::Error with
// the condition, the location and a message built from the remaining arguments.
#define CYG_CHECK(cond, ...)                                                               \
  do {                                                                                     \
    if (!(cond)) ::cyg::throw_error("check", ::cyg::detail::concat(__VA_ARGS__), #cond,    \
                                    __FILE__, __LINE__);                                   \
  } while (0)

// A problem with the user's input (a config, a data file, a checkpoint, a command-line
// value): the message alone, which names the file, key or value and what was expected.
#define CYG_INPUT_CHECK(cond, ...)                                              \
  do {                                                                          \
    if (!(cond)) throw ::cyg::Error(::cyg::detail::concat(__VA_ARGS__));        \
  } while (0)

#include <sstream>
namespace cyg::detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace cyg::detail
