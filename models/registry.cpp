// One table of models: name, default width and how to build it.
#include "models/registry.h"

#include "kernels/error.h"
#include "models/resnet.h"
#include "models/small_cnn.h"

namespace cyg::models {

namespace {

struct ModelEntry {
  const char* name;
  int64_t default_width;
  int64_t width_multiple;  // option-A shortcuts pad channels evenly on both sides: 2
  std::shared_ptr<nn::Module> (*build)(const ModelOptions&);
};

const ModelEntry kModels[] = {
    {"resnet18", 64, 1,
     [](const ModelOptions& o) -> std::shared_ptr<nn::Module> {
       return std::make_shared<ResNet>(std::vector<int64_t>{2, 2, 2, 2}, o, Shortcut::Projection);
     }},
    {"resnet20", 16, 2,
     [](const ModelOptions& o) -> std::shared_ptr<nn::Module> {
       return std::make_shared<ResNet>(std::vector<int64_t>{3, 3, 3}, o, Shortcut::OptionA);
     }},
    {"resnet56", 16, 2,
     [](const ModelOptions& o) -> std::shared_ptr<nn::Module> {
       return std::make_shared<ResNet>(std::vector<int64_t>{9, 9, 9}, o, Shortcut::OptionA);
     }},
    {"small_cnn", 16, 1,
     [](const ModelOptions& o) -> std::shared_ptr<nn::Module> { return std::make_shared<SmallCnn>(o); }},
};

const ModelEntry* find(const std::string& name) {
  for (const ModelEntry& e : kModels)
    if (name == e.name) return &e;
  return nullptr;
}

}  // namespace

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const ModelEntry& e : kModels) names.emplace_back(e.name);
  return names;
}

bool is_model_name(const std::string& name) { return find(name) != nullptr; }

std::string width_problem(const std::string& name, int64_t width) {
  const ModelEntry* entry = find(name);
  if (entry == nullptr || entry->width_multiple == 1 || width % entry->width_multiple == 0) return "";
  return "the option-A shortcuts of " + name + " need an even width";
}

std::shared_ptr<nn::Module> make_model(const std::string& name, ModelOptions options) {
  const ModelEntry* entry = find(name);
  if (!entry) {
    std::string known;
    for (const auto& m : model_names()) known += (known.empty() ? "" : ", ") + m;
    CYG_INPUT_CHECK(false, "unknown model '", name, "': expected one of ", known);
  }
  if (options.width == 0) options.width = entry->default_width;
  return entry->build(options);
}

}  // namespace cyg::models
