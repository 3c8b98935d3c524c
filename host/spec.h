// The sweep spec: a TOML file (plus --set overrides) resolved into a model, base parameters and grid
// axes. Every key is checked against the model's declarations; errors name the file, line and key.
#pragma once

#include <cstddef>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "host/registry.h"
#include "kernels/model_api.h"

namespace fs {

// An axis' values, read by value: those given or computed, or a range held as its start, step and count,
// since a seed range of 10^8 runs would be 4.8 GB of values.
class AxisValues {
 public:
  void push_back(Value v) { list_.push_back(std::move(v)); }
  void set_range(double start, double step, long count) {
    list_.clear(), range_ = true, start_ = start, step_ = step, count_ = count;
  }
  size_t size() const { return range_ ? size_t(count_) : list_.size(); }
  bool empty() const { return size() == 0; }
  Value operator[](size_t i) const { return range_ ? Value::number(start_ + double(i) * step_) : list_[i]; }
  Value front() const { return (*this)[0]; }
  Value back() const { return (*this)[size() - 1]; }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Value;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Value;
    iterator(const AxisValues* v, size_t i) : v_(v), i_(i) {}
    Value operator*() const { return (*v_)[i_]; }
    iterator& operator++() { return ++i_, *this; }
    bool operator!=(const iterator& o) const { return i_ != o.i_; }
    bool operator==(const iterator& o) const { return i_ == o.i_; }

   private:
    const AxisValues* v_;
    size_t i_;
  };
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, size()}; }

 private:
  std::vector<Value> list_;
  bool range_ = false;
  double start_ = 0, step_ = 1;
  long count_ = 0;
};

struct Axis {
  std::string name;     // a parameter name, or "seed"
  std::string section;  // model | train | detect | seed
  AxisValues values;
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
  // share it whatever their comments and layout. The resolved content itself, or "" where it is longer
  // than max_bytes.
  std::string hash() const;
  std::string canonical(size_t max_bytes = std::string::npos) const;
  // hash() as parse_spec computed it, which hash() returns (a seed range of 10^8 values takes seconds to
  // hash, and every table and journal names the hash); a spec changed after parsing clears it.
  std::string parsed_hash;
};

// A spec is a few kilobytes; one larger than this is refused before it is parsed.
constexpr size_t kMaxSpecBytes = size_t(1) << 20;

// Parses and checks a spec; throws InputError naming file, line and key.
Spec load_spec(const std::string& path, const std::vector<std::string>& overrides = {});
Spec parse_spec(const std::string& text, const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace fs
