// The sweep spec: a TOML file (plus --set overrides) resolved into a model, base parameters and grid
// axes. Every key is checked against the model's declarations; errors name the file, line and key.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "host/registry.h"
#include "kernels/model_api.h"

namespace fs {

struct Axis {
  std::string name;     // a parameter name, or "seed"
  std::string section;  // model | train | detect | seed
  std::vector<Value> values;
  std::string kind;  // list | range | linspace | geomspace
};

struct Spec {
  std::string path;
  std::string text;  // the file as read
  std::string name;
  std::string description;
  std::string model;
  uint32_t sweep_seed = 0;
  Params base;  // every key with its fixed value or default (axes hold the swept ones)
  std::vector<Axis> axes;
  std::vector<std::string> overrides;
  const ModelEntry* entry = nullptr;
  std::map<std::string, std::string> where;  // parameter -> "file:line" (or "--set ...") that set it

  // The section a parameter belongs to: params | train | detect | seed.
  std::string section_of(const std::string& key) const;

  // Hash of the resolved content (model, seed, base values, axes): two specs that mean the same sweep
  // share it whatever their comments and layout.
  std::string hash() const;
  std::string canonical() const;
};

// A spec is a few kilobytes; one larger than this is refused before it is parsed.
constexpr size_t kMaxSpecBytes = size_t(1) << 20;

// Parses and checks a spec; throws InputError naming file, line and key.
Spec load_spec(const std::string& path, const std::vector<std::string>& overrides = {});
Spec parse_spec(const std::string& text, const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace fs
