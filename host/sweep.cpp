#include "host/sweep.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "host/executor_cpu.h"
#include "host/journal.h"
#include "host/shard.h"
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

namespace {

volatile int g_cancel = 0;
volatile sig_atomic_t g_signal = 0;
extern "C" void on_stop_signal(int sig) {
  g_cancel = 1;
  g_signal = sig;
}

// Stops the sweep cleanly on SIGTERM (a scheduler's grace period), SIGUSR1 (Slurm's --signal) and SIGINT.
class StopSignals {
 public:
  StopSignals() {
    g_cancel = 0, g_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term_);
    sigaction(SIGUSR1, &sa, &old_usr1_);
    sigaction(SIGINT, &sa, &old_int_);
  }
  ~StopSignals() {
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGUSR1, &old_usr1_, nullptr);
    sigaction(SIGINT, &old_int_, nullptr);
  }

 private:
  struct sigaction old_term_ {}, old_usr1_ {}, old_int_ {};
};

std::string file_checksum(const std::string& path) { return hex64(fnv1a64(read_file(path))); }

// An output directory's manifest; InputError naming it when missing or unreadable.
nlohmann::json read_manifest(const std::string& dir) {
  const std::string path = dir + "/manifest.json";
  if (!std::filesystem::exists(path)) throw InputError(path + ": missing (not a flowsweep output directory?)");
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const std::exception& e) {
    throw InputError(path + ": corrupt manifest (" + std::string(e.what()) + ")");
  }
}

// The spec a manifest was written from, parsed again with its overrides.
Spec spec_of_manifest(const nlohmann::json& m) {
  return parse_spec(m["spec"]["text"].get<std::string>(), m["spec"]["path"].get<std::string>(),
                    m["spec"]["overrides"].get<std::vector<std::string>>());
}

nlohmann::json spec_json(const Spec& spec) {
  return {{"path", spec.path},   {"name", spec.name},       {"model", spec.model},         {"hash", spec.hash()},
          {"seed", spec.sweep_seed}, {"overrides", spec.overrides}, {"text", spec.text}, {"canonical", spec.canonical()}};
}

}  // namespace

void write_outputs(const std::string& out_dir, const Spec& spec, const std::vector<RunPoint>& runs,
                   const std::vector<RunResult>& results, bool save_params, nlohmann::json manifest) {
  const std::string dir = out_dir + "/";
  std::vector<std::string> files = {"runs.csv", "phase_diagram.csv", "trajectories.csv", "trajectories.h5"};
  write_file_atomic(dir + "runs.csv", runs_csv(spec, runs, results));
  write_file_atomic(dir + "phase_diagram.csv", phase_diagram_csv(spec, runs, results));
  write_file_atomic(dir + "trajectories.csv", trajectories_csv(spec, runs, results));
  write_trajectories_h5(dir + "trajectories.h5", spec, runs, results, save_params);
  if (!spec.entry->info.final_table.empty()) {
    write_file_atomic(dir + "final_config.csv", final_config_csv(spec, runs, results));
    files.push_back("final_config.csv");
  }
  manifest["flowsweep_version"] = FLOWSWEEP_VERSION;
  manifest["created"] = utc_now_iso();
  manifest["spec"] = spec_json(spec);
  nlohmann::json axes = nlohmann::json::array();
  for (const auto& a : spec.axes) {
    nlohmann::json vals = nlohmann::json::array();
    for (const auto& v : a.values) vals.push_back(v.is_str ? nlohmann::json(v.str) : nlohmann::json(v.num));
    axes.push_back({{"name", a.name}, {"section", a.section}, {"kind", a.kind}, {"values", vals}});
  }
  manifest["axes"] = axes;
  long counts[5] = {0, 0, 0, 0, 0};
  for (const auto& r : results) counts[int(r.status)]++;
  manifest["counts"] = {{"runs", long(runs.size())}, {"ok", counts[RunResult::kOk]},
                        {"diverged", counts[RunResult::kDiverged]}, {"failed", counts[RunResult::kFailed]},
                        {"missing", counts[RunResult::kMissing] + counts[RunResult::kCancelled]}};
  nlohmann::json failures = nlohmann::json::array();
  for (size_t i = 0; i < results.size(); ++i)
    if (results[i].status == RunResult::kFailed)
      failures.push_back({{"run_id", runs[i].id}, {"message", results[i].message}});
  manifest["failures"] = failures;
  nlohmann::json sums = nlohmann::json::object();
  for (const auto& f : files) sums[f] = file_checksum(dir + f);
  manifest["files"] = files;
  manifest["checksums_fnv1a64"] = sums;
  write_file_atomic(dir + "manifest.json", manifest.dump(2) + "\n");
}

SweepOutcome run_sweep(const Spec& spec, const RunOptions& opt) {
  if (opt.backend != "auto" && opt.backend != "cpu" && opt.backend != "cuda")
    throw InputError("--backend " + opt.backend + ": expected auto, cpu or cuda");
  const auto grid = expand_grid(spec);  // every input error before anything is written

  Shard shard;
  if (!opt.shard.empty())
    shard = parse_shard(opt.shard);
  else if (auto env = shard_from_environment())
    shard = *env;
  const std::vector<long> mine = shard_runs(spec, grid, shard);
  std::vector<RunPoint> runs;
  for (long i : mine) runs.push_back(grid[size_t(i)]);

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

  // Resume: explicitly, or after a Slurm requeue. Only into a directory of the same sweep.
  const char* restarts = std::getenv("SLURM_RESTART_COUNT");
  const bool resume = opt.resume || (restarts && std::atol(restarts) > 0);
  const std::string manifest_path = opt.out_dir + "/manifest.json";
  if (resume && std::filesystem::exists(manifest_path)) {
    nlohmann::json old;
    try {
      old = nlohmann::json::parse(read_file(manifest_path));
    } catch (const std::exception& e) {
      throw RuntimeError(manifest_path + ": cannot read (" + e.what() + ")");
    }
    if (old.value("/spec/hash"_json_pointer, std::string()) != spec.hash())
      throw InputError("--resume: " + opt.out_dir + " holds another sweep (spec hash " +
                       old.value("/spec/hash"_json_pointer, std::string("?")) + ", this one " + spec.hash() + ")");
  }
  make_dir(opt.out_dir);
  std::error_code ec;
  if (!resume) std::filesystem::remove_all(journal_dir(opt.out_dir), ec);
  std::filesystem::create_directories(journal_dir(opt.out_dir), ec);
  if (ec) throw RuntimeError("cannot create " + journal_dir(opt.out_dir));

  std::vector<RunResult> results(runs.size());
  std::vector<char> have(runs.size(), 0);
  long resumed = 0;
  if (resume)
    for (size_t i = 0; i < runs.size(); ++i) {
      try {
        if (auto r = read_journal_entry(opt.out_dir, runs[i].id, spec.entry->info)) {
          results[i] = std::move(*r);
          have[i] = 1;
          ++resumed;
        }
      } catch (const RuntimeError& e) {
        std::fprintf(stderr, "warning: %s; the run starts again\n", e.what());
      }
    }

  StopSignals signals;
  const std::string lock = opt.out_dir + "/.running";
  write_file_atomic(lock, std::to_string(::getpid()) + "\n");
  struct Unlock {
    std::string path;
    ~Unlock() { std::remove(path.c_str()); }
  } unlock{lock};
  std::vector<RunInput> inputs;
  std::vector<size_t> slot;  // input -> position in runs
  for (size_t i = 0; i < runs.size(); ++i)
    if (!have[i]) {
      inputs.push_back(RunInput{runs[i].params, spec.sweep_seed, opt.save_params, &g_cancel});
      slot.push_back(i);
    }
  const int threads = opt.threads > 0 ? opt.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  Progress progress(long(inputs.size()), opt.quiet);
  long done = 0;
  double run_steps = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto on_done = [&](long k, const RunResult& r) {
    if (r.status != RunResult::kCancelled)
      write_journal_entry(opt.out_dir, runs[slot[size_t(k)]].id, runs[slot[size_t(k)]].index, r);
    ++done;
    run_steps += double(r.steps);
    progress.update(done, run_steps);
  };
  auto fresh = backend == "cuda" ? execute_cuda(*spec.entry, inputs, opt.cuda, on_done)
                                 : execute_cpu(*spec.entry, inputs, threads, on_done);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (size_t k = 0; k < fresh.size(); ++k) results[slot[k]] = std::move(fresh[k]);

  SweepOutcome out;
  out.n_runs = long(runs.size());
  out.wall_s = wall;
  out.out_dir = opt.out_dir;
  out.backend = backend;
  out.resumed = resumed;
  out.signal = g_signal;
  for (const auto& r : results) {
    out.n_ok += r.status == RunResult::kOk;
    out.n_diverged += r.status == RunResult::kDiverged;
    out.n_failed += r.status == RunResult::kFailed;
    out.n_unfinished += r.status == RunResult::kCancelled;
  }

  nlohmann::json m;
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
  m["shard"] = {{"index", shard.index}, {"count", shard.count}, {"grid_runs", long(grid.size())}};
  m["complete"] = out.n_unfinished == 0;
  if (out.signal) m["interrupted_by_signal"] = int(out.signal);
  m["timings"] = {{"wall_s", wall}, {"run_steps", run_steps}, {"run_steps_per_s", wall > 0 ? run_steps / wall : 0.0},
                  {"resumed_runs", resumed}};
  write_outputs(opt.out_dir, spec, runs, results, opt.save_params, m);
  return out;
}

MergeOutcome merge_shards(const std::vector<std::string>& dirs, const std::string& out_dir, bool quiet) {
  if (dirs.empty()) throw InputError("merge: no shard directories given");
  std::vector<nlohmann::json> manifests;
  for (const auto& d : dirs) manifests.push_back(read_manifest(d));
  const auto& m0 = manifests[0];
  const std::string hash = m0.value("/spec/hash"_json_pointer, std::string());
  for (size_t i = 1; i < dirs.size(); ++i)
    if (manifests[i].value("/spec/hash"_json_pointer, std::string()) != hash)
      throw InputError("merge: " + dirs[i] + " holds another sweep (spec hash " +
                       manifests[i].value("/spec/hash"_json_pointer, std::string("?")) + ", " + dirs[0] + " has " + hash + ")");
  const Spec spec = spec_of_manifest(m0);
  if (spec.hash() != hash) throw RuntimeError("merge: the spec in " + dirs[0] + "/manifest.json does not match its hash");
  const auto grid = expand_grid(spec);
  const long count = m0.value("/shard/count"_json_pointer, 1L);
  const auto owner = shard_of_runs(spec, grid, count);

  MergeOutcome out;
  // Files a shard lists are checked against its checksums; a bad one is named and that shard's tables
  // are not trusted (its per-run records still are, each against its own checksum).
  for (size_t i = 0; i < dirs.size(); ++i)
    if (manifests[i].contains("checksums_fnv1a64"))
      for (const auto& [f, sum] : manifests[i]["checksums_fnv1a64"].items()) {
        const std::string path = dirs[i] + "/" + f;
        std::string got;
        try {
          got = file_checksum(path);
        } catch (const std::exception&) {
          got = "unreadable";
        }
        if (got != sum.get<std::string>()) out.corrupt.push_back(path + " (checksum mismatch)");
      }
  std::vector<RunResult> results(grid.size());
  bool saved = false;
  for (size_t i = 0; i < grid.size(); ++i) {
    bool found = false;
    for (const auto& d : dirs) {
      try {
        if (auto r = read_journal_entry(d, grid[i].id, spec.entry->info)) {
          results[i] = std::move(*r);
          saved |= !results[i].saved.theta.empty();
          found = true;
          break;
        }
      } catch (const RuntimeError& e) {
        out.corrupt.push_back(e.what());
      }
    }
    auto named = [&] { return grid[i].id + " (shard " + std::to_string(owner[i]) + "/" + std::to_string(count) + ")"; };
    if (!found) {
      results[i].status = RunResult::kMissing;
      results[i].final_loss = NAN;
      results[i].t_final = NAN;
      out.missing.push_back(named());
    } else if (results[i].status == RunResult::kFailed) {
      out.failed.push_back(named() + ": " + results[i].message);
    }
  }
  make_dir(out_dir);
  nlohmann::json m;
  m["merged_from"] = dirs;
  m["backend"] = m0.value("backend", std::string());
  m["device"] = m0.value("device", std::string());
  m["shard"] = {{"index", 0}, {"count", 1}, {"grid_runs", long(grid.size())}, {"merged_shards", count}};
  m["complete"] = out.missing.empty();
  m["missing_runs"] = out.missing;
  m["corrupt_files"] = out.corrupt;
  write_outputs(out_dir, spec, grid, results, saved, m);
  out.n_runs = long(grid.size());
  if (!quiet || !out.missing.empty() || !out.corrupt.empty() || !out.failed.empty()) {
    for (const auto& c : out.corrupt) std::fprintf(stderr, "corrupt: %s\n", c.c_str());
    for (const auto& f : out.failed) std::fprintf(stderr, "failed: %s\n", f.c_str());
    for (const auto& mi : out.missing) std::fprintf(stderr, "missing: %s\n", mi.c_str());
  }
  return out;
}

std::string sweep_status(const std::string& dir) {
  const nlohmann::json m = read_manifest(dir);
  const Spec spec = spec_of_manifest(m);
  const auto grid = expand_grid(spec);
  Shard shard{m.value("/shard/index"_json_pointer, 0L), m.value("/shard/count"_json_pointer, 1L)};
  const std::vector<long> mine = shard_runs(spec, grid, shard);
  long done = 0;
  std::vector<std::string> missing;
  for (long i : mine) {
    if (std::filesystem::exists(journal_path(dir, grid[size_t(i)].id)))
      ++done;
    else
      missing.push_back(grid[size_t(i)].id);
  }
  bool running = false;
  const std::string lock = dir + "/.running";
  if (std::filesystem::exists(lock)) {
    const long pid = std::atol(read_file(lock).c_str());
    running = pid > 0 && ::kill(pid_t(pid), 0) == 0;
  }
  std::ostringstream os;
  os << dir << ": shard " << shard.index << "/" << shard.count << ", " << mine.size() << " runs: " << done
     << " done, " << missing.size() << (running ? " running or to run" : " missing") << "; "
     << (m.value("complete", false) && missing.empty() ? "complete" : "incomplete") << "\n";
  for (size_t k = 0; k < missing.size() && k < 20; ++k) os << "  missing " << missing[k] << "\n";
  if (missing.size() > 20) os << "  ... and " << missing.size() - 20 << " more\n";
  return os.str();
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
  long lo = -1, hi = -1;
  double total = 0;
  for (const auto& r : runs) {
    const long n = train_steps(r.params);
    lo = lo < 0 ? n : std::min(lo, n);
    hi = std::max(hi, n);
    total += double(n);
  }
  if (!runs.empty())
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
