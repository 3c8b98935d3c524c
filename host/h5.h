// trajectories.h5: every run's recorded series, detector times and final configuration in one HDF5 file
// that h5py and xarray (engine h5netcdf) read directly: dimension scales `run` (the run ids) and `record`,
// variables (run, record) for step, t and each observable (NaN past a run's last record), variables (run)
// for the axes, status, detector times and final columns, and with --save-params a group per run with its
// initial and final parameters and its training data.
#pragma once

#include <string>
#include <vector>

#include "host/grid.h"
#include "host/registry.h"
#include "host/spec.h"

namespace fs {

// Writes `path` whole (through a temporary name); throws RuntimeError naming the file on failure.
void write_trajectories_h5(const std::string& path, const Spec& spec, const std::vector<RunPoint>& runs,
                           const std::vector<RunResult>& results, bool save_params);

}  // namespace fs
