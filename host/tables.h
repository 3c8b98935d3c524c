// The tables a sweep hands back: one row per run, one row per cell of the phase diagram, and the
// recorded series in long form. Plain CSV with a header row, numbers written shortest-exact.
#pragma once

#include <string>
#include <vector>

#include "host/grid.h"
#include "host/registry.h"
#include "host/spec.h"

namespace fs {

std::string runs_csv(const Spec& spec, const std::vector<RunPoint>& runs, const std::vector<RunResult>& results);
std::string phase_diagram_csv(const Spec& spec, const std::vector<RunPoint>& runs,
                              const std::vector<RunResult>& results);
std::string trajectories_csv(const Spec& spec, const std::vector<RunPoint>& runs,
                             const std::vector<RunResult>& results);

// The model's variable-size final configuration, long form; empty when the model has none.
std::string final_config_csv(const Spec& spec, const std::vector<RunPoint>& runs,
                             const std::vector<RunResult>& results);

// Quantile with linear interpolation between order statistics (numpy's and pandas' default).
double quantile(std::vector<double> xs, double q);

}  // namespace fs
