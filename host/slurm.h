// `flowsweep slurm`: one sweep as Slurm job arrays (split where the array would pass MaxArraySize) whose
// tasks each run one shard, requeue on preemption and resume, and a merge job that depends on them all.
#pragma once

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
  int gpus_per_task = 0;
  int cpus_per_task = 0;
  long max_array_size = 0;  // 0: ask scontrol, else 1001
  int signal_seconds = 120;
  bool submit = false;
};

struct SlurmScripts {
  std::vector<std::string> arrays;  // paths of the array scripts
  std::string merge;                // path of the merge script
  std::string text;                 // all of them, for printing
};

// Writes the scripts under <out>/slurm/; InputError on bad options.
SlurmScripts write_slurm_scripts(const SlurmOptions& opt, const std::string& self);

// Submits the arrays and the dependent merge job with sbatch; returns the job ids, the merge job's last.
std::vector<std::string> submit_slurm(const SlurmScripts& s);

}  // namespace fs
