#include "host/shard.h"

#include <algorithm>
#include <cstdlib>

#include "host/util.h"

namespace fs {

Shard parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  Shard s;
  try {
    if (slash == std::string::npos) throw std::invalid_argument("");
    size_t a = 0, b = 0;
    s.index = std::stol(text.substr(0, slash), &a);
    s.count = std::stol(text.substr(slash + 1), &b);
    if (a != slash || b != text.size() - slash - 1) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw InputError("--shard " + text + ": expected I/N, e.g. 3/16");
  }
  if (s.count < 1 || s.index < 0 || s.index >= s.count)
    throw InputError("--shard " + text + ": need 0 <= I < N");
  return s;
}

std::optional<Shard> shard_from_environment() {
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  if (!task) return std::nullopt;
  const char* shards = std::getenv("FLOWSWEEP_SHARDS");
  const char* count = shards ? shards : std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (!count) return std::nullopt;
  const char* offset = std::getenv("FLOWSWEEP_SHARD_OFFSET");
  return parse_shard(std::to_string(std::atol(task) + (offset ? std::atol(offset) : 0)) + "/" + count);
}

std::vector<long> shard_of_runs(const Spec& spec, const std::vector<RunPoint>& runs, long count) {
  std::vector<std::pair<double, long>> cost;
  for (const auto& r : runs) cost.push_back({spec.entry->cost(r.params), r.index});
  std::sort(cost.begin(), cost.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<double> load(size_t(count), 0.0);
  std::vector<long> owner(runs.size(), 0);
  for (const auto& [c, idx] : cost) {
    const long s = long(std::min_element(load.begin(), load.end()) - load.begin());
    load[size_t(s)] += c;
    owner[size_t(idx)] = s;
  }
  return owner;
}

std::vector<long> shard_runs(const Spec& spec, const std::vector<RunPoint>& runs, const Shard& shard) {
  if (shard.count == 1) {  // the whole grid; no costs to estimate
    std::vector<long> all(runs.size());
    for (size_t i = 0; i < runs.size(); ++i) all[i] = long(i);
    return all;
  }
  const auto owner = shard_of_runs(spec, runs, shard.count);
  std::vector<long> mine;
  for (size_t i = 0; i < runs.size(); ++i)
    if (owner[i] == shard.index) mine.push_back(long(i));
  return mine;
}

}  // namespace fs
