// `flowsweep validate`, `flowsweep models` and `flowsweep plot`: what a spec and the models are, and the
// pictures of a sweep's tables.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "host/footprint.h"
#include "host/grid.h"
#include "host/sweep.h"
#include "host/util.h"

namespace fs {

namespace {

// Runs argv (looked up on PATH) with `env` and waits for it: its exit status (1 when it did not exit
// normally), or -1 when it could not be started. `quiet` discards its output.
int spawn_wait(std::vector<std::string> argv_s, std::vector<std::string> env, bool quiet) {
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (quiet) {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  pid_t pid;
  const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) throw RuntimeError("waiting for " + argv_s[0] + " failed");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// The folder holding the Python package `flowsweep`, found from where this binary is at run time: a
// package's share/flowsweep/python, or python/ beside a build's binary (a link to the source tree's).
// Empty when neither is there: then the package must be installed where the interpreter finds it.
std::string python_package_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  for (const auto& dir : {exe.parent_path().parent_path() / "share/flowsweep/python", exe.parent_path() / "python"})
    if (std::filesystem::is_regular_file(dir / "flowsweep/plot.py")) return dir.string();
  return "";
}

// This process's environment with `dir` first on PYTHONPATH.
std::vector<std::string> environment_with_python_path(const std::string& dir) {
  std::vector<std::string> env;
  std::string path = dir;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    if (kv.rfind("PYTHONPATH=", 0) == 0) {
      if (kv.size() > 11) path += (path.empty() ? "" : ":") + kv.substr(11);
    } else {
      env.push_back(kv);
    }
  }
  if (!path.empty()) env.push_back("PYTHONPATH=" + path);
  return env;
}

// The Python that draws: FLOWSWEEP_PYTHON when set, else the first of python3 on PATH (a conda or
// virtual environment) and /usr/bin/python3 that can import the plotting module and what it needs.
std::string plot_python(const std::vector<std::string>& env) {
  if (const char* chosen = std::getenv("FLOWSWEEP_PYTHON")) return chosen;
  for (const char* candidate : {"python3", "/usr/bin/python3"})
    if (spawn_wait({candidate, "-c", "import flowsweep.plot"}, env, true) == 0) return candidate;
  throw RuntimeError(
      "flowsweep plot needs a Python 3 with numpy, pandas, xarray, h5netcdf, h5py and matplotlib (pip install "
      "numpy pandas xarray h5netcdf h5py matplotlib, or Debian's python3-xarray python3-h5netcdf python3-h5py "
      "python3-matplotlib); none of python3 on PATH and /usr/bin/python3 could import flowsweep.plot with them. "
      "Set FLOWSWEEP_PYTHON to one that can");
}

}  // namespace

int run_plot(const std::string& dir, const std::vector<std::string>& args) {
  if (!std::filesystem::is_directory(dir)) throw InputError(dir + ": not a directory");
  const std::vector<std::string> env = environment_with_python_path(python_package_dir());
  const std::string python = plot_python(env);
  std::vector<std::string> argv_s = {python, "-m", "flowsweep.plot", dir};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  const int rc = spawn_wait(argv_s, env, false);
  if (rc < 0)
    throw RuntimeError("cannot start " + python + (std::getenv("FLOWSWEEP_PYTHON") ? " (FLOWSWEEP_PYTHON)" : ""));
  return rc;
}

std::string describe_sweep(const Spec& spec) {
  const Grid grid(spec);
  std::ostringstream os;
  os << spec.path << ": model " << spec.model << ", " << grid.size() << " runs, spec hash " << spec.hash() << "\n";
  for (const auto& a : spec.axes) {
    os << "  axis " << a.name << " (" << a.kind << ", " << a.values.size() << "):";
    for (size_t k = 0; k < a.values.size(); ++k) {
      if (a.values.size() > 12 && k == 8) {
        os << " ... " << a.values[a.values.size() - 2].to_string() << " " << a.values.back().to_string();
        break;
      }
      os << " " << a.values[k].to_string();
    }
    os << "\n";
  }
  if (spec.axes.empty()) os << "  no axes: a single run\n";
  const long lo = grid.totals().min_steps, hi = grid.totals().max_steps;
  const double total = grid.totals().steps;
  if (grid.size() > 0)
    os << "  steps per run: " << (lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi))
       << "; " << format_double(total) << " run-steps in all\n";
  if (grid.size() > 0) {
    const Footprint f = output_footprint(grid);
    os << "  outputs: " << describe_footprint(f.written(false, false))
       << ", less where runs stop early; --save-params adds about " << format_bytes(f.params_journal + f.params_h5)
       << ", --csv-trajectories about " << format_bytes(f.csv_trajectories) << "\n";
  }
  return os.str();
}

std::string describe_models() {
  std::ostringstream os;
  auto params = [&](const char* title, const std::vector<ParamDef>& defs) {
    os << "  [" << title << "]\n";
    for (const auto& d : defs) {
      os << "    " << d.name << " = ";
      if (d.kind == ParamDef::kNames) {
        os << "[]  (any of: ";
        for (size_t i = 0; i < d.choices.size(); ++i) os << (i ? ", " : "") << d.choices[i];
        os << ")";
      } else if (d.kind == ParamDef::kChoice) {
        os << "\"" << d.def_choice << "\"  (";
        for (size_t i = 0; i < d.choices.size(); ++i) os << (i ? " | " : "") << d.choices[i];
        os << ")";
      } else {
        os << format_double(d.def) << (d.kind == ParamDef::kInt ? "  (integer)" : "");
      }
      os << "  " << d.doc << "\n";
    }
  };
  os << "Every model also takes:\n";
  params("train", train_params());
  os << "  seed: the run's seed, a grid axis; the top-level `seed` is the sweep's\n\n";
  for (const auto& e : models()) {
    const ModelInfo& mi = e.info;
    os << mi.name << ": " << mi.doc << "\n  " << mi.paper << "\n";
    params("params", mi.params);
    params("detect", mi.detect_params);
    os << "  groups:\n";
    for (const auto& g : mi.groups) os << "    " << g.name << ": " << g.doc << "\n";
    os << "  observables:\n";
    for (const auto& o : mi.observables) os << "    " << o.name << ": " << o.doc << "\n";
    os << "  detectors (t_<name>, step_<name>):\n";
    for (const auto& d : mi.detectors) os << "    " << d.name << ": " << d.doc << "\n";
    os << "  final configuration:\n";
    for (const auto& c : mi.final_columns)
      os << "    " << c.name << ": " << c.doc
         << (c.cell == FinalColumn::kFraction ? " (phase diagram: frac_" + c.name + ")"
             : c.cell == FinalColumn::kNone   ? " (runs.csv only)"
                                              : "")
         << "\n";
    const std::vector<NamedDoc> table = final_table_columns(mi);
    if (!table.empty()) {
      os << "  attention table (final_config.csv, final_table):\n";
      for (const auto& c : table) os << "    " << c.name << ": " << c.doc << "\n";
    }
    os << "\n";
  }
  return os.str();
}

}  // namespace fs
