// `flowsweep status DIR`: done, in flight and missing runs of an output directory, from its journal.
#include <filesystem>
#include <sstream>

#include "host/journal.h"
#include "host/outputs.h"
#include "host/shard.h"
#include "host/sweep.h"
#include "host/util.h"

namespace fs {

std::string sweep_status(const std::string& dir) {
  const Manifest manifest = read_manifest(dir);
  const nlohmann::json& m = manifest.json;
  const Spec spec = manifest.spec();
  const Grid grid(spec);
  const Shard shard = manifest.shard(grid);
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
  const bool running = DirLock::holder(dir) != 0;
  std::ostringstream os;
  os << dir << ": shard " << shard.index << "/" << shard.count << ", " << mine.size() << " runs: " << done << " done, "
     << missing.size() << (running ? " running or to run" : " missing");
  if (saved) os << " (" << saved << " checkpointed in flight)";
  os << "; " << (m.value("complete", false) && missing.empty() ? "complete" : "incomplete") << "\n";
  for (const auto& p : store.problems()) os << "  journal: " << p << "\n";
  for (size_t k = 0; k < missing.size() && k < 20; ++k) os << "  missing " << grid.id(missing[k]) << "\n";
  if (missing.size() > 20) os << "  ... and " << missing.size() - 20 << " more\n";
  return os.str();
}

}  // namespace fs
