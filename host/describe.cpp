// `flowsweep validate`, `flowsweep models` and `flowsweep plot`: what a spec and the models are, and the
// pictures of a sweep's tables.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "host/grid.h"
#include "host/sweep.h"
#include "host/util.h"

namespace fs {

namespace {

// Runs argv (looked up on PATH) with this environment and waits for it: its exit status (1 when it did not
// exit normally), or -1 when it could not be started. `quiet` discards its output.
int spawn_wait(std::vector<std::string> argv_s, bool quiet) {
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (quiet) {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  pid_t pid;
  const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) throw RuntimeError("waiting for " + argv_s[0] + " failed");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// The Python that draws: FLOWSWEEP_PYTHON when set, else the first of python3 on PATH (a conda or
// virtual environment) and /usr/bin/python3 that can import what plot.py needs.
std::string plot_python() {
  if (const char* env = std::getenv("FLOWSWEEP_PYTHON")) return env;
  const char* probe = "import h5py, matplotlib, numpy, pandas";
  for (const char* candidate : {"python3", "/usr/bin/python3"})
    if (spawn_wait({candidate, "-c", probe}, true) == 0) return candidate;
  throw RuntimeError(
      "flowsweep plot needs a Python 3 with h5py, matplotlib, numpy and pandas (pip install h5py matplotlib "
      "numpy pandas); none of python3 on PATH and /usr/bin/python3 has them. Set FLOWSWEEP_PYTHON to one that does");
}

}  // namespace

int run_plot(const std::string& dir, const std::vector<std::string>& args) {
  if (!std::filesystem::is_directory(dir)) throw InputError(dir + ": not a directory");
  // FLOWSWEEP_PLOT_SCRIPT, else the installed copy beside the binary (share/flowsweep/sweeps/plot.py in a
  // package), else the source tree it was built from.
  std::string script;
  if (const char* env_script = std::getenv("FLOWSWEEP_PLOT_SCRIPT")) {
    script = env_script;
  } else {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    const auto installed = exe.parent_path().parent_path() / "share/flowsweep/sweeps/plot.py";
    script = !ec && std::filesystem::is_regular_file(installed) ? installed.string()
                                                                : std::string(FLOWSWEEP_SOURCE_DIR) + "/sweeps/plot.py";
  }
  if (!std::filesystem::is_regular_file(script)) throw RuntimeError("plot script not found: " + script);
  const std::string python = plot_python();
  std::vector<std::string> argv_s = {python, script, dir};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  const int rc = spawn_wait(argv_s, false);
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
  const long lo = grid.min_steps(), hi = grid.max_steps();
  const double total = grid.total_steps();
  if (grid.size() > 0)
    os << "  steps per run: " << (lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi))
       << "; " << format_double(total) << " run-steps in all\n";
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
    for (const auto& c : mi.final_columns) os << "    " << c.name << ": " << c.doc << "\n";
    os << "\n";
  }
  return os.str();
}

}  // namespace fs
