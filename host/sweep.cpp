#include "host/sweep.h"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "host/executor_cpu.h"
#include "host/grid.h"
#include "host/h5.h"
#include "host/tables.h"
#include "host/util.h"

namespace fs {

namespace {

// Progress on stderr: a live line on a terminal, a plain line every 30 s in a batch log.
class Progress {
 public:
  Progress(long total, bool quiet) : total_(total), quiet_(quiet), tty_(::isatty(2)), start_(clock::now()) {}

  void update(long done, double run_steps) {
    if (quiet_) return;
    const auto now = clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (done < total_ && since < (tty_ ? 0.2 : 30.0)) return;
    last_ = now;
    const double el = std::chrono::duration<double>(now - start_).count();
    const double left = done > 0 ? el * double(total_ - done) / double(done) : 0;
    char buf[160];
    std::snprintf(buf, sizeof buf, "runs %ld/%ld  %.3g run-steps/s  elapsed %.0fs  left %.0fs", done, total_,
                  el > 0 ? run_steps / el : 0.0, el, left);
    if (tty_)
      std::fprintf(stderr, "\r%s\033[K%s", buf, done == total_ ? "\n" : "");
    else
      std::fprintf(stderr, "%s\n", buf);
    std::fflush(stderr);
  }

 private:
  using clock = std::chrono::steady_clock;
  long total_;
  bool quiet_, tty_;
  clock::time_point start_, last_{};
};

void make_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir)) throw RuntimeError("cannot create output directory " + dir);
  const std::string probe = dir + "/.flowsweep-write-test." + std::to_string(::getpid());
  FILE* f = std::fopen(probe.c_str(), "w");
  if (!f) throw RuntimeError("output directory " + dir + " is not writable");
  std::fclose(f);
  std::remove(probe.c_str());
}

}  // namespace

SweepOutcome run_sweep(const Spec& spec, const RunOptions& opt) {
  if (opt.backend != "auto" && opt.backend != "cpu" && opt.backend != "cuda")
    throw InputError("--backend " + opt.backend + ": expected auto, cpu or cuda");
  const auto runs = expand_grid(spec);  // every input error before anything is written

  std::string backend = opt.backend;
  CudaDeviceInfo dev;
  if (backend != "cpu") {
    dev = cuda_probe(opt.cuda.device);
    if (backend == "cuda" && !dev.available) throw RuntimeError("--backend cuda: " + dev.reason);
    backend = dev.available ? "cuda" : "cpu";
    if (opt.backend == "auto" && !opt.quiet)
      std::fprintf(stderr, "backend: %s (%s)\n", backend.c_str(),
                   dev.available ? dev.name.c_str() : dev.reason.c_str());
  }
  make_dir(opt.out_dir);

  std::vector<RunInput> inputs;
  for (const auto& r : runs) inputs.push_back(RunInput{r.params, spec.sweep_seed, opt.save_params});
  int threads = opt.threads > 0 ? opt.threads : int(std::max(1u, std::thread::hardware_concurrency()));

  Progress progress(long(runs.size()), opt.quiet);
  long done = 0;
  double run_steps = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto on_done = [&](long, const RunResult& r) {
    ++done;
    run_steps += double(r.steps);
    progress.update(done, run_steps);
  };
  auto results = backend == "cuda" ? execute_cuda(*spec.entry, inputs, opt.cuda, on_done)
                                   : execute_cpu(*spec.entry, inputs, threads, on_done);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  SweepOutcome out;
  out.n_runs = long(runs.size());
  out.wall_s = wall;
  out.out_dir = opt.out_dir;
  out.backend = backend;
  for (const auto& r : results) {
    out.n_ok += r.status == RunResult::kOk;
    out.n_diverged += r.status == RunResult::kDiverged;
    out.n_failed += r.status == RunResult::kFailed;
  }

  const std::string dir = opt.out_dir + "/";
  write_file_atomic(dir + "runs.csv", runs_csv(spec, runs, results));
  write_file_atomic(dir + "phase_diagram.csv", phase_diagram_csv(spec, runs, results));
  write_file_atomic(dir + "trajectories.csv", trajectories_csv(spec, runs, results));
  write_trajectories_h5(dir + "trajectories.h5", spec, runs, results, opt.save_params);
  std::vector<std::string> files = {"runs.csv", "phase_diagram.csv", "trajectories.csv", "trajectories.h5"};
  if (!spec.entry->info.final_table.empty()) {
    write_file_atomic(dir + "final_config.csv", final_config_csv(spec, runs, results));
    files.push_back("final_config.csv");
  }

  nlohmann::json m;
  m["flowsweep_version"] = FLOWSWEEP_VERSION;
  m["created"] = utc_now_iso();
  m["spec"] = {{"path", spec.path},     {"name", spec.name},         {"model", spec.model},
               {"hash", spec.hash()},   {"seed", spec.sweep_seed},   {"overrides", spec.overrides},
               {"text", spec.text},     {"canonical", spec.canonical()}};
  nlohmann::json axes = nlohmann::json::array();
  for (const auto& a : spec.axes) {
    nlohmann::json vals = nlohmann::json::array();
    for (const auto& v : a.values) vals.push_back(v.is_str ? nlohmann::json(v.str) : nlohmann::json(v.num));
    axes.push_back({{"name", a.name}, {"section", a.section}, {"kind", a.kind}, {"values", vals}});
  }
  m["axes"] = axes;
  m["backend"] = backend;
  if (backend == "cuda") {
    m["device"] = dev.name;
    m["device_detail"] = {{"sm_count", dev.sm_count},
                          {"compute_capability", std::to_string(dev.cc_major) + "." + std::to_string(dev.cc_minor)},
                          {"global_mem_bytes", dev.global_mem}};
  } else {
    m["device"] = cpu_name();
    m["threads"] = threads;
  }
  m["counts"] = {{"runs", out.n_runs}, {"ok", out.n_ok}, {"diverged", out.n_diverged}, {"failed", out.n_failed}};
  m["timings"] = {{"wall_s", wall}, {"run_steps", run_steps}, {"run_steps_per_s", wall > 0 ? run_steps / wall : 0.0}};
  nlohmann::json failures = nlohmann::json::array();
  for (size_t i = 0; i < results.size(); ++i)
    if (results[i].status == RunResult::kFailed)
      failures.push_back({{"run_id", runs[i].id}, {"message", results[i].message}});
  m["failures"] = failures;
  m["files"] = files;
  write_file_atomic(dir + "manifest.json", m.dump(2) + "\n");
  return out;
}

int run_plot(const std::string& dir, const std::vector<std::string>& args) {
  if (!std::filesystem::is_directory(dir)) throw InputError(dir + ": not a directory");
  const char* env_script = std::getenv("FLOWSWEEP_PLOT_SCRIPT");
  const std::string script = env_script ? env_script : std::string(FLOWSWEEP_SOURCE_DIR) + "/sweeps/plot.py";
  if (!std::filesystem::is_regular_file(script)) throw RuntimeError("plot script not found: " + script);
  const std::string python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  std::vector<std::string> argv_s = {python, script, dir};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, python.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
    throw RuntimeError("cannot start " + python);
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) throw RuntimeError("waiting for " + python + " failed");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

std::string describe_sweep(const Spec& spec) {
  const auto runs = expand_grid(spec);
  std::ostringstream os;
  os << spec.path << ": model " << spec.model << ", " << runs.size() << " runs, spec hash " << spec.hash() << "\n";
  for (const auto& a : spec.axes) {
    os << "  axis " << a.name << " (" << a.kind << ", " << a.values.size() << "):";
    for (const auto& v : a.values) os << " " << v.to_string();
    os << "\n";
  }
  if (spec.axes.empty()) os << "  no axes: a single run\n";
  return os.str();
}

std::string describe_models() {
  std::ostringstream os;
  auto params = [&](const char* title, const std::vector<ParamDef>& defs) {
    os << "  [" << title << "]\n";
    for (const auto& d : defs) {
      os << "    " << d.name << " = ";
      if (d.kind == ParamDef::kChoice) {
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
