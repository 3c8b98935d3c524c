#include "host/outputs.h"

#include <unistd.h>

#include "host/build_info.h"

#include <algorithm>
#include <filesystem>
#include <limits>

#include "host/h5.h"
#include "host/tables.h"
#include "host/util.h"
#include "host/worker_pool.h"

namespace fs {

ResultStore::ResultStore(const std::vector<std::string>& dirs, const Grid& grid) : grid_(grid), dirs_(dirs) {
  const std::string hash = grid.spec().hash();
  for (size_t d = 0; d < dirs.size(); ++d) {
    const std::string path = journal_path(dirs[d]);
    JournalScan scan;
    try {
      scan = scan_journal(path, hash);
    } catch (const RuntimeError& e) {
      problems_.push_back(e.what());
    }
    if (!scan.problem.empty())
      problems_.push_back(path + ": " + scan.problem + " at byte " + std::to_string(scan.valid_bytes) + " (" +
                          std::to_string(scan.file_bytes - scan.valid_bytes) + " bytes after it not read)");
    paths_.push_back(path);
    files_.push_back(scan.entries.empty() ? nullptr : std::fopen(path.c_str(), "rb"));
    entries_.push_back(std::move(scan.entries));
  }
  // Every result in journal order (the last record of a run is its record), in the form its count suits.
  long results = 0;
  for (const auto& es : entries_)
    for (const auto& e : es) results += e.kind == kRecordResult && e.index >= 0 && e.index < grid.size();
  const bool dense = 4 * double(results) >= double(grid.size());
  if (dense)
    loc_.assign(size_t(grid.size()), -1);
  else
    sparse_.reserve(size_t(results));
  for (size_t d = 0; d < entries_.size(); ++d) {
    const auto& es = entries_[d];
    for (size_t k = 0; k < es.size(); ++k) {
      if (es[k].kind != kRecordResult) continue;
      if (es[k].index < 0 || es[k].index >= grid.size()) {
        problems_.push_back(paths_[d] + ": a record of run " + std::to_string(es[k].index) + ", outside the grid");
        continue;
      }
      if (dense)
        loc_[size_t(es[k].index)] = long(d) << 40 | long(k);
      else
        sparse_.push_back({es[k].index, long(d) << 40 | long(k)});
    }
  }
  if (dense) return;
  std::stable_sort(sparse_.begin(), sparse_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t kept = 0;
  for (size_t k = 0; k < sparse_.size(); ++k) {
    if (kept > 0 && sparse_[kept - 1].first == sparse_[k].first)
      sparse_[kept - 1] = sparse_[k];
    else
      sparse_[kept++] = sparse_[k];
  }
  sparse_.resize(kept);
  sparse_.shrink_to_fit();
}

long ResultStore::loc(long index) const {
  if (!loc_.empty()) return loc_[size_t(index)];
  const auto it = std::lower_bound(sparse_.begin(), sparse_.end(), std::pair<long, long>{index, -1},
                                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return it != sparse_.end() && it->first == index ? it->second : -1;
}

ResultStore::~ResultStore() {
  for (auto* f : files_)
    if (f) std::fclose(f);
}

const JournalEntry& ResultStore::entry(long index) const {
  const long l = loc(index);
  return entries_[size_t(l >> 40)][size_t(l & ((1L << 40) - 1))];
}

long ResultStore::records_of(long index) const { return long(entry(index).records); }
long ResultStore::rows_of(long index) const { return long(entry(index).rows); }

RunResult ResultStore::fetch(const RunPoint& p) const {
  const size_t d = size_t(loc(p.index) >> 40);
  const JournalEntry& e = entry(p.index);
  const Window* w = d < windows_.size() ? &windows_[d] : nullptr;
  if (w && e.offset >= w->offset && e.offset + e.bytes <= w->offset + w->size)
    return decode_result(w->bytes.substr(size_t(e.offset - w->offset), size_t(e.bytes)), record_where(paths_[d], e),
                         p.id, grid_.spec().entry->info);
  return read_result(files_[d], paths_[d], e, p.id, grid_.spec().entry->info);
}

void ResultStore::load(const std::vector<long>& rows, size_t first, long n) {
  windows_.resize(files_.size());
  const size_t D = files_.size();
  std::vector<long> lo(D, std::numeric_limits<long>::max()), hi(D, 0), need(D, 0);
  for (size_t k = first; k < first + size_t(n); ++k) {
    if (!has(rows[k])) continue;
    const size_t d = size_t(loc(rows[k]) >> 40);
    const JournalEntry& e = entry(rows[k]);
    lo[d] = std::min(lo[d], e.offset);
    hi[d] = std::max(hi[d], e.offset + e.bytes);
    need[d] += e.bytes;
  }
  for (size_t d = 0; d < D; ++d) {
    Window& w = windows_[d];
    w.offset = w.size = 0;
    // Only records that lie close together: a block whose runs are spread over a journal (a resumed
    // sweep, shards merged out of order) is read a record at a time.
    const long span = hi[d] - lo[d];
    if (need[d] == 0 || span > 2 * need[d] + (1L << 20) || span > (1L << 28)) continue;
    if (w.bytes.size() < size_t(span)) w.bytes.resize(size_t(span));
    if (read_bytes_at(files_[d], lo[d], w.bytes.data(), size_t(span)))  // else fetch reads each, and says which fails
      w.offset = lo[d], w.size = span;
  }
}

nlohmann::json provenance_json(const std::string& command_line) {
  const BuildInfo& b = build_info();
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  return {{"commit", b.commit},     {"tree_dirty", b.dirty},       {"build_type", b.build_type},
          {"compiler", b.compiler}, {"cxx_flags", b.cxx_flags},    {"cuda_architectures", b.cuda_architectures},
          {"host", host},           {"command_line", command_line}};
}

nlohmann::json spec_json(const Spec& spec) {
  nlohmann::json j = {{"path", spec.path},   {"name", spec.name},       {"model", spec.model},
                      {"hash", spec.hash()}, {"seed", spec.sweep_seed}, {"overrides", spec.overrides},
                      {"text", spec.text}};
  // The resolved form lists every axis value: kept where it stays readable (the text reproduces it).
  const std::string canonical = spec.canonical(65536);
  if (!canonical.empty()) j["canonical"] = canonical;
  return j;
}

std::string dump_json(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

namespace {

constexpr const char* kSelfChecksum = "manifest_xxh3_64";

std::string self_checksum(nlohmann::json m) {
  m.erase(kSelfChecksum);
  return hex64(xxh3_64(dump_json(m)));
}

}  // namespace

void write_manifest(const std::string& dir, nlohmann::json m) {
  m[kSelfChecksum] = self_checksum(m);
  write_file_atomic(dir + "/manifest.json", dump_json(m));
}

Manifest read_manifest(const std::string& dir) {
  Manifest m;
  m.path = dir + "/manifest.json";
  if (!std::filesystem::exists(m.path)) throw InputError(m.path + ": missing (not a flowsweep output directory?)");
  try {
    m.json = nlohmann::json::parse(read_file(m.path));
  } catch (const std::exception& e) {
    throw InputError(m.path + ": corrupt manifest (" + std::string(e.what()) + ")");
  }
  if (!m.json.is_object() || !m.json.contains(kSelfChecksum) || !m.json[kSelfChecksum].is_string())
    throw InputError(m.path + ": key '" + kSelfChecksum + "': missing; not a manifest this version wrote, or damaged");
  if (m.json[kSelfChecksum].get<std::string>() != self_checksum(m.json))
    throw InputError(m.path + ": checksum mismatch; the manifest was edited or damaged");
  return m;
}

std::string other_sweep_in(const std::string& dir, const std::string& spec_hash) {
  if (!std::filesystem::exists(dir + "/manifest.json")) {
    const std::string owner = journal_owner(journal_path(dir));
    return owner.empty() || owner == spec_hash ? "" : "holds the journal of another sweep (spec hash " + owner + ")";
  }
  try {
    const Manifest m = read_manifest(dir);
    return m.hash() == spec_hash ? ""
                                 : "holds another sweep ('" + m.json.value("/spec/name"_json_pointer, std::string()) +
                                       "', spec hash " + m.hash() + "; this one " + spec_hash + ")";
  } catch (const InputError& e) {
    return journal_owner(journal_path(dir)) == spec_hash
               ? ""
               : "has a manifest that cannot be trusted (" + std::string(e.what()) + ")";
  }
}

namespace {

template <typename T>
T manifest_value(const Manifest& m, const std::string& key) {
  const auto ptr = nlohmann::json::json_pointer("/" + key);
  std::string dotted = key;
  std::replace(dotted.begin(), dotted.end(), '/', '.');
  if (!m.json.contains(ptr)) throw InputError(m.path + ": key '" + dotted + "': missing");
  try {
    return m.json.at(ptr).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw InputError(m.path + ": key '" + dotted + "': wrong type (" + m.json.at(ptr).type_name() + ")");
  }
}

}  // namespace

std::string Manifest::hash() const { return manifest_value<std::string>(*this, "spec/hash"); }

Spec Manifest::spec() const {
  Spec s = parse_spec(manifest_value<std::string>(*this, "spec/text"), manifest_value<std::string>(*this, "spec/path"),
                      manifest_value<std::vector<std::string>>(*this, "spec/overrides"));
  if (s.hash() != hash()) throw InputError(path + ": key 'spec.hash': does not match the spec it records");
  return s;
}

Shard Manifest::shard(const Grid& grid) const {
  Shard s;
  s.index = manifest_value<long>(*this, "shard/index");
  s.count = manifest_value<long>(*this, "shard/count");
  if (s.count < 1 || s.count > kMaxGridRuns)
    throw InputError(path + ": key 'shard.count': " + std::to_string(s.count) + " is not a shard count (1 to " +
                     std::to_string(kMaxGridRuns) + ")");
  if (s.index < 0 || s.index >= s.count)
    throw InputError(path + ": key 'shard.index': " + std::to_string(s.index) + " is not in 0.." +
                     std::to_string(s.count - 1));
  if (manifest_value<long>(*this, "shard/grid_runs") != grid.size())
    throw InputError(path + ": key 'shard.grid_runs': does not match the grid of the spec it records (" +
                     std::to_string(grid.size()) + " runs)");
  return s;
}

OutputSummary write_outputs(const std::string& out_dir, const Grid& grid, const std::vector<long>& rows,
                            ResultStore& store, const OutputOptions& opt, nlohmann::json manifest,
                            const std::function<void(nlohmann::json&, const OutputSummary&)>& amend) {
  OutputSummary sum;
  const Spec& spec = grid.spec();
  const ModelInfo& info = spec.entry->info;
  const std::string dir = out_dir + "/";
  long K = 0, n_final_rows = 0;
  for (long i : rows)
    if (store.has(i)) {
      K = std::max(K, store.records_of(i));
      n_final_rows = std::max(n_final_rows, store.rows_of(i));
    }

  std::vector<std::string> files = {"runs.csv", "phase_diagram.csv", "trajectories.h5"};
  AtomicFile runs_file(dir + "runs.csv");
  const RunsCsv runs_csv(spec);
  runs_file.write(runs_csv.header());
  PhaseDiagram pd(spec);
  TrajectoriesH5 h5(dir + "trajectories.h5", spec, long(rows.size()), K, n_final_rows, opt.save_params);
  std::unique_ptr<AtomicFile> traj, finals;
  if (opt.csv_trajectories) {
    traj = std::make_unique<AtomicFile>(dir + "trajectories.csv");
    traj->write(trajectories_header(spec));
    files.push_back("trajectories.csv");
  }
  if (!info.final_table.empty()) {
    finals = std::make_unique<AtomicFile>(dir + "final_config.csv");
    finals->write(final_config_header(spec));
    files.push_back("final_config.csv");
  }

  // Records are read and their rows formatted on a pool, a block of runs at a time; the files, the phase
  // diagram and trajectories.h5 take them in order on one thread at a time, so the tables do not depend
  // on the number of threads. A block is written while the pool makes the next one's rows.
  struct Row {
    RunPoint p;
    RunResult r;
    bool found = false;
    std::string unreadable, runs_row, trajectory_rows, final_rows;
  };
  WorkerPool pool(std::max(1, opt.threads));
  // Blocks of about 2^22 words of series (32 MB) and at most 1024 runs; a run's saved parameters can be
  // megabytes, so with them a block is a run per thread.
  const long words_per_run = std::max<long>(1, K * long(info.observables.size() + 8));
  const long block =
      opt.save_params ? pool.size() : std::max<long>(pool.size(), std::min<long>(1024, (1L << 22) / words_per_run));
  std::vector<Row> made[2];  // the block being made, and the one before it, being written
  for (auto& m : made) m.resize(size_t(std::min<long>(block, long(rows.size()))));
  auto make_row = [&](long i, Row& w) {
    w.p = grid.label(i);
    w.found = store.has(i);
    w.unreadable.clear();
    if (w.found) {
      try {
        w.r = store.fetch(w.p);
      } catch (const RuntimeError& e) {
        w.unreadable = e.what();
        w.found = false;
      }
    }
    if (!w.found) {
      w.r = RunResult{};
      w.r.status = opt.absent;
      w.r.final_loss = NAN;
      w.r.t_final = NAN;
    }
    w.runs_row.clear();
    runs_csv.row(w.runs_row, w.p, w.r);
    w.trajectory_rows.clear();
    if (traj) trajectory_rows(w.trajectory_rows, w.p, w.r);
    w.final_rows.clear();
    if (finals) final_config_rows(w.final_rows, w.p, w.r);
  };

  long* counts = sum.counts;
  nlohmann::json failures = nlohmann::json::array();
  auto write_rows = [&](std::vector<Row>& rows_made, long n) {
    for (long k = 0; k < n; ++k) {
      Row& w = rows_made[size_t(k)];
      const long i = w.p.index;
      if (!w.unreadable.empty()) sum.unreadable.push_back(w.unreadable);
      if (!w.found) sum.absent.push_back(i);
      counts[int(w.r.status)]++;
      if (w.r.status == RunResult::kFailed) {
        failures.push_back({{"run_id", w.p.id}, {"message", w.r.message}});
        sum.failed.push_back(i);
      }
      runs_file.write(w.runs_row);
      pd.add(w.p, w.r);
      h5.add(w.p, w.r);
      if (traj) traj->write(w.trajectory_rows);
      if (finals) finals->write(w.final_rows);
    }
  };
  long n_before = 0;  // rows of the block before, in made[1 - cur], not yet written
  for (size_t first = 0, cur = 0;; first += size_t(block), cur = 1 - cur) {
    const long n = first < rows.size() ? std::min<long>(block, long(rows.size() - first)) : 0;
    if (n == 0 && n_before == 0) break;
    // Item 0 writes the block before (items are taken in order, so it starts first); the rest make this one.
    const long w = n_before > 0 ? 1 : 0;
    store.load(rows, first, n);
    pool.for_each(n + w, [&](long k) {
      if (k < w)
        write_rows(made[1 - cur], n_before);
      else
        make_row(rows[first + size_t(k - w)], made[cur][size_t(k - w)]);
    });
    n_before = n;
  }
  runs_file.commit();
  h5.commit();
  if (traj) traj->commit();
  if (finals) finals->commit();
  write_file_atomic(dir + "phase_diagram.csv", pd.csv());
  // Tables of an earlier attempt that this one does not write would stand beside it as if they were its own.
  if (!opt.csv_trajectories) std::remove((dir + "trajectories.csv").c_str());

  manifest["flowsweep_version"] = FLOWSWEEP_VERSION;
  manifest["created"] = utc_now_iso();
  manifest["spec"] = spec_json(spec);
  nlohmann::json axes = nlohmann::json::array();
  for (const auto& a : spec.axes) {
    auto value = [](const Value& v) { return v.is_str ? nlohmann::json(v.str) : nlohmann::json(v.num); };
    nlohmann::json ax = {{"name", a.name}, {"section", a.section}, {"kind", a.kind}, {"count", a.values.size()}};
    if (a.values.size() <= 1000) {  // a seed range of 10^6 is its first and last value
      nlohmann::json vals = nlohmann::json::array();
      for (const auto& v : a.values) vals.push_back(value(v));
      ax["values"] = vals;
    } else {
      ax["first"] = value(a.values.front());
      ax["last"] = value(a.values.back());
    }
    axes.push_back(ax);
  }
  manifest["axes"] = axes;
  manifest["counts"] = {{"runs", long(rows.size())},
                        {"ok", counts[RunResult::kOk]},
                        {"diverged", counts[RunResult::kDiverged]},
                        {"failed", counts[RunResult::kFailed]},
                        {"missing", counts[RunResult::kMissing] + counts[RunResult::kCancelled]}};
  manifest["failures"] = failures;
  nlohmann::json sums = nlohmann::json::object();
  // trajectories.h5 checks itself (a Fletcher-32 checksum per chunk); reading gigabytes back to hash
  // them again would double the cost of writing them.
  for (const auto& f : files)
    if (f != "trajectories.h5") sums[f] = file_checksum(dir + f);
  manifest["files"] = files;
  manifest["checksums_xxh3_64"] = sums;
  if (amend) amend(manifest, sum);
  write_manifest(out_dir, std::move(manifest));
  return sum;
}

}  // namespace fs
