// The grid: the cartesian product of a spec's axes, first axis slowest. Each point is a run with a
// stable id derived from the model, the sweep seed and every resolved parameter.
#pragma once

#include <string>
#include <vector>

#include "host/spec.h"

namespace fs {

struct RunPoint {
  long index = 0;     // position in the grid
  std::string id;     // stable across specs, shards and machines
  Params params;      // every key resolved
  std::vector<Value> coords;  // one per axis
};

long grid_size(const Spec& spec);

// Expands and checks every point (parameters that do not fit together are InputErrors naming the key).
std::vector<RunPoint> expand_grid(const Spec& spec);

// Every run of the grid as an executor's input.
std::vector<RunInput> grid_inputs(const Spec& spec);

std::string run_id(const std::string& model, uint32_t sweep_seed, const Params& p);

}  // namespace fs
