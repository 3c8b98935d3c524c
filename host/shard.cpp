#include "host/shard.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <numeric>

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

namespace {

// The runs in the assignment's order, each given to the least-loaded shard: take(run, shard). They go by
// decreasing cost, ties by index, which is walked cell by cell rather than sorted run by run: a run costs
// its cell's (its seed changes none of its shape), and runs of cells of one cost lie in index order by
// (block, seed, cell) (Grid::run_of). The memory is the cells' and the shards': a sort of (cost, run)
// pairs would hold 1.6 GB at a sweep's largest size.
template <typename Take>
void assign_runs(const Grid& grid, long count, const Take& take) {
  const long cells = grid.n_cells();
  std::vector<double> cost(static_cast<size_t>(cells));
  for (long c = 0; c < cells; ++c)
    cost[size_t(c)] = run_cost(grid.spec().entry->shape(grid.params(grid.first_of_cell(c))));
  std::vector<long> order(static_cast<size_t>(cells));
  std::iota(order.begin(), order.end(), 0L);
  std::stable_sort(order.begin(), order.end(), [&](long a, long b) { return cost[size_t(a)] > cost[size_t(b)]; });
  // The least-loaded shard, ties to the lowest index: the top of a min-heap of (load, shard). Shards beyond
  // the number of runs would stay empty, so only the first grid.size() of them enter it.
  using Load = std::pair<double, long>;
  const auto later = std::greater<Load>();
  std::vector<Load> heap;
  for (long s = 0; s < std::min(count, grid.size()); ++s) heap.push_back({0.0, s});
  const long seeds = grid.seeds(), stride = grid.seed_stride();
  for (size_t g = 0; g < order.size();) {  // cells of one cost, ascending
    const double c = cost[size_t(order[g])];
    size_t g_end = g;
    while (g_end < order.size() && cost[size_t(order[g_end])] == c) ++g_end;
    // Where every shard has the same load (always at the start), each round of the group's runs goes to
    // shard 0, 1, ... in turn, every load growing by the same additions: the heap's choices without it.
    // A sweep whose runs all cost the same (any grid over rates and seeds) is one such group.
    const bool level = std::all_of(heap.begin(), heap.end(), [&](const Load& l) { return l.first == heap[0].first; });
    if (level) std::sort(heap.begin(), heap.end());  // by shard, as the loads are equal
    long given = 0;
    for (size_t b = g; b < g_end;) {  // those of one block
      size_t b_end = b;
      while (b_end < g_end && order[b_end] / stride == order[b] / stride) ++b_end;
      for (long k = 0; k < seeds; ++k)
        for (auto cell = order.begin() + long(b); cell != order.begin() + long(b_end); ++cell) {
          const long run = grid.run_of(*cell, k);
          if (level) {
            take(run, heap[size_t(given++ % long(heap.size()))].second);
            continue;
          }
          std::pop_heap(heap.begin(), heap.end(), later);
          take(run, heap.back().second);
          heap.back().first += c;
          std::push_heap(heap.begin(), heap.end(), later);
        }
      b = b_end;
    }
    if (level) {
      const long K = long(heap.size());
      for (auto& l : heap)  // shard l.second took every K-th run from the l.second-th
        for (long n = given / K + (l.second < given % K ? 1 : 0); n > 0; --n) l.first += c;
      std::make_heap(heap.begin(), heap.end(), later);
    }
    g = g_end;
  }
}

}  // namespace

std::vector<int32_t> shard_of_runs(const Grid& grid, long count) {
  std::vector<int32_t> owner(size_t(grid.size()), 0);
  if (count > 1) assign_runs(grid, count, [&](long run, long shard) { owner[size_t(run)] = int32_t(shard); });
  return owner;
}

std::vector<long> shard_runs(const Grid& grid, const Shard& shard) {
  std::vector<long> mine;
  if (shard.count == 1) {  // the whole grid; no costs to estimate
    mine.resize(size_t(grid.size()));
    std::iota(mine.begin(), mine.end(), 0L);
    return mine;
  }
  assign_runs(grid, shard.count, [&](long run, long s) {
    if (s == shard.index) mine.push_back(run);
  });
  std::sort(mine.begin(), mine.end());
  return mine;
}

}  // namespace fs
