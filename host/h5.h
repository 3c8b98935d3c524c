// trajectories.h5: every run's recorded series, detector times and final configuration in one HDF5 file
// that h5py and xarray (engine h5netcdf) read directly: dimension scales `run` (the run ids) and `record`,
// variables (run, record) for step, t and each observable (NaN past a run's last record), variables (run)
// for the axes, status, detector times and final columns, and with --save-params a group per run with its
// initial and final parameters and its training data.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "host/grid.h"
#include "host/registry.h"
#include "host/spec.h"

namespace fs {

// trajectories.h5 built a block of runs at a time, in table order: memory holds one block, never the
// sweep. Written under a temporary name; commit() renames it into place, and a writer destroyed before
// its commit leaves nothing behind.
class TrajectoriesH5 {
 public:
  // `n_records` and `n_final_rows`: the most records and final-configuration rows of any run.
  TrajectoriesH5(const std::string& path, const Spec& spec, long n_runs, long n_records, long n_final_rows,
                 bool save_params);
  ~TrajectoriesH5();
  void add(const RunPoint& p, const RunResult& r);
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fs
