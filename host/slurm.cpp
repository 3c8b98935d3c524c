#include "host/slurm.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "host/executor_cuda.h"
#include "host/footprint.h"
#include "host/grid.h"
#include "host/outputs.h"
#include "host/spec.h"
#include "host/util.h"

namespace fs {

namespace {

std::string run_command(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *status = -1;
    return out;
  }
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  *status = pclose(p);
  return out;
}

// Values that go into #SBATCH lines, which no shell quoting protects: checked against a safe set, so that
// no newline or metacharacter can end the header and add a command.
void check_slurm_value(const std::string& option, const std::string& value, const char* allowed_punct) {
  for (unsigned char c : value)
    if (!std::isalnum(c) && !std::strchr(allowed_punct, c))
      throw InputError(option + " " + quote_cut(value, 60) + ": only letters, digits and " +
                       std::string(allowed_punct) + " may appear in a Slurm option");
  if (value.empty()) throw InputError(option + ": empty");
}

// A job name from the spec's name: letters, digits and ._- kept, anything else made '_'.
std::string job_name(const std::string& name) {
  std::string out;
  for (unsigned char c : name) out += std::isalnum(c) || c == '.' || c == '_' || c == '-' ? char(c) : '_';
  return out.substr(0, 64);
}

long max_array_size_from_scontrol() {
  int status = 0;
  const std::string cfg = run_command("scontrol show config 2>/dev/null", &status);
  const auto pos = cfg.find("MaxArraySize");
  if (status != 0 || pos == std::string::npos) return 1001;
  const auto eq = cfg.find('=', pos);
  return eq == std::string::npos ? 1001 : std::max(2L, std::atol(cfg.c_str() + eq + 1));
}

}  // namespace

SlurmScripts write_slurm_scripts(const SlurmOptions& opt, const std::string& self) {
  if (opt.tasks < 1) throw InputError("--tasks " + std::to_string(opt.tasks) + ": need at least 1");
  const Spec spec = load_spec(opt.spec_path, opt.sets);  // bad specs fail here, before any job exists
  namespace fsys = std::filesystem;
  const std::string out_abs = fsys::absolute(opt.out_dir).string();
  std::error_code ec;
  std::string exe = fsys::read_symlink("/proc/self/exe", ec).string();
  if (ec || exe.empty()) exe = fsys::absolute(self).string();
  const std::string dir = out_abs + "/slurm";
  if (!opt.partition.empty()) check_slurm_value("--partition", opt.partition, ",._-");
  if (!opt.account.empty()) check_slurm_value("--account", opt.account, "._-");
  if (!opt.time.empty()) check_slurm_value("--time", opt.time, ":-");
  if (!opt.gres.empty()) check_slurm_value("--gres", opt.gres, ":,._-");
  // The GPU request follows the backend: a build that runs on CUDA asks for one GPU per task by default.
  const bool asks = opt.gpus_per_task > 0 || !opt.gres.empty();
  if (opt.backend == "cpu" && asks)
    throw InputError("--backend cpu with a GPU request (--gpus-per-task or --gres): the tasks would not use it");
  if (opt.backend != "cpu" && !cuda_compiled() && (asks || opt.backend == "cuda"))
    throw InputError(std::string(opt.backend == "cuda" ? "--backend cuda" : "a GPU request") +
                     ": this flowsweep was built without CUDA, so its tasks cannot use a GPU");
  if (opt.backend == "cuda" && opt.gpus_per_task == 0 && opt.gres.empty())
    throw InputError("--backend cuda with --gpus-per-task 0: the tasks would have no GPU");
  const bool want_gpu = opt.backend != "cpu" && cuda_compiled() && (opt.gpus_per_task != 0 || !opt.gres.empty());
  const int gpus = want_gpu && opt.gres.empty() ? std::max(1, opt.gpus_per_task) : 0;
  const std::string task_backend = want_gpu ? "cuda" : "cpu";
  if (opt.backend == "auto")
    std::fprintf(stderr, "%s\n",
                 !want_gpu          ? "each task runs on its CPUs (this build has no CUDA, or --gpus-per-task 0)"
                 : opt.gres.empty() ? "each task asks for a GPU and runs on it (--backend cpu for none)"
                                    : "each task asks for the --gres resources and runs on CUDA");
  for (unsigned char c : out_abs)  // the log paths are #SBATCH values too; Slurm reads % as a pattern
    if (c < 0x20 || c == 0x7F || c == ' ' || c == '%')
      throw InputError("--out " + quote_cut(out_abs, 80) +
                       ": a Slurm sweep's directory has no whitespace, control characters or %");
  for (const auto& e : opt.extra)
    for (size_t start = 0; start <= e.size();) {
      const size_t end = std::min(e.find('\n', start), e.size());
      const std::string line = e.substr(start, end - start);
      if (!line.empty() && line.rfind("#SBATCH ", 0) != 0)
        throw InputError("--extra " + quote_cut(line, 60) + ": each line must be an #SBATCH directive");
      start = end + 1;
    }
  std::string reuse_args;
  for (const auto& r : opt.reuse) {  // checked now, so a task does not find out alone
    if (!fsys::is_directory(r)) throw InputError("--reuse " + r + ": no such directory");
    reuse_args += " --reuse " + shell_quote(fsys::absolute(r).lexically_normal().string());
  }
  if (opt.retry_failed) reuse_args += " --retry-failed";
  const Grid grid(spec);
  const long n_runs = grid.size();
  if (opt.tasks > n_runs)
    std::fprintf(stderr, "warning: --tasks %ld for a sweep of %ld runs: %ld tasks will have no runs\n", opt.tasks,
                 n_runs, opt.tasks - n_runs);
  const long max_size = opt.max_array_size > 0 ? opt.max_array_size : max_array_size_from_scontrol();
  const std::string name = job_name(spec.name.empty() ? fsys::path(opt.spec_path).stem().string() : spec.name);
  fsys::create_directories(dir + "/logs");
  {  // every shard writes its journal and its runs' tables, and the merge job the tables once more
    const Footprint f = output_footprint(grid).written(false, false);
    const double tables = f.total() - f.journal, need = f.total() + tables;
    const std::string what = "the sweep writes about " + format_bytes(need) + " (its shards " +
                             format_bytes(f.total()) + ", the merged tables " + format_bytes(tables) + ")";
    const std::string warning = short_of_room(out_abs, need, what);
    std::fprintf(stderr, "%s\n", warning.empty() ? what.c_str() : ("warning: " + warning).c_str());
  }
  // The tasks run a copy of the spec, so editing the original before a requeue changes nothing.
  const std::string spec_copy = dir + "/spec.toml";
  write_file_atomic(spec_copy, spec.text);

  std::string sets;
  for (const auto& s : opt.sets) sets += " --set " + shell_quote(s);
  sets += reuse_args;
  auto header = [&](std::ostringstream& os, const std::string& job) {
    os << "#!/bin/bash\n";
    os << "#SBATCH --job-name=" << job << "\n";
    if (!opt.partition.empty()) os << "#SBATCH --partition=" << opt.partition << "\n";
    if (!opt.account.empty()) os << "#SBATCH --account=" << opt.account << "\n";
    if (!opt.time.empty()) os << "#SBATCH --time=" << opt.time << "\n";
    for (const auto& e : opt.extra) os << e << (e.empty() || e.back() != '\n' ? "\n" : "");
  };

  // A shard an earlier submission finished (a complete manifest of this sweep, cut into as many shards)
  // is not submitted again: the same command after a partial sweep runs only what is left.
  auto finished = [&](long shard) {
    const std::string shard_dir = out_abs + "/shard-" + std::to_string(shard);
    if (!fsys::exists(shard_dir + "/manifest.json")) return false;
    try {
      const Manifest m = read_manifest(shard_dir);
      const bool failed = m.json.value("counts", nlohmann::json::object()).value("failed", 0L) > 0;
      return m.hash() == spec.hash() && m.shard(grid).count == opt.tasks && m.json.value("complete", false) &&
             !(opt.retry_failed && failed);
    } catch (const InputError&) {
      return false;
    }
  };
  for (const auto& f : fsys::directory_iterator(dir))  // the arrays of an earlier submission
    if (f.path().extension() == ".sbatch" && f.path().stem().string().rfind("array_", 0) == 0) fsys::remove(f.path());

  SlurmScripts out;
  out.dir = dir;
  long n_done = 0;
  for (long offset = 0, k = 0; offset < opt.tasks; offset += max_size, ++k) {
    const long n = std::min(max_size, opt.tasks - offset);
    std::vector<char> done(static_cast<size_t>(n), 0);  // each shard's manifest read once
    for (long i = 0; i < n; ++i) {
      done[size_t(i)] = finished(offset + i);
      n_done += done[size_t(i)];
    }
    std::string indices;  // the array tasks still to run, as ranges: 0-3,5,7-9
    for (long i = 0; i < n;) {
      if (done[size_t(i)]) {
        ++i;
        continue;
      }
      long j = i;
      while (j + 1 < n && !done[size_t(j + 1)]) ++j;
      indices += (indices.empty() ? "" : ",") + std::to_string(i) + (j > i ? "-" + std::to_string(j) : "");
      i = j + 1;
    }
    if (indices.empty()) continue;
    std::ostringstream os;
    header(os, "flowsweep-" + name);
    os << "#SBATCH --array=" << indices << (opt.parallel > 0 ? "%" + std::to_string(opt.parallel) : "") << "\n";
    os << "#SBATCH --output=" << dir << "/logs/%A_%a.out\n";
    os << "#SBATCH --open-mode=append\n";  // a requeued task's log keeps the earlier attempts
    os << "#SBATCH --requeue\n";
    os << "#SBATCH --signal=B:USR1@" << opt.signal_seconds << "\n";
    os << "#SBATCH --ntasks=1\n";  // one flowsweep process per array task; --gpus-per-task needs it
    if (gpus > 0) os << "#SBATCH --gpus-per-task=" << gpus << "\n";
    if (want_gpu && !opt.gres.empty()) os << "#SBATCH --gres=" << opt.gres << "\n";
    if (opt.cpus_per_task > 0) os << "#SBATCH --cpus-per-task=" << opt.cpus_per_task << "\n";
    os << "# Shard I of N runs in array task I - FLOWSWEEP_SHARD_OFFSET; a requeued task resumes its shard.\n";
    os << "export FLOWSWEEP_SHARDS=" << opt.tasks << "\n";
    os << "export FLOWSWEEP_SHARD_OFFSET=" << offset << "\n";
    os << "shard=$((FLOWSWEEP_SHARD_OFFSET + SLURM_ARRAY_TASK_ID))\n";
    os << "# USR1 (Slurm's warning ahead of the time limit): flowsweep saves what it has, and the task is\n"
          "# requeued to go on from there.\n";
    os << "requeue() {\n  kill -TERM \"$child\" 2>/dev/null\n  wait \"$child\"\n"
          "  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n  exit 0\n}\n";
    os << "# TERM (scancel; preemption, which Slurm requeues itself where its preemption mode says so):\n"
          "# flowsweep saves what it has and the task ends. A later submission resumes it.\n";
    os << "cancel() {\n  kill -TERM \"$child\" 2>/dev/null\n  wait \"$child\"\n  exit 143\n}\n";
    os << "trap requeue USR1\ntrap cancel TERM\n";
    os << "# Every attempt resumes from what the shard's directory holds.\n";
    os << shell_quote(exe) << " run " << shell_quote(spec_copy) << " --out " << shell_quote(out_abs) << "/shard-$shard"
       << sets << " --backend " << task_backend << " --threads \"${SLURM_CPUS_PER_TASK:-0}\" --resume &\n";
    os << "child=$!\nwait \"$child\"\nexit $?\n";
    const std::string path = dir + "/array_" + std::to_string(k) + ".sbatch";
    write_file_atomic(path, os.str());
    out.arrays.push_back(path);
    out.offsets.push_back(offset);
    out.tasks.push_back(indices);
    out.text += "# " + path + "\n" + os.str() + "\n";
  }
  if (n_done > 0)
    std::fprintf(stderr, "%ld of %ld shards are complete in %s; the other %ld are submitted\n", n_done, opt.tasks,
                 out_abs.c_str(), opt.tasks - n_done);
  std::ostringstream ms;
  header(ms, "flowsweep-" + name + "-merge");
  ms << "#SBATCH --output=" << dir << "/logs/merge_%j.out\n";
  ms << shell_quote(exe) << " merge " << shell_quote(out_abs) << "/shard-* --out " << shell_quote(out_abs)
     << "/merged\n";
  out.merge = dir + "/merge.sbatch";
  write_file_atomic(out.merge, ms.str());
  out.text += "# " + out.merge + "\n" + ms.str();
  return out;
}

std::vector<std::string> submit_slurm(const SlurmScripts& s) {
  std::vector<std::string> ids;
  for (const auto& a : s.arrays) {
    int status = 0;
    std::string id = run_command("sbatch --parsable " + shell_quote(a), &status);
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    if (status != 0 || id.empty()) throw RuntimeError("sbatch " + a + " failed: " + id);
    ids.push_back(id.substr(0, id.find(';')));
  }
  std::string dep = ids.empty() ? "" : " --dependency=afterany";
  for (const auto& id : ids) dep += ":" + id;
  int status = 0;
  std::string id = run_command("sbatch --parsable" + dep + " " + shell_quote(s.merge), &status);
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  if (status != 0 || id.empty()) throw RuntimeError("sbatch " + s.merge + " failed: " + id);
  ids.push_back(id.substr(0, id.find(';')));

  const std::string jobs_path = s.dir + "/jobs.json";
  nlohmann::json jobs = {{"submissions", nlohmann::json::array()}};
  try {
    if (std::filesystem::exists(jobs_path)) jobs = nlohmann::json::parse(read_file(jobs_path));
  } catch (const std::exception&) {  // a damaged record of earlier submissions: this one starts it again
    jobs = {{"submissions", nlohmann::json::array()}};
  }
  nlohmann::json sub = {{"submitted", utc_now_iso()}, {"arrays", nlohmann::json::array()}, {"merge", ids.back()}};
  for (size_t k = 0; k < s.arrays.size(); ++k)
    sub["arrays"].push_back({{"job", ids[k]}, {"offset", s.offsets[k]}, {"tasks", s.tasks[k]}});
  jobs["submissions"].push_back(sub);
  write_file_atomic(jobs_path, jobs.dump(1) + "\n");
  return ids;
}

std::map<long, SlurmTask> slurm_tasks(const std::string& out_dir) {
  std::map<long, SlurmTask> out;
  nlohmann::json jobs;
  try {
    jobs = nlohmann::json::parse(read_file(out_dir + "/slurm/jobs.json"));
    std::string ids;
    for (const auto& sub : jobs.at("submissions"))  // later submissions take over the shards they name
      for (const auto& a : sub.at("arrays")) {
        const std::string job = a.at("job").get<std::string>();
        const long offset = a.at("offset").get<long>();
        const std::string tasks = a.at("tasks").get<std::string>();
        for (size_t start = 0; start < tasks.size();) {
          const size_t end = std::min(tasks.find(',', start), tasks.size());
          const std::string part = tasks.substr(start, end - start);
          const size_t dash = part.find('-');
          const long lo = std::stol(part), hi = dash == std::string::npos ? lo : std::stol(part.substr(dash + 1));
          for (long t = lo; t <= hi; ++t) out[offset + t].id = job + "_" + std::to_string(t);
          start = end + 1;
        }
        ids += (ids.empty() ? "" : ",") + job;
      }
    int status = 0;  // one line per task (-r), "JOB_TASK STATE"
    const std::string q = run_command("squeue -h -r -o '%i %T' -j " + shell_quote(ids) + " 2>/dev/null", &status);
    if (status != 0) return out;
    std::map<std::string, std::string> state;
    std::istringstream lines(q);
    for (std::string id, st; lines >> id >> st;) state[id] = st;
    for (auto& [shard, task] : out)
      if (const auto it = state.find(task.id); it != state.end()) task.state = it->second;
  } catch (const std::exception&) {  // no record (a sweep submitted by hand) or a damaged one
  }
  return out;
}

}  // namespace fs
