// `flowsweep status DIR`: done, in flight and missing runs of an output directory, from its journal.
#include <signal.h>

#include <filesystem>
#include <sstream>

#include "host/journal.h"
#include "host/outputs.h"
#include "host/shard.h"
#include "host/sweep.h"
#include "host/util.h"

namespace fs {

std::string sweep_status(const std::string& dir) {
  const nlohmann::json m = read_manifest(dir);
  const Spec spec = spec_of_manifest(m);
  const Grid grid(spec);
  Shard shard{m.value("/shard/index"_json_pointer, 0L), m.value("/shard/count"_json_pointer, 1L)};
  const std::vector<long> mine = shard_runs(grid, shard);
  const ResultStore store({dir}, grid);
  long saved = 0;  // counted from the checkpoint file's frames, without reading the runs' states
  try {
    saved = long(scan_journal(checkpoint_path(dir), spec.hash()).entries.size());
  } catch (const RuntimeError&) {
  }
  long done = 0;
  std::vector<long> missing;
  for (long i : mine) {
    if (store.has(i))
      ++done;
    else
      missing.push_back(i);
  }
  bool running = false;
  const std::string lock = dir + "/.running";
  if (std::filesystem::exists(lock)) {
    const long pid = std::atol(read_file(lock).c_str());
    running = pid > 0 && ::kill(pid_t(pid), 0) == 0;
  }
  std::ostringstream os;
  os << dir << ": shard " << shard.index << "/" << shard.count << ", " << mine.size() << " runs: " << done
     << " done, " << missing.size() << (running ? " running or to run" : " missing");
  if (saved) os << " (" << saved << " checkpointed in flight)";
  os << "; " << (m.value("complete", false) && missing.empty() ? "complete" : "incomplete") << "\n";
  for (const auto& p : store.problems()) os << "  journal: " << p << "\n";
  for (size_t k = 0; k < missing.size() && k < 20; ++k) os << "  missing " << grid.id(missing[k]) << "\n";
  if (missing.size() > 20) os << "  ... and " << missing.size() - 20 << " more\n";
  return os.str();
}

}  // namespace fs
