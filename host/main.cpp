// flowsweep: parse the command line into config structs, call the library, map errors to exit codes.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "host/build_info.h"
#include "host/slurm.h"
#include "host/spec.h"
#include "host/sweep.h"
#include "host/util.h"

namespace {

// An option that takes one of `names`, the names of Enum's values in their order, into `out`.
template <typename Enum, size_t N>
CLI::Option* add_named_option(CLI::App* app, const std::string& flag, Enum& out, const char* const (&names)[N],
                              const std::string& doc) {
  return app
      ->add_option_function<std::string>(
          flag,
          [&out, &names](const std::string& t) {
            out = Enum(std::find(std::begin(names), std::end(names), t) - std::begin(names));
          },
          doc)
      ->check(CLI::IsMember(std::vector<std::string>(std::begin(names), std::end(names))));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flowsweep: thousands of small-model gradient flows at once, and their phase diagrams"};
  app.require_subcommand(1);
  const std::string archs = fs::build_info().cuda_architectures;
  app.set_version_flag("--version",
                       std::string(FLOWSWEEP_VERSION) + (archs.empty() ? " (CPU only)" : " (CUDA " + archs + ")"));

  fs::RunOptions run_opt;
  std::string spec_path;
  std::vector<std::string> sets;

  auto* run = app.add_subcommand("run", "train every run of a sweep and write its tables");
  run->add_option("spec", spec_path, "sweep spec (TOML)")->required();
  run->add_option("--out", run_opt.out_dir, "output directory")->capture_default_str();
  run->add_option("--backend", run_opt.backend, "executor: auto uses a GPU when one is present")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  run->add_option("--device", run_opt.cuda.device, "CUDA device index")->check(CLI::NonNegativeNumber);
  add_named_option(run, "--team", run_opt.cuda.team, fs::kCudaTeamNames,
                   "CUDA threads per run: a warp, a block, a thread, or auto (a thread for runs of under 32 "
                   "parameters; else a warp while the runs fill the GPU and fit in shared memory, a block otherwise)");
  add_named_option(run, "--placement", run_opt.cuda.placement, fs::kCudaPlacementNames,
                   "CUDA: where a run's state lives during a slice, the most in shared memory that fits: auto (all "
                   "of it), hot (its data and scratch, and a copy of the parameters its model reads most, with the "
                   "parameters in global memory), work (its data and scratch), global (none of it)");
  run->add_option("--slots", run_opt.cuda.max_slots,
                  "CUDA: runs resident on the GPU at once for each shape (0: twice the warps the GPU holds at "
                  "once); more keeps more threads busy when each run has a thread, and takes more memory")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--threads", run_opt.threads,
                  "CPU threads: the runs' threads on the CPU; with --backend cuda, the threads that draw and "
                  "finish runs; either way, the threads that read records back and format the tables "
                  "(0: one per CPU in this process's affinity mask)")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--set", sets, "override a key: KEY=VALUE, KEY one of section.key or a bare key")->take_all();
  run->add_flag("--quiet", run_opt.quiet, "no progress output");
  run->add_option("--progress-every", run_opt.progress_s,
                  "seconds between progress lines where stderr is not a terminal, as in a batch log or a notebook "
                  "(a terminal has a live line)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  run->add_option("--shard", run_opt.shard, "train only shard I of N (I/N); in a Slurm array, the task's own");
  run->add_flag("--resume", run_opt.resume, "skip runs already complete in --out (automatic after a Slurm requeue)");
  run->add_flag("--force", run_opt.force, "replace the outputs of another sweep in --out");
  run->add_option("--reuse", run_opt.reuse,
                  "take the finished runs of this output directory (or Slurm sweep) whose run ids are in this "
                  "sweep, instead of training them: extend a sweep by seeds or axis values (repeatable)")
      ->allow_extra_args(false);
  run->add_flag("--retry-failed", run_opt.retry_failed,
                "with --resume or --reuse, train again the runs recorded as failed");
  run->add_flag("--csv-trajectories", run_opt.csv_trajectories,
                "also write every record in long form to trajectories.csv (tens of GB at 10^6 runs)");
  run->add_option("--checkpoint-every", run_opt.checkpoint_s,
                  "seconds between checkpoints of the runs in flight (0: only when stopped)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  run->add_option("--slice", run_opt.slice_s, "seconds the executor runs between two visits of the host")
      ->check(CLI::Range(0.001, 60.0))
      ->capture_default_str();
  run->add_flag("--save-params", run_opt.save_params,
                "keep every run's initial and final parameters and its training data in trajectories.h5");

  auto* validate = app.add_subcommand("validate", "check a spec and print its grid");
  validate->add_option("spec", spec_path, "sweep spec (TOML)")->required();
  validate->add_option("--set", sets, "override a key: KEY=VALUE")->take_all();

  app.add_subcommand("models", "list the models with their keys, groups, observables and detectors");

  std::vector<std::string> merge_dirs;
  std::string merge_out;
  bool merge_quiet = false;
  auto* merge = app.add_subcommand("merge", "merge shard outputs into one sweep's tables");
  merge->add_option("dirs", merge_dirs, "shard output directories")->required();
  merge->add_option("--out", merge_out, "merged output directory")->required();
  merge->add_flag("--quiet", merge_quiet, "say nothing unless runs are missing, failed or corrupt");
  bool merge_csv = false;
  merge->add_flag("--csv-trajectories", merge_csv, "also write every record in long form to trajectories.csv");

  std::string status_dir;
  auto* status = app.add_subcommand("status", "done, running and missing runs of an output directory");
  status->add_option("dir", status_dir, "an output directory")->required();

  fs::SlurmOptions slurm_opt;
  auto* slurm = app.add_subcommand("slurm", "write (and with --submit, submit) the Slurm job arrays and merge job");
  slurm->add_option("spec", slurm_opt.spec_path, "sweep spec (TOML)")->required();
  slurm->add_option("--tasks", slurm_opt.tasks, "array tasks = shards")->required()->check(CLI::PositiveNumber);
  slurm->add_option("--parallel", slurm_opt.parallel, "at most K tasks at once")->check(CLI::NonNegativeNumber);
  slurm->add_option("--partition", slurm_opt.partition, "Slurm partition");
  slurm
      ->add_option("--backend", slurm_opt.backend,
                   "auto: each task asks for a GPU and runs on it when this build has CUDA, else runs on its CPUs")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  slurm->add_option("--gpus-per-task", slurm_opt.gpus_per_task, "GPUs per task (default: 1 when the tasks use CUDA)")
      ->check(CLI::NonNegativeNumber);
  slurm->add_option("--gres", slurm_opt.gres, "ask for GPUs with --gres (e.g. gpu:a100:1) instead of --gpus-per-task");
  slurm->add_option("--cpus-per-task", slurm_opt.cpus_per_task, "CPUs per task")->check(CLI::NonNegativeNumber);
  slurm->add_option("--time", slurm_opt.time, "time limit per task (Slurm syntax)");
  slurm->add_option("--account", slurm_opt.account, "Slurm account");
  slurm->add_option("--extra", slurm_opt.extra, "more #SBATCH lines, for the arrays and the merge job (repeatable)")
      ->take_all()
      ->allow_extra_args(false);
  slurm->add_option("--out", slurm_opt.out_dir, "output directory: shard-I/, merged/, slurm/")->capture_default_str();
  slurm->add_option("--set", slurm_opt.sets, "override a key: KEY=VALUE")->take_all();
  slurm->add_option("--max-array-size", slurm_opt.max_array_size,
                    "split arrays above this many tasks (default: scontrol's MaxArraySize)");
  slurm->add_flag("--submit", slurm_opt.submit, "submit with sbatch and print the job ids");
  slurm
      ->add_option("--reuse", slurm_opt.reuse,
                   "every task takes the finished runs of this earlier sweep's directory whose run ids it has "
                   "(repeatable)")
      ->allow_extra_args(false);
  slurm->add_flag("--retry-failed", slurm_opt.retry_failed,
                  "submit the shards with failed runs again too, and train those runs again");

  std::string plot_dir;
  auto* plot = app.add_subcommand("plot", "draw phase-diagram heatmaps, trajectories, curves and final configurations");
  plot->add_option("dir", plot_dir, "a sweep's output directory")->required();
  plot->allow_extras();
  plot->footer(
      "Further options go to the Python module flowsweep.plot (python -m flowsweep.plot --help):\n"
      "  --heatmap NAME [--x AXIS] [--y AXIS] [--facet AXIS] [--value median|frac] [--threshold T]\n"
      "  --trajectory OBSERVABLE [--color AXIS] [--log-time | --linear-time]\n"
      "  --curve QUANTITY --x AXIS [--color AXIS]   a per-run quantity against an axis, over seeds\n"
      "  --final-config [--at DETECTOR]   attention over tokens, one row per class; at a detector's answer\n"
      "  [--where KEY=VALUE,... | --runs ID,ID,... | --first N] [--out PNG]\n"
      "Without them: a heatmap per detector and the loss of every cell, into DIR/plots/.");

  try {
    app.parse(argc, argv);
    for (int i = 0; i < argc; ++i) run_opt.command_line += (i ? " " : "") + fs::shell_quote(argv[i], false);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  try {
    if (run->parsed()) {
      const fs::Spec spec = fs::load_spec(spec_path, sets);
      const auto res = fs::run_sweep(spec, run_opt);
      if (!res.write_error.empty()) {
        std::fprintf(stderr,
                     "error: %s\nstopped: %ld of %ld runs done and journalled%s; free space and resume with --resume\n",
                     res.write_error.c_str(), res.n_runs - res.n_unfinished, res.n_runs,
                     res.tables_written ? ", tables of them written" : ", tables not written");
        return 1;
      }
      if (res.signal) {
        std::fprintf(stderr,
                     "interrupted by signal %d: %ld of %ld runs done, %ld in flight saved, tables written; "
                     "resume with --resume\n",
                     res.signal, res.n_runs - res.n_unfinished, res.n_runs, res.n_saved);
        return 1;
      }
      if (!run_opt.quiet)
        std::fprintf(
            stderr, "%ld runs (%ld ok, %ld diverged, %ld failed%s) in %.2f s; tables in %s/\n", res.n_runs, res.n_ok,
            res.n_diverged, res.n_failed,
            res.resumed > 0 ? (", " + std::to_string(res.resumed) + " of them done before and resumed").c_str() : "",
            res.wall_s, res.out_dir.c_str());
      return res.n_failed > 0 ? 1 : 0;
    }
    if (plot->parsed()) return fs::run_plot(plot_dir, plot->remaining());
    if (merge->parsed()) {
      const auto res = fs::merge_shards(merge_dirs, merge_out, merge_quiet, merge_csv);
      const bool whole = res.missing.empty() && res.corrupt.empty();
      if (!merge_quiet || !whole)
        std::fprintf(stderr, "%ld runs merged into %s/: %zu missing, %zu failed, %zu corrupt files\n", res.n_runs,
                     merge_out.c_str(), res.missing.size(), res.failed.size(), res.corrupt.size());
      return whole && res.failed.empty() ? 0 : 1;
    }
    if (slurm->parsed()) {
      const auto scripts = fs::write_slurm_scripts(slurm_opt, argv[0]);
      if (!slurm_opt.submit) {
        std::cout << scripts.text;
        return 0;
      }
      const auto ids = fs::submit_slurm(scripts);
      for (size_t i = 0; i + 1 < ids.size(); ++i) std::cout << "array " << ids[i] << "\n";
      std::cout << "merge " << ids.back() << "\n";
      return 0;
    }
    if (status->parsed()) {
      std::cout << fs::sweep_status(status_dir);
      return 0;
    }
    if (validate->parsed()) {
      std::cout << fs::describe_sweep(fs::load_spec(spec_path, sets));
      return 0;
    }
    std::cout << fs::describe_models();
    return 0;
  } catch (const fs::InputError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
