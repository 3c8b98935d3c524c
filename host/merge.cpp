// `flowsweep merge`: the shards' journals, deduplicated by run, as one sweep's tables.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "host/outputs.h"
#include "host/shard.h"
#include "host/sweep.h"
#include "host/util.h"

namespace fs {

MergeOutcome merge_shards(const std::vector<std::string>& dirs, const std::string& out_dir, bool quiet,
                          bool csv_trajectories) {
  if (dirs.empty()) throw InputError("merge: no shard directories given");
  std::vector<Manifest> manifests;
  for (const auto& d : dirs) manifests.push_back(read_manifest(d));
  const auto& m0 = manifests[0].json;
  const std::string hash = manifests[0].hash();
  for (size_t i = 1; i < dirs.size(); ++i)
    if (manifests[i].hash() != hash)
      throw InputError("merge: " + dirs[i] + " holds another sweep (spec hash " + manifests[i].hash() + ", " + dirs[0] +
                       " has " + hash + ")");
  const Spec spec = manifests[0].spec();
  const Grid grid(spec);
  long count = 1;
  for (const auto& mf : manifests) count = std::max(count, mf.shard(grid).count);

  // The merged tables go beside nothing of another sweep.
  if (const std::string other = other_sweep_in(out_dir, hash); !other.empty())
    throw InputError("merge --out " + out_dir + " " + other + "; choose another --out");

  MergeOutcome out;
  // Files a shard lists are checked against its checksums; a bad one is named and that shard's tables
  // are not trusted (its journal still is, record by record).
  for (size_t i = 0; i < dirs.size(); ++i)
    if (manifests[i].json.contains("checksums_xxh3_64") && manifests[i].json["checksums_xxh3_64"].is_object())
      for (const auto& [f, sum] : manifests[i].json["checksums_xxh3_64"].items()) {
        const std::string path = dirs[i] + "/" + f;
        std::string got;
        try {
          got = file_checksum(path);
        } catch (const std::exception&) {
          got = "unreadable";
        }
        if (!sum.is_string() || got != sum.get<std::string>()) out.corrupt.push_back(path + " (checksum mismatch)");
      }
  ResultStore store(dirs, grid);
  for (const auto& p : store.problems()) out.corrupt.push_back(p);

  std::vector<long> all(size_t(grid.size()));
  for (long i = 0; i < grid.size(); ++i) all[size_t(i)] = i;
  make_dir(out_dir);
  const DirLock lock(out_dir);
  nlohmann::json m;
  m["merged_from"] = dirs;
  m["provenance"] = m0.value("provenance", nlohmann::json());  // the shards' runs', as the first shard gives it
  m["backend"] = m0.value("backend", std::string());
  m["device"] = m0.value("device", std::string());
  m["shard"] = {{"index", 0}, {"count", 1}, {"grid_runs", grid.size()}, {"merged_shards", count}};

  // Missing and failed runs, named with the shard that owns them.
  std::vector<int32_t> owner;
  auto named = [&](long i) {
    if (owner.empty()) owner = shard_of_runs(grid, count);
    return grid.name(i) + " in shard " + std::to_string(owner[size_t(i)]) + "/" + std::to_string(count);
  };
  OutputOptions oo;
  oo.absent = RunResult::kMissing;
  oo.csv_trajectories = csv_trajectories;
  oo.threads = default_threads();
  for (const auto& mf : manifests) oo.save_params |= mf.json.value("save_params", false);
  m["save_params"] = oo.save_params;
  const OutputSummary sum =
      write_outputs(out_dir, grid, all, store, oo, m, [&](nlohmann::json& mf, const OutputSummary& s) {
        for (const auto& u : s.unreadable) out.corrupt.push_back(u);
        for (long i : s.absent) out.missing.push_back(named(i));
        mf["complete"] = out.missing.empty();
        mf["missing_runs"] = out.missing;
        mf["corrupt_files"] = out.corrupt;
      });
  for (long i : sum.failed) out.failed.push_back(named(i) + ": " + store.fetch(grid.point(i)).message);
  out.n_runs = grid.size();
  if (!quiet || !out.missing.empty() || !out.corrupt.empty() || !out.failed.empty()) {
    for (const auto& c : out.corrupt) std::fprintf(stderr, "corrupt: %s\n", c.c_str());
    for (const auto& f : out.failed) std::fprintf(stderr, "failed: %s\n", f.c_str());
    for (const auto& mi : out.missing) std::fprintf(stderr, "missing: %s\n", mi.c_str());
  }
  return out;
}

}  // namespace fs
