// The commands on a sweep: run (host/run.cpp), merge (host/merge.cpp), status (host/status.cpp),
// validate, models and plot (host/describe.cpp).
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
  int threads = 0;  // 0: one per CPU of the affinity mask
  bool quiet = false;
  bool save_params = false;        // initial and final parameters and training data in trajectories.h5
  std::string shard;               // "I/N"; empty: all runs, or the Slurm array task's shard
  bool resume = false;             // skip runs already complete in out_dir, go on with the ones checkpointed
  bool force = false;              // replace the outputs of another sweep in out_dir
  std::vector<std::string> reuse;  // output directories (or Slurm sweeps) whose finished runs of the same id are taken
  bool retry_failed = false;       // runs recorded as failed (by a resume or --reuse) run again
  bool csv_trajectories = false;   // trajectories.csv besides trajectories.h5
  double slice_s = 1.0;            // wall time of one slice: how long the host leaves the executor alone
  double checkpoint_s = 60;        // seconds between checkpoints of the runs in flight (0: only on a stop)
  double progress_s = 30;          // seconds between progress lines where stderr is not a terminal
  std::string command_line;        // as given, for the manifest's provenance
};

struct SweepOutcome {
  long n_runs = 0, n_ok = 0, n_diverged = 0, n_failed = 0;
  double wall_s = 0;
  std::string backend;  // the one that ran
  std::string out_dir;
  long resumed = 0;         // runs taken from an earlier, interrupted attempt
  long n_unfinished = 0;    // runs left for a resume (interrupted)
  int signal = 0;           // the signal that interrupted the sweep, if any
  long n_saved = 0;         // runs in flight saved in the checkpoint when it was interrupted
  std::string write_error;  // a write that failed (disk full, ...): the sweep stopped at it
  bool tables_written = true;
};

struct MergeOutcome {
  long n_runs = 0;
  std::vector<std::string> missing, failed, corrupt;
};

SweepOutcome run_sweep(const Spec& spec, const RunOptions& opt);

// `flowsweep merge DIR... --out DIR`: the shards' runs, deduplicated by id, as one sweep's tables.
MergeOutcome merge_shards(const std::vector<std::string>& dirs, const std::string& out_dir, bool quiet,
                          bool csv_trajectories = false);

// `flowsweep status DIR`: done, running and missing runs of an output directory.
std::string sweep_status(const std::string& dir);

// `flowsweep validate`: the grid's size and axes as text.
std::string describe_sweep(const Spec& spec);
// `flowsweep models`: every model, its keys, groups, observables and detectors.
std::string describe_models();

// `flowsweep plot DIR [ARGS]`: runs `python -m flowsweep.plot DIR ARGS` with the package found beside the
// binary; returns its exit status.
int run_plot(const std::string& dir, const std::vector<std::string>& args);

}  // namespace fs
