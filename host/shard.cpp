#include "host/shard.h"

#include <algorithm>
#include <cstdlib>
#include <queue>

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
    throw InputError("--shard " + quote_cut(text) + ": expected I/N, e.g. 3/16");
  }
  if (s.count < 1 || s.index < 0 || s.index >= s.count) throw InputError("--shard " + text + ": need 0 <= I < N");
  if (s.count > kMaxGridRuns)
    throw InputError("--shard " + text + ": N is more than the " + std::to_string(kMaxGridRuns) +
                     " runs a sweep can hold");
  return s;
}

std::optional<Shard> shard_from_environment() {
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  if (!task) return std::nullopt;
  const char* shards = std::getenv("FLOWSWEEP_SHARDS");
  const char* count = shards ? shards : std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (!count) return std::nullopt;
  const char* offset = std::getenv("FLOWSWEEP_SHARD_OFFSET");
  try {
    return parse_shard(std::to_string(std::atol(task) + (offset ? std::atol(offset) : 0)) + "/" + count);
  } catch (const InputError& e) {
    throw InputError(std::string("the Slurm environment (SLURM_ARRAY_TASK_ID=") + task +
                     (offset ? std::string(", FLOWSWEEP_SHARD_OFFSET=") + offset : std::string()) + ", " +
                     (shards ? "FLOWSWEEP_SHARDS=" : "SLURM_ARRAY_TASK_COUNT=") + quote_cut(count, 40) +
                     ") names no shard: " + e.what());
  }
}

std::vector<long> shard_of_runs(const Grid& grid, long count) {
  // A run's seed changes none of its cost: one a cell.
  std::vector<double> cell_cost(size_t(grid.n_cells()));
  for (long c = 0; c < grid.n_cells(); ++c)
    cell_cost[size_t(c)] = run_cost(grid.spec().entry->shape(grid.params(grid.first_of_cell(c))));
  std::vector<std::pair<double, long>> cost(size_t(grid.size()));
  for (long i = 0; i < grid.size(); ++i) cost[size_t(i)] = {cell_cost[size_t(grid.cell(i))], i};
  std::sort(cost.begin(), cost.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  // The least-loaded shard, ties to the lowest index. Shards beyond the number of runs would stay empty,
  // so only the first grid.size() of them enter the queue.
  using Load = std::pair<double, long>;
  std::priority_queue<Load, std::vector<Load>, std::greater<Load>> load;
  for (long s = 0; s < std::min(count, grid.size()); ++s) load.push({0.0, s});
  std::vector<long> owner(size_t(grid.size()), 0);
  for (const auto& [c, idx] : cost) {
    Load l = load.top();
    load.pop();
    owner[size_t(idx)] = l.second;
    l.first += c;
    load.push(l);
  }
  return owner;
}

std::vector<long> shard_runs(const Grid& grid, const Shard& shard) {
  if (shard.count == 1) {  // the whole grid; no costs to estimate
    std::vector<long> all(size_t(grid.size()));
    for (long i = 0; i < grid.size(); ++i) all[size_t(i)] = i;
    return all;
  }
  const auto owner = shard_of_runs(grid, shard.count);
  std::vector<long> mine;
  for (long i = 0; i < grid.size(); ++i)
    if (owner[size_t(i)] == shard.index) mine.push_back(i);
  return mine;
}

}  // namespace fs
