// `flowsweep run`: the slice loop. The executor advances the runs in flight for about a second; between
// slices this thread journals the runs that finished, reports progress, checkpoints the runs in flight
// (every minute, and at once on SIGTERM, SIGUSR1 or SIGINT) and refills nothing itself: the executor
// takes new runs from the source as its slots free. At the end the tables are written from the journal.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "host/executor_cpu.h"
#include "host/footprint.h"
#include "host/journal.h"
#include "host/outputs.h"
#include "host/shard.h"
#include "host/sweep.h"
#include "host/util.h"

namespace fs {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Progress on stderr: a live line on a terminal, a plain line every `every_s` seconds (30 by default) in a
// batch log or a notebook. Runs that diverged or failed are counted as they finish, so a bad corner of the
// grid shows before the tables do.
class Progress {
 public:
  Progress(long total, bool quiet, double every_s)
      : total_(total), quiet_(quiet), tty_(::isatty(2)), every_s_(every_s), start_(Clock::now()) {}

  void finished(RunResult::Status status) {
    n_diverged_ += status == RunResult::kDiverged;
    n_failed_ += status == RunResult::kFailed;
  }

  void update(long done, double run_steps) {
    if (quiet_) return;
    const auto now = Clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (done < total_ && since < (tty_ ? 0.2 : every_s_)) return;
    last_ = now;
    const double el = std::chrono::duration<double>(now - start_).count();
    const double left = done > 0 ? el * double(total_ - done) / double(done) : 0;
    char buf[200];
    int n = std::snprintf(buf, sizeof buf, "runs %ld/%ld", done, total_);
    if (n_diverged_ || n_failed_)
      n += std::snprintf(buf + n, sizeof buf - n, " (%ld diverged, %ld failed)", n_diverged_, n_failed_);
    std::snprintf(buf + n, sizeof buf - n, "  %.3g run-steps/s  elapsed %.0fs  left %.0fs",
                  el > 0 ? run_steps / el : 0.0, el, left);
    if (tty_)
      std::fprintf(stderr, "\r%s\033[K%s", buf, done == total_ ? "\n" : "");
    else
      std::fprintf(stderr, "%s\n", buf);
    std::fflush(stderr);
  }

 private:
  long total_;
  bool quiet_, tty_;
  double every_s_;
  long n_diverged_ = 0, n_failed_ = 0;
  Clock::time_point start_, last_{};
};

volatile int g_stop = 0;
volatile sig_atomic_t g_signal = 0;
extern "C" void on_stop_signal(int sig) {
  g_stop = 1;
  g_signal = sig;
}

// Stops the sweep cleanly on SIGTERM (a scheduler's grace period), SIGUSR1 (Slurm's --signal) and SIGINT.
class StopSignals {
 public:
  StopSignals() {
    g_stop = 0, g_signal = 0;
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
  struct sigaction old_term_ {
  }, old_usr1_{}, old_int_{};
};

// The shard's runs that are still to train, longest first, each built from the grid when an executor
// asks for it; runs saved by an earlier attempt carry their checkpoint.
class PendingRuns : public RunSource {
 public:
  PendingRuns(const Grid& grid, std::vector<long> order, std::map<long, std::string> saved, bool save_params)
      : grid_(grid), order_(std::move(order)), saved_(std::move(saved)), save_params_(save_params) {}

  bool claim(PendingRun& out) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (next_ >= order_.size()) return false;
    out.key = order_[next_++];
    out.checkpoint.clear();
    auto it = saved_.find(out.key);
    if (it != saved_.end()) {
      out.checkpoint = std::move(it->second);
      saved_.erase(it);
    }
    return true;
  }

  // The run's parameters and id from the grid: a few microseconds, so off the lock and in parallel.
  void build(PendingRun& out) const override {
    RunPoint p = grid_.point(out.key);
    out.input = RunInput{std::move(p.params), grid_.spec().sweep_seed, save_params_, std::move(p.id)};
  }

  // Checkpoints of earlier attempts for runs not yet handed out: kept in the next checkpoint file.
  std::vector<Checkpoint> untaken() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Checkpoint> out;
    for (const auto& [index, state] : saved_) out.push_back({index, grid_.point(index).id, state});
    return out;
  }

 private:
  const Grid& grid_;
  std::vector<long> order_;
  std::map<long, std::string> saved_;
  bool save_params_;
  std::mutex mutex_;
  size_t next_ = 0;
};

// Every file and folder a sweep writes into its output directory.
const char* const kOutputs[] = {
    "manifest.json",    "journal.fsj",      "checkpoint.fsj", "runs.csv", "phase_diagram.csv", "trajectories.h5",
    "trajectories.csv", "final_config.csv", "runs",           "plots",    "progress.json"};

// A directory belongs to one sweep at a time. Without --resume a run starts its sweep over, removing
// what an earlier attempt left; a directory that holds another sweep (or a manifest that cannot be read)
// is refused, and with --force emptied of every output of that sweep, so nothing of it stays mixed in.
void claim_directory(const std::string& dir, const Spec& spec, bool resume, bool force) {
  const std::string other = other_sweep_in(dir, spec.hash());
  if (!other.empty()) {
    if (resume) throw InputError("--resume: " + dir + " " + other);
    if (!force) throw InputError(dir + " " + other + "; choose another --out, or give --force to replace it");
  }
  if (resume) return;
  std::error_code ec;
  for (const char* name : kOutputs) {  // the manifest first: tables without it are nobody's
    std::filesystem::remove_all(dir + "/" + name, ec);
    if (ec) throw RuntimeError("cannot remove " + dir + "/" + name + ": " + ec.message());
  }
}

// A directory whose finished runs --reuse takes: its journal, spec (kept alive for its grid) and grid.
struct ReuseSource {
  std::string path;  // its journal
  std::unique_ptr<Spec> spec;
  std::unique_ptr<Grid> grid;
  JournalScan scan;
};

// --reuse DIR: DIR itself when it holds a journal, else every DIR/shard-*/ that does (a Slurm sweep).
// Each must be a sweep of the same model: a run id is derived from the model, every parameter and the
// seeds, so another model's runs could never match and the directory is surely a mistake.
std::vector<ReuseSource> reuse_sources(const std::vector<std::string>& dirs, const Spec& spec,
                                       const std::string& out_dir) {
  namespace fsys = std::filesystem;
  std::vector<ReuseSource> out;
  std::error_code ec;
  const fsys::path out_path = fsys::weakly_canonical(out_dir, ec);
  for (const auto& d : dirs) {
    if (fsys::weakly_canonical(d, ec) == out_path)  // a run starts its own directory over before it reads it
      throw InputError("--reuse " + d + " is --out itself: give --resume to go on with it");
    std::vector<std::string> found;
    if (fsys::exists(journal_path(d))) {
      found.push_back(d);
    } else if (fsys::is_directory(d)) {
      for (const auto& e : fsys::directory_iterator(d))
        if (e.path().filename().string().rfind("shard-", 0) == 0 && fsys::exists(journal_path(e.path().string())))
          found.push_back(e.path().string());
      std::sort(found.begin(), found.end());
    }
    if (found.empty())
      throw InputError("--reuse " + d +
                       ": no journal.fsj there or in a shard-*/ under it (a run's or a Slurm sweep's --out)");
    for (const auto& dir : found) {
      ReuseSource src;
      src.path = journal_path(dir);
      src.spec = std::make_unique<Spec>(read_manifest(dir).spec());
      if (src.spec->model != spec.model)
        throw InputError("--reuse " + dir + ": a sweep of model " + src.spec->model + ", not " + spec.model);
      src.grid = std::make_unique<Grid>(*src.spec);
      try {
        src.scan = scan_journal(src.path, src.spec->hash());
      } catch (const RuntimeError& e) {
        throw InputError("--reuse " + dir + ": " + e.what());
      }
      out.push_back(std::move(src));
    }
  }
  return out;
}

}  // namespace

// A sweep that fills its file system stops with its journal intact, and --resume goes on from there; said
// before the first run, the shortfall costs a researcher a change of --out, not a requeue.
static void warn_if_short_of_space(const Grid& grid, const RunOptions& opt, double mine, double todo) {
  if (grid.size() == 0 || todo == 0) return;
  Footprint need =
      output_footprint(grid).written(opt.save_params, opt.csv_trajectories).scaled(mine / double(grid.size()));
  need.journal *= todo / mine;  // the journal holds the finished runs already
  const std::string warning = short_of_room(opt.out_dir, need.total(), "this sweep writes " + describe_footprint(need));
  if (!warning.empty())
    std::fprintf(stderr, "warning: %s; once the disk is full the sweep stops, and --resume goes on from its journal\n",
                 warning.c_str());
}

SweepOutcome run_sweep(const Spec& spec, const RunOptions& opt) {
  if (opt.backend != "auto" && opt.backend != "cpu" && opt.backend != "cuda")
    throw InputError("--backend " + opt.backend + ": expected auto, cpu or cuda");
  const auto t_start = Clock::now();
  const Grid grid(spec);  // every input error before anything is written

  Shard shard;
  if (!opt.shard.empty())
    shard = parse_shard(opt.shard);
  else if (auto env = shard_from_environment())
    shard = *env;
  const std::vector<long> mine = shard_runs(grid, shard);

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
  const std::string hash = spec.hash();
  std::vector<ReuseSource> sources =
      reuse_sources(opt.reuse, spec, opt.out_dir);  // bad --reuse before anything is written
  make_dir(opt.out_dir);
  const DirLock dir_lock(opt.out_dir);  // before anything there is read or removed
  claim_directory(opt.out_dir, spec, resume, opt.force);
  std::error_code ec;

  // What an earlier attempt finished and saved.
  std::vector<char> done_before(mine.size(), 0);
  auto position = [&](long index) {
    auto it = std::lower_bound(mine.begin(), mine.end(), index);
    return it != mine.end() && *it == index ? long(it - mine.begin()) : -1L;
  };
  long truncate_at = -1, resumed = 0;
  std::map<long, std::string> saved;
  if (resume) {
    JournalScan scan;
    try {
      scan = scan_journal(journal_path(opt.out_dir), hash);
    } catch (const RuntimeError& e) {
      std::fprintf(stderr, "warning: %s; every run starts again\n", e.what());
    }
    if (!scan.problem.empty())
      std::fprintf(stderr, "warning: %s: %s at byte %ld; the %ld bytes after it are dropped and their runs run again\n",
                   journal_path(opt.out_dir).c_str(), scan.problem.c_str(), scan.valid_bytes,
                   scan.file_bytes - scan.valid_bytes);
    truncate_at = scan.entries.empty() && scan.valid_bytes == 0 ? -1 : scan.valid_bytes;
    std::FILE* f = scan.entries.empty() ? nullptr : std::fopen(journal_path(opt.out_dir).c_str(), "rb");
    for (const auto& e : scan.entries) {
      const long pos = e.kind == kRecordResult ? position(e.index) : -1;
      if (pos < 0 || done_before[size_t(pos)]) continue;
      try {  // a record this version cannot read is run again
        const RunPoint p = grid.point(e.index);
        const RunResult r = read_result(f, journal_path(opt.out_dir), e, p.id, spec.entry->info);
        if (opt.retry_failed && r.status == RunResult::kFailed) continue;
        done_before[size_t(pos)] = 1;
        ++resumed;
      } catch (const RuntimeError& err) {
        std::fprintf(stderr, "warning: %s; the run starts again\n", err.what());
      }
    }
    if (f) std::fclose(f);
    try {
      for (auto& c : read_checkpoints(opt.out_dir, hash)) {
        const long pos = position(c.index);
        if (pos >= 0 && !done_before[size_t(pos)] && grid.point(c.index).id == c.run_id)
          saved[c.index] = std::move(c.state);
      }
    } catch (const RuntimeError& e) {
      std::fprintf(stderr, "warning: %s; the runs it held start again\n", e.what());
    }
  }

  // Runs another directory has finished (--reuse), found and read now, copied into this journal once it is
  // open. A reused run replaces a checkpointed one.
  struct Reused {
    size_t source;
    JournalEntry entry;
    long index;
  };
  std::vector<Reused> reused;
  if (!sources.empty()) {
    std::unordered_map<std::string, long> wanted;  // run id -> grid index, of this shard's runs not yet done
    for (size_t k = 0; k < mine.size(); ++k)
      if (!done_before[k]) wanted.emplace(grid.id(mine[k]), mine[k]);
    for (size_t s = 0; s < sources.size() && !wanted.empty(); ++s) {
      const ReuseSource& src = sources[s];
      std::FILE* f = std::fopen(src.path.c_str(), "rb");
      if (!f) throw RuntimeError("--reuse: cannot open " + src.path);
      for (const auto& e : src.scan.entries) {
        if (e.kind != kRecordResult || e.index < 0 || e.index >= src.grid->size()) continue;
        const std::string id = src.grid->id(e.index);
        const auto it = wanted.find(id);
        if (it == wanted.end()) continue;
        try {
          const RunResult r = read_result(f, src.path, e, id, spec.entry->info);
          if (opt.retry_failed && r.status == RunResult::kFailed) continue;
        } catch (const RuntimeError& err) {
          std::fprintf(stderr, "warning: --reuse: %s; the run is trained\n", err.what());
          continue;
        }
        done_before[size_t(position(it->second))] = 1;
        saved.erase(it->second);
        reused.push_back({s, e, it->second});
        wanted.erase(it);
      }
      std::fclose(f);
    }
  }

  // Runs still to train, longest first (ties in grid order), so the last runs of a shard are short.
  std::vector<long> cell_steps(size_t(grid.n_cells()), -1);
  std::vector<std::pair<long, long>> todo;
  for (size_t k = 0; k < mine.size(); ++k) {
    if (done_before[k]) continue;
    long& s = cell_steps[size_t(grid.cell(mine[k]))];
    if (s < 0) s = train_steps(grid.point(mine[k]).params);
    todo.push_back({-s, mine[k]});
  }
  std::sort(todo.begin(), todo.end());
  std::vector<long> order;
  order.reserve(todo.size());
  for (const auto& t : todo) order.push_back(t.second);
  todo.clear();
  todo.shrink_to_fit();
  const long n_todo = long(order.size());
  warn_if_short_of_space(grid, opt, double(mine.size()), double(n_todo));
  const long n_resumed_flows = long(saved.size());
  PendingRuns source(grid, std::move(order), std::move(saved), opt.save_params);

  // A manifest from the start, so `status` and `merge` understand the directory while it runs and after a
  // kill; when resuming, the earlier attempt's stays (with its tables) until this one writes its own.
  if (!resume || !std::filesystem::exists(manifest_path)) {
    nlohmann::json early;
    early["flowsweep_version"] = FLOWSWEEP_VERSION;
    early["provenance"] = provenance_json(opt.command_line);
    early["created"] = utc_now_iso();
    early["spec"] = spec_json(spec);
    early["shard"] = {{"index", shard.index}, {"count", shard.count}, {"grid_runs", grid.size()}};
    early["complete"] = false;
    early["running"] = true;
    early["files"] = nlohmann::json::array();
    write_manifest(opt.out_dir, early);
  }

  StopSignals signals;

  const int threads = opt.threads > 0 ? opt.threads : default_threads();
  CudaOptions cuda = opt.cuda;
  cuda.host_threads = threads;  // on the GPU, the threads that draw and finish runs
  std::unique_ptr<Executor> ex =
      backend == "cuda" ? make_cuda_executor(*spec.entry, cuda) : make_cpu_executor(*spec.entry, threads);
  ex->stop = &g_stop;
  ex->encode = [](const FinishedRun& f) { return journal_record(f.key, f.id, f.result); };
  JournalWriter journal(opt.out_dir, hash, truncate_at);
  if (!reused.empty()) {
    for (size_t s = 0; s < sources.size(); ++s) {
      std::FILE* f = std::fopen(sources[s].path.c_str(), "rb");
      if (!f) throw RuntimeError("--reuse: cannot open " + sources[s].path);
      for (const auto& r : reused)
        if (r.source == s)
          journal.append_result(
              r.index, grid.id(r.index),
              read_result(f, sources[s].path, r.entry, sources[s].grid->id(r.entry.index), spec.entry->info));
      std::fclose(f);
    }
    journal.sync();
    if (!opt.quiet) std::fprintf(stderr, "%zu finished runs taken from --reuse; %ld to train\n", reused.size(), n_todo);
  }

  auto checkpoint = [&] {
    std::vector<SavedRun> live;
    ex->save(live);
    std::vector<Checkpoint> cps = source.untaken();
    for (auto& s : live) cps.push_back({s.key, std::move(s.id), std::move(s.checkpoint)});
    journal.sync();  // the journal first: a run is never both finished and only checkpointed
    write_checkpoints(opt.out_dir, hash, cps);
    return long(cps.size());
  };

  Progress progress(n_todo, opt.quiet, opt.progress_s);
  long done = 0;
  double run_steps = 0, train_s = 0, journal_s = 0;
  const double setup_s = seconds_since(t_start);
  auto last_checkpoint = Clock::now();
  std::vector<FinishedRun> finished;
  const auto t_loop = Clock::now();
  // progress.json: how far this attempt has come, for `status`'s estimate of the time left. Advisory: a
  // failure to write it never stops the sweep (the journal's own writes do).
  const std::time_t attempt_start = std::time(nullptr);
  auto last_note = Clock::now() - std::chrono::hours(1);
  auto note_progress = [&] {
    if (seconds_since(last_note) < 5.0) return;
    last_note = Clock::now();
    nlohmann::json p = {{"attempt_started_unix", long(attempt_start)},
                        {"updated_unix", long(std::time(nullptr))},
                        {"done", done},
                        {"to_run", n_todo},
                        {"pid", long(::getpid())}};
    try {
      write_file_atomic(opt.out_dir + "/progress.json", p.dump(1) + "\n");
    } catch (const RuntimeError&) {
    }
  };
  // A write that fails (a full disk, a quota) stops the sweep as a signal would: what is journalled
  // stays, the runs in flight are checkpointed if the disk takes it, the tables hold what finished, and
  // the exit status is 1. A torn record at the journal's end is found and dropped by --resume.
  std::string write_error;
  auto stop_on_write_error = [&](const RuntimeError& e) {
    if (write_error.empty()) write_error = e.what();
    g_stop = 1;
  };
  for (bool more = true; more;) {
    const auto t0 = Clock::now();
    more = ex->advance(opt.slice_s, source, finished);
    train_s += seconds_since(t0);
    const auto t1 = Clock::now();
    try {
      for (const auto& f : finished) {
        if (f.record.empty())
          journal.append_result(f.key, f.id, f.result);
        else
          journal.append_record(f.record);
        ++done;
        run_steps += double(f.result.steps);
        progress.finished(f.result.status);
      }
      journal.flush();
    } catch (const RuntimeError& e) {
      stop_on_write_error(e);
    }
    finished.clear();
    journal_s += seconds_since(t1);
    progress.update(done, run_steps);
    if (more) note_progress();
    if (g_stop) break;
    if (more && opt.checkpoint_s > 0 && seconds_since(last_checkpoint) >= opt.checkpoint_s) {
      const auto t2 = Clock::now();
      try {
        checkpoint();
      } catch (const RuntimeError& e) {
        stop_on_write_error(e);
        break;
      }
      journal_s += seconds_since(t2);
      last_checkpoint = Clock::now();
    }
  }
  const double loop_s = seconds_since(t_loop);
  std::filesystem::remove(opt.out_dir + "/progress.json", ec);  // only a running attempt has a rate

  long saved_flows = 0;
  try {
    if (g_stop) {
      saved_flows = checkpoint();
    } else {
      journal.sync();
      std::filesystem::remove(checkpoint_path(opt.out_dir), ec);
    }
  } catch (const RuntimeError& e) {
    stop_on_write_error(e);
    saved_flows = 0;
  }

  SweepOutcome out;
  out.n_runs = long(mine.size());
  out.out_dir = opt.out_dir;
  out.backend = backend;
  out.resumed = resumed;
  out.signal = g_signal;
  out.n_unfinished = n_todo - done;
  out.n_saved = saved_flows;
  out.write_error = write_error;

  nlohmann::json m;
  m["provenance"] = provenance_json(opt.command_line);
  m["backend"] = backend;
  if (backend == "cuda") {
    m["device"] = dev.name;
    m["device_detail"] = {{"sm_count", dev.sm_count},
                          {"compute_capability", std::to_string(dev.cc_major) + "." + std::to_string(dev.cc_minor)},
                          {"global_mem_bytes", dev.global_mem}};
    m["team"] = kCudaTeamNames[int(opt.cuda.team)];
    m["placement"] = kCudaPlacementNames[int(opt.cuda.placement)];
  } else {
    m["device"] = cpu_name();
    m["threads"] = threads;
  }
  m["save_params"] = opt.save_params;
  m["shard"] = {{"index", shard.index}, {"count", shard.count}, {"grid_runs", grid.size()}};
  m["complete"] = out.n_unfinished == 0;
  if (out.signal) m["interrupted_by_signal"] = int(out.signal);
  if (!write_error.empty()) m["write_error"] = write_error;
  if (saved_flows) m["checkpointed_runs"] = saved_flows;

  long counts_ok = 0, counts_div = 0, counts_failed = 0;
  try {
    ResultStore store({opt.out_dir}, grid);
    OutputOptions oo;
    oo.save_params = opt.save_params;
    oo.csv_trajectories = opt.csv_trajectories;
    oo.absent = RunResult::kCancelled;
    oo.threads = threads;
    // Timings so far; the table time itself is measured below and reported on stderr.
    const double wall = seconds_since(t_start);
    m["timings"] = {{"wall_s", wall},
                    {"setup_s", setup_s},
                    {"loop_s", loop_s},
                    {"advance_s", train_s},
                    {"journal_s", journal_s},
                    {"run_steps", run_steps},
                    {"steps_taken", long(ex->steps_taken)},
                    {"run_steps_per_s", loop_s > 0 ? run_steps / loop_s : 0.0},
                    {"resumed_runs", resumed},
                    {"reused_runs", long(reused.size())},
                    {"resumed_flows", n_resumed_flows}};
    if (backend == "cuda") {  // the flows alone: the slice kernels' time, and the steps they took in it
      m["timings"]["kernel_s"] = ex->kernel_s;
      m["timings"]["kernel_run_steps_per_s"] = ex->kernel_s > 0 ? double(ex->steps_taken) / ex->kernel_s : 0.0;
    }
    // An interrupted shard's tables hold what finished; the manifest counts the rest as missing.
    std::vector<long> rows;
    if (out.n_unfinished == 0) {
      rows = mine;
    } else {
      for (long i : mine)
        if (store.has(i)) rows.push_back(i);
    }
    const long not_run = long(mine.size()) - long(rows.size());
    const OutputSummary sum =
        write_outputs(opt.out_dir, grid, rows, store, oo, m, [&](nlohmann::json& mf, const OutputSummary&) {
          mf["counts"]["runs"] = long(mine.size());
          mf["counts"]["missing"] = mf["counts"]["missing"].get<long>() + not_run;
        });
    for (const auto& u : sum.unreadable) std::fprintf(stderr, "warning: %s\n", u.c_str());
    counts_ok = sum.counts[RunResult::kOk];
    counts_div = sum.counts[RunResult::kDiverged];
    counts_failed = sum.counts[RunResult::kFailed];
  } catch (const RuntimeError& e) {
    // The journal holds every finished run; --resume writes the tables from it.
    out.write_error = (out.write_error.empty() ? "" : out.write_error + "; then ") + e.what();
    out.tables_written = false;
  }
  out.wall_s = seconds_since(t_start);
  // Counts over the whole shard, this attempt's and earlier ones'.
  out.n_ok = counts_ok, out.n_diverged = counts_div, out.n_failed = counts_failed;
  return out;
}

}  // namespace fs
