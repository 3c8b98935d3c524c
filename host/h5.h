// trajectories.h5: every run's recorded series, detector times and final configuration in one HDF5 file
// that h5py and xarray (engine h5netcdf) read directly, as a cube over the grid. When the file holds the
// whole grid (a sweep, or a merge of its shards) its leading dimensions are the grid's axes, first axis
// slowest, each a dimension scale holding the axis' values (integers, reals or words), so that
// `ds.sel(m=64, seed=0)` works at once: variables (axes...) for run_id, status, steps, detector times and
// final columns, (axes..., record) for step, t and each observable (NaN past a run's last record), and
// (axes..., final_row, final_field) for the final configuration. A shard holds part of the grid: one
// leading dimension `run` (the run ids), the axes as coordinates over it (attribute `layout`: grid | runs).
// A variable that a grid axis shares a name with is written as `<name>_of_run`; an axis named as one of
// the file's own dimensions (`record`) is the dimension `<key>_axis`. With --save-params a
// group per run holds its initial and final parameters and its training data.
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
