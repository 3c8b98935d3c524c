// `flowsweep slurm`: one sweep as Slurm job arrays (split where the array would pass MaxArraySize) whose
// tasks each run one shard, requeue on preemption and resume, and a merge job that depends on them all.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace fs {

struct SlurmOptions {
  std::string spec_path;
  std::vector<std::string> sets;
  std::string out_dir = "out";
  long tasks = 1;
  long parallel = 0;  // at most K tasks at once (%K)
  std::string partition, time, account;
  std::vector<std::string> extra;  // more #SBATCH lines, for the arrays and the merge job
  std::string backend = "auto";    // auto: a GPU per task when this build runs on CUDA; cpu; cuda
  int gpus_per_task = -1;          // -1: from the backend (1 where it uses a GPU, else 0)
  std::string gres;                // --gres instead of --gpus-per-task, e.g. gpu:a100:1
  int cpus_per_task = 0;
  long max_array_size = 0;  // 0: ask scontrol, else 1001
  int signal_seconds = 120;
  std::vector<std::string> reuse;  // passed to every task's run (absolute): extend an earlier sweep
  bool retry_failed = false;       // shards with failed runs are submitted again, and those runs retrained
  bool submit = false;
};

struct SlurmScripts {
  std::string dir;                  // <out>/slurm
  std::vector<std::string> arrays;  // paths of the array scripts
  std::vector<long> offsets;        // the shard of each array's task 0
  std::vector<std::string> tasks;   // each array's task indices, as given to --array (0-3,5)
  std::string merge;                // path of the merge script
  std::string text;                 // all of them, for printing
};

// Writes the scripts under <out>/slurm/; InputError on bad options.
SlurmScripts write_slurm_scripts(const SlurmOptions& opt, const std::string& self);

// Submits the arrays and the dependent merge job with sbatch; returns the job ids, the merge job's last.
// Each submission is added to <out>/slurm/jobs.json, so that `status` can name every shard's task.
std::vector<std::string> submit_slurm(const SlurmScripts& s);

// The array task that last ran (or will run) each shard of the Slurm sweep in out_dir, from jobs.json,
// with its state in squeue where squeue knows it (PENDING, RUNNING, ...; empty when it has left the queue).
struct SlurmTask {
  std::string id;     // JOB_TASK
  std::string state;  // from squeue, empty when not queued or squeue is not there
};
std::map<long, SlurmTask> slurm_tasks(const std::string& out_dir);

}  // namespace fs
