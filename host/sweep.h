// A whole sweep: expand the grid, train every run, write the tables and the manifest.
#pragma once

#include <string>
#include <vector>

#include "host/executor_cuda.h"
#include "host/spec.h"

namespace fs {

struct RunOptions {
  std::string out_dir = "out";
  std::string backend = "auto";  // auto | cpu | cuda
  CudaOptions cuda;
  int threads = 0;  // 0: every hardware thread
  bool quiet = false;
  bool save_params = false;  // initial and final parameters and training data in trajectories.h5
};

struct SweepOutcome {
  long n_runs = 0, n_ok = 0, n_diverged = 0, n_failed = 0;
  double wall_s = 0;
  std::string backend;  // the one that ran
  std::string out_dir;
};

SweepOutcome run_sweep(const Spec& spec, const RunOptions& opt);

// `flowsweep validate`: the grid's size and axes as text.
std::string describe_sweep(const Spec& spec);
// `flowsweep models`: every model, its keys, groups, observables and detectors.
std::string describe_models();

// `flowsweep plot DIR [ARGS]`: runs sweeps/plot.py on DIR; returns its exit status.
int run_plot(const std::string& dir, const std::vector<std::string>& args);

}  // namespace fs
