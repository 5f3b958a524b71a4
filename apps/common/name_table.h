// A set of names and what each stands for (a factory, an enum value): the one place a
// list of names lives. validate() checks a config's name against it and the factory
// builds from it, so the two cannot disagree and an unknown name is never a default.
#pragma once
#include <string>
#include <vector>

#include "kernels/error.h"

namespace cyg::app {

template <typename T>
struct Named {
  const char* name;
  T value;
};

template <typename T>
std::vector<std::string> names_of(const std::vector<Named<T>>& table) {
  std::vector<std::string> names;
  for (const Named<T>& entry : table) names.emplace_back(entry.name);
  return names;
}

// The error for a config value outside its names: "'key' = 'value': expected one of a, b".
[[noreturn]] inline void throw_unknown_name(const std::string& key, const std::string& value,
                                            const std::vector<std::string>& names) {
  std::string list;
  for (const std::string& name : names) list += (list.empty() ? "" : ", ") + name;
  throw Error("'" + key + "' = '" + value + "': expected one of " + list);
}

inline void check_one_of(const std::string& key, const std::string& value, const std::vector<std::string>& names) {
  for (const std::string& name : names)
    if (value == name) return;
  throw_unknown_name(key, value, names);
}

// What `name` stands for in `table`; an unknown name is the error above, for `key`.
template <typename T>
const T& find_named(const std::vector<Named<T>>& table, const std::string& key, const std::string& name) {
  for (const Named<T>& entry : table)
    if (name == entry.name) return entry.value;
  throw_unknown_name(key, name, names_of(table));
}

}  // namespace cyg::app
