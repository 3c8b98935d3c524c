// `flowsweep status DIR`: done, in flight and missing runs of an output directory, from its journal; of a
// merged directory, from its manifest; of a Slurm sweep's directory (DIR/slurm/, DIR/shard-I/), shard by
// shard and in all, with each shard's array task (DIR/slurm/jobs.json, squeue) and the time left at the
// running attempts' rates (their progress.json). Missing and failed runs are named by their id and their
// grid values.
#include <cmath>
#include <ctime>
#include <filesystem>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "host/journal.h"
#include "host/outputs.h"
#include "host/shard.h"
#include "host/slurm.h"
#include "host/sweep.h"
#include "host/util.h"

namespace fs {

namespace {

void list_missing(std::ostringstream& os, const Grid& grid, const std::vector<long>& missing, const char* what) {
  for (size_t k = 0; k < missing.size() && k < 20; ++k) os << "  " << what << " " << grid.name(missing[k]) << "\n";
  if (missing.size() > 20) os << "  ... and " << missing.size() - 20 << " more\n";
}

// The failed runs a manifest names (run id and message), by their grid values.
void list_failed(std::ostringstream& os, const Grid& grid, const std::vector<long>& runs,
                 const std::vector<std::pair<std::string, std::string>>& failed) {
  if (failed.empty()) return;
  std::unordered_map<std::string, long> index;
  for (long i : runs) index.emplace(grid.id(i), i);
  for (size_t k = 0; k < failed.size() && k < 20; ++k) {
    const auto it = index.find(failed[k].first);
    os << "  failed " << (it == index.end() ? failed[k].first : grid.name(it->second)) << ": " << failed[k].second
       << "\n";
  }
  if (failed.size() > 20) os << "  ... and " << failed.size() - 20 << " more failed\n";
}

std::vector<std::pair<std::string, std::string>> failures_of(const nlohmann::json& manifest) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : manifest.value("failures", nlohmann::json::array()))
    out.emplace_back(f.value("run_id", std::string("?")), f.value("message", std::string()));
  return out;
}

long checkpointed(const std::string& dir, const std::string& hash) {
  try {  // counted from the checkpoint file's frames, without reading the runs' states
    return long(scan_journal(checkpoint_path(dir), hash).entries.size());
  } catch (const RuntimeError&) {
    return 0;
  }
}

// A running attempt's progress.json: its runs done and to run, and seconds per run so far.
struct AttemptRate {
  long done = 0, to_run = 0;
  double seconds_per_run = NAN;  // NaN before its first run finished
  double left_s = NAN;           // at that rate, from now
};
std::optional<AttemptRate> attempt_rate(const std::string& dir) {
  try {
    const auto p = nlohmann::json::parse(read_file(dir + "/progress.json"));
    AttemptRate r;
    r.done = p.at("done").get<long>(), r.to_run = p.at("to_run").get<long>();
    const double elapsed = double(p.at("updated_unix").get<long>() - p.at("attempt_started_unix").get<long>());
    if (r.done > 0 && elapsed > 0) {
      r.seconds_per_run = elapsed / double(r.done);
      const double since = double(std::time(nullptr) - p.at("updated_unix").get<long>());
      r.left_s = std::max(0.0, double(r.to_run - r.done) * r.seconds_per_run - since);
    }
    return r;
  } catch (const std::exception&) {  // none yet, or one being replaced
    return std::nullopt;
  }
}

std::string duration(double s) {
  char buf[32];
  if (s < 90)
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 5400)
    std::snprintf(buf, sizeof buf, "%.0fm", s / 60);
  else
    std::snprintf(buf, sizeof buf, "%.0fh %02.0fm", std::floor(s / 3600), std::fmod(s, 3600) / 60);
  return buf;
}

std::string merged_status(const std::string& dir, const Manifest& manifest, const Grid& grid) {
  const nlohmann::json& m = manifest.json;
  std::ostringstream os;
  const auto counts = m.value("counts", nlohmann::json::object());
  os << dir << ": merged, " << grid.size() << " runs: " << counts.value("ok", 0L) << " ok, "
     << counts.value("diverged", 0L) << " diverged, " << counts.value("failed", 0L) << " failed, "
     << counts.value("missing", 0L) << " missing; " << (m.value("complete", false) ? "complete" : "incomplete") << "\n";
  const auto missing = m.value("missing_runs", nlohmann::json::array());
  for (size_t k = 0; k < missing.size() && k < 20; ++k)
    os << "  missing " << (missing[k].is_string() ? missing[k].get<std::string>() : "?") << "\n";
  if (missing.size() > 20) os << "  ... and " << missing.size() - 20 << " more\n";
  return os.str();
}

// A Slurm sweep: the shards' directories, read together.
std::string slurm_status(const std::string& dir) {
  namespace fsys = std::filesystem;
  std::vector<long> started;
  std::optional<Manifest> first;
  for (const auto& e : fsys::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("shard-", 0) != 0 || !fsys::exists(e.path() / "manifest.json")) continue;
    started.push_back(std::atol(name.c_str() + 6));
    if (!first) first = read_manifest(e.path().string());
  }
  if (!first) return dir + ": a Slurm sweep whose tasks have not started (no shard-I/ with a manifest yet)\n";
  const Spec spec = first->spec();
  const Grid grid(spec);
  const long count = first->shard(grid).count;
  std::vector<std::string> dirs;
  for (long s = 0; s < count; ++s) dirs.push_back(dir + "/shard-" + std::to_string(s));
  std::vector<std::string> present;
  for (const auto& d : dirs)
    if (fsys::exists(d + "/manifest.json")) present.push_back(d);
  const ResultStore store(present, grid);
  const std::vector<int32_t> owner = shard_of_runs(grid, count);
  std::vector<long> runs(size_t(count), 0), done(size_t(count), 0);
  std::vector<long> missing;
  for (long i = 0; i < grid.size(); ++i) {
    ++runs[size_t(owner[size_t(i)])];
    if (store.has(i))
      ++done[size_t(owner[size_t(i)])];
    else
      missing.push_back(i);
  }
  const std::map<long, SlurmTask> tasks = slurm_tasks(dir);
  std::vector<std::pair<std::string, std::string>> failed;
  std::ostringstream shards;
  long n_complete = 0, n_running = 0, n_pending = 0, n_stopped = 0;
  double running_left = 0, seconds_per_run = 0;
  long n_rated = 0, pending_runs = 0;
  for (long s = 0; s < count; ++s) {
    const std::string& d = dirs[size_t(s)];
    std::string state;
    if (!fsys::exists(d + "/manifest.json")) {
      state = "pending", ++n_pending;
      pending_runs += runs[size_t(s)];
    } else if (DirLock::holder(d) != 0) {
      state = "running", ++n_running;
      if (const auto r = attempt_rate(d); r && !std::isnan(r->left_s)) {
        state += ", about " + duration(r->left_s) + " left";
        running_left = std::max(running_left, r->left_s);
        seconds_per_run += r->seconds_per_run, ++n_rated;
      }
    } else {
      bool complete = false;
      try {
        const Manifest m = read_manifest(d);
        complete = m.hash() == spec.hash() && m.json.value("complete", false);
        if (m.hash() == spec.hash())
          for (auto& f : failures_of(m.json)) failed.push_back(std::move(f));
      } catch (const InputError& e) {
        state = std::string("unreadable: ") + e.what();
      }
      if (state.empty()) state = complete ? "complete" : "stopped (resumable)";
      (complete ? n_complete : n_stopped)++;
    }
    shards << "  shard-" << s << ": " << done[size_t(s)] << "/" << runs[size_t(s)] << " runs done, " << state;
    if (const long saved = checkpointed(d, spec.hash())) shards << ", " << saved << " checkpointed in flight";
    if (const auto t = tasks.find(s); t != tasks.end())
      shards << "; array task " << t->second.id << (t->second.state.empty() ? "" : " " + t->second.state);
    shards << "\n";
  }
  std::ostringstream os;
  os << dir << ": Slurm sweep of " << count << " shards, " << grid.size()
     << " runs: " << grid.size() - long(missing.size()) << " done"
     << (failed.empty() ? "" : " (" + std::to_string(failed.size()) + " failed)") << ", " << missing.size()
     << " to run; shards " << n_complete << " complete, " << n_running << " running, " << n_stopped << " stopped, "
     << n_pending << " pending\n";
  os << shards.str();
  if (n_rated > 0) {  // the shards' runs are spread alike over the grid, so one rate stands for them all
    os << "  time left: about " << duration(running_left) << " for the running shards, at their rates so far";
    if (n_pending > 0)
      os << "; then " << n_pending << " pending shards, about "
         << duration(seconds_per_run / double(n_rated) * double(pending_runs) / double(n_pending))
         << " each once started";
    os << "\n";
  }
  for (const auto& p : store.problems()) os << "  journal: " << p << "\n";
  std::vector<long> all(size_t(grid.size()));
  for (long i = 0; i < grid.size(); ++i) all[size_t(i)] = i;
  if (!failed.empty()) list_failed(os, grid, all, failed);
  list_missing(os, grid, missing, n_running + n_pending > 0 ? "to run" : "missing");
  return os.str();
}

}  // namespace

std::string sweep_status(const std::string& dir) {
  if (!std::filesystem::exists(dir + "/manifest.json") && std::filesystem::is_directory(dir + "/slurm"))
    return slurm_status(dir);
  const Manifest manifest = read_manifest(dir);
  const nlohmann::json& m = manifest.json;
  const Spec spec = manifest.spec();
  const Grid grid(spec);
  if (m.contains("merged_from")) return merged_status(dir, manifest, grid);
  const Shard shard = manifest.shard(grid);
  const std::vector<long> mine = shard_runs(grid, shard);
  const ResultStore store({dir}, grid);
  const long saved = checkpointed(dir, spec.hash());
  long done = 0;
  std::vector<long> missing;
  for (long i : mine) {
    if (store.has(i))
      ++done;
    else
      missing.push_back(i);
  }
  const bool running = DirLock::holder(dir) != 0;
  std::ostringstream os;
  const auto failed = failures_of(m);
  os << dir << ": shard " << shard.index << "/" << shard.count << ", " << mine.size() << " runs: " << done << " done"
     << (failed.empty() ? "" : " (" + std::to_string(failed.size()) + " failed)") << ", " << missing.size()
     << (running ? " running or to run" : " missing");
  if (saved) os << " (" << saved << " checkpointed in flight)";
  os << "; " << (m.value("complete", false) && missing.empty() ? "complete" : "incomplete");
  if (const auto r = running ? attempt_rate(dir) : std::nullopt; r && !std::isnan(r->left_s))
    os << "; about " << duration(r->left_s) << " left at this attempt's rate";
  os << "\n";
  for (const auto& p : store.problems()) os << "  journal: " << p << "\n";
  list_failed(os, grid, mine, failed);
  list_missing(os, grid, missing, running ? "to run" : "missing");
  return os.str();
}

}  // namespace fs
