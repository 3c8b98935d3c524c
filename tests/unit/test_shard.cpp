// Shards: which runs each task of a job array owns. The assignment walks cells, not runs; these tests hold
// it to the plain form it replaces (every run's (cost, index) pair sorted, each run in turn to the
// least-loaded shard), with the seed axis first, inside, last and absent, and costs that repeat across
// cells that are not neighbours.
#include <algorithm>
#include <catch2/catch.hpp>
#include <queue>
#include <set>

#include "host/grid.h"
#include "host/registry.h"
#include "host/shard.h"

namespace {

// The plain form: the shard of every run.
std::vector<long> owners_by_runs(const fs::Grid& grid, long count) {
  std::vector<std::pair<double, long>> cost;
  for (long i = 0; i < grid.size(); ++i) cost.push_back({fs::run_cost(grid.spec().entry->shape(grid.params(i))), i});
  std::sort(cost.begin(), cost.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  using Load = std::pair<double, long>;
  std::priority_queue<Load, std::vector<Load>, std::greater<Load>> load;
  for (long s = 0; s < std::min(count, grid.size()); ++s) load.push({0.0, s});
  std::vector<long> owner(size_t(grid.size()), 0);
  for (const auto& [c, i] : cost) {
    Load l = load.top();
    load.pop();
    owner[size_t(i)] = l.second;
    l.first += c;
    load.push(l);
  }
  return owner;
}

// d and steps change a run's cost, lr does not, so cells of equal cost lie apart in cell order.
const char* const kGrids[] = {
    "seed = { range = [0, 3] }\nd = [4, 8]\nlr = [0.1, 0.2, 0.3]\nsteps = [5, 9]\n",
    "d = [4, 8]\nseed = { range = [0, 4] }\nlr = [0.1, 0.2]\nsteps = [9, 5]\n",
    "lr = [0.1, 0.2]\nd = [8, 4, 6]\nseed = { range = [0, 3] }\n",
    "lr = [0.1, 0.2, 0.3]\nsteps = [5, 9]\nd = [4, 8]\n",
    "seed = { range = [0, 7] }\n",
    // enough cells that a sort that is not stable reorders cells of one cost
    "steps = [5, 9, 6]\nlr = { linspace = [0.1, 0.5, 12] }\nseed = { range = [0, 2] }\nd = [4, 8, 6]\n",
};

fs::Spec spec_of(const std::string& grid) {
  return fs::parse_spec("model = \"value_softmax\"\n[params]\nn = 4\n[grid]\n" + grid, "shards.toml");
}

}  // namespace

TEST_CASE("shards: costs in ratios that level the loads again, over many grid shapes and shard counts", "[shard]") {
  // Costs 4:2:1 (steps 3, 1, 0), so that shards' loads come level again after groups the heap assigned
  for (const char* steps : {"[3, 1, 0]", "[1, 0, 3]", "[0, 1]"})
    for (int lrs = 1; lrs <= 4; ++lrs)
      for (int n_seeds = 1; n_seeds <= 4; ++n_seeds) {
        std::string lr = "[";
        for (int k = 0; k < lrs; ++k) lr += (k ? ", 0." : "0.") + std::to_string(k + 1);
        const auto spec = spec_of(std::string("steps = ") + steps + "\nlr = " + lr + "]\nseed = { range = [0, " +
                                  std::to_string(n_seeds) + "] }\n");
        const fs::Grid g(spec);
        for (long count = 2; count <= 9; ++count) {
          INFO("steps " << steps << ", " << lrs << " rates, " << n_seeds << " seeds, " << count << " shards");
          const std::vector<int32_t> got = fs::shard_of_runs(g, count);
          REQUIRE(std::vector<long>(got.begin(), got.end()) == owners_by_runs(g, count));
        }
      }
}

TEST_CASE("grid: a cell's runs are run_of(cell, k), its seeds' runs in index order", "[shard][grid]") {
  for (const char* text : kGrids) {
    const auto spec = spec_of(text);
    const fs::Grid g(spec);
    INFO(text);
    std::set<long> seen;
    for (long c = 0; c < g.n_cells(); ++c) {
      for (long k = 0; k < g.seeds(); ++k) {
        const long run = g.run_of(c, k);
        CHECK(g.cell(run) == c);
        // its coordinates are the cell's, with the seed axis at its k-th value
        const auto at = g.coords(run), first = g.coords(g.run_of(c, 0));
        for (size_t a = 0; a < spec.axes.size(); ++a)
          CHECK(at[a].num == (spec.axes[a].name == "seed" ? spec.axes[a].values[size_t(k)].num : first[a].num));
        if (k > 0) CHECK(run > g.run_of(c, k - 1));
        seen.insert(run);
      }
    }
    CHECK(long(seen.size()) == g.size());
    CHECK(*seen.rbegin() == g.size() - 1);
  }
}

TEST_CASE("shards: the assignment by cells is the assignment by runs, run for run", "[shard]") {
  for (const char* text : kGrids) {
    const auto spec = spec_of(text);
    const fs::Grid g(spec);
    INFO(text);
    for (long count : {1L, 2L, 3L, 5L, 7L, g.size() - 1, g.size() + 3}) {
      INFO("count " << count);
      const std::vector<long> want = owners_by_runs(g, count);
      const std::vector<int32_t> got = fs::shard_of_runs(g, count);
      CHECK(std::vector<long>(got.begin(), got.end()) == want);
      std::vector<long> all;
      for (long s = 0; s < count; ++s) {
        const std::vector<long> mine = fs::shard_runs(g, fs::Shard{s, count});
        CHECK(std::is_sorted(mine.begin(), mine.end()));
        for (long i : mine) CHECK(want[size_t(i)] == s);
        all.insert(all.end(), mine.begin(), mine.end());
      }
      CHECK(long(all.size()) == g.size());
    }
  }
}
