// Shards: a deterministic partition of a sweep's runs into N parts balanced by estimated cost, so that
// task I of a job array always owns the same runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "host/grid.h"

namespace fs {

struct Shard {
  long index = 0, count = 1;
};

// "I/N" with 0 <= I < N; InputError otherwise.
Shard parse_shard(const std::string& text);

// Inside a Slurm array task: I = FLOWSWEEP_SHARD_OFFSET + SLURM_ARRAY_TASK_ID (the offset is set when an
// array larger than MaxArraySize is split into several), N = FLOWSWEEP_SHARDS or SLURM_ARRAY_TASK_COUNT.
std::optional<Shard> shard_from_environment();

// Grid indices owned by `shard`, ascending. Greedy longest-processing-time assignment: runs by decreasing
// cost (ties by index) each to the least-loaded shard (ties by shard index).
// A run's cost is its cell's (a model's cost does not depend on the seed).
std::vector<long> shard_runs(const Grid& grid, const Shard& shard);
std::vector<int32_t> shard_of_runs(const Grid& grid, long count);  // the shard of every run (all 0 for one)

}  // namespace fs
