// A sweep's outputs, written from its journals: the run and merge commands both end here, so a merged
// directory holds byte for byte the tables of a single-process run. Runs are read back one at a time in
// grid order and streamed into every table; nothing holds the whole sweep.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "host/grid.h"
#include "host/journal.h"
#include "host/shard.h"

namespace fs {

// The finished runs of one or more output directories, found by grid index. A run recorded twice is
// taken from its latest record.
class ResultStore {
 public:
  ResultStore(const std::vector<std::string>& dirs, const Grid& grid);
  ~ResultStore();
  ResultStore(const ResultStore&) = delete;
  ResultStore& operator=(const ResultStore&) = delete;

  bool has(long index) const { return loc(index) >= 0; }
  // The run's record; RuntimeError naming the file when it cannot be read or belongs to another version.
  RunResult fetch(const RunPoint& p) const;
  // Reads the records of runs rows[first, first + n) with one read per journal where they lie close
  // together (a block of consecutive runs, as a sweep writes them), so that fetch takes them from memory
  // instead of reading each. Not while fetch runs on another thread: write_outputs calls it between blocks.
  void load(const std::vector<long>& rows, size_t first, long n);
  long records_of(long index) const;
  long rows_of(long index) const;
  // Torn tails and corrupt records met while scanning, each naming its file.
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  const Grid& grid_;
  std::vector<std::string> dirs_, paths_;
  std::vector<std::FILE*> files_;
  std::vector<std::vector<JournalEntry>> entries_;
  // Where a run's record lies, dir * 2^40 + entry (-1: none): a table over the whole grid where the records
  // cover a good part of it (a merge), else (run, where) pairs by run, since a task of a large sweep's
  // shards holds a small part of it, and a table would take 8 bytes for every run of the grid in every task
  // (0.8 GB at the largest grid).
  std::vector<long> loc_;                      // (grid size), or empty
  std::vector<std::pair<long, long>> sparse_;  // (runs with a record), by run, while loc_ is empty
  long loc(long index) const;
  std::vector<std::string> problems_;
  struct Window {
    long offset = 0, size = 0;  // the bytes [offset, offset + size) of the journal
    std::string bytes;          // at least size long: it only grows, so a block's read fills no zeros first
  };
  std::vector<Window> windows_;  // (dirs): the bytes load read from each journal
  const JournalEntry& entry(long index) const;
};

struct OutputOptions {
  bool save_params = false;                          // parameters and data under params/ in trajectories.h5
  bool csv_trajectories = false;                     // trajectories.csv as well
  RunResult::Status absent = RunResult::kCancelled;  // the status of a run with no record
  int threads = 1;                                   // threads that read records and format rows
};

// What the tables hold, for the manifest and for messages.
struct OutputSummary {
  long counts[5] = {0, 0, 0, 0, 0};     // by RunResult::Status
  std::vector<long> failed;             // grid indices of failed runs
  std::vector<long> absent;             // grid indices of runs with no readable record
  std::vector<std::string> unreadable;  // records that could not be read, each naming its file
};

// Writes runs.csv, phase_diagram.csv, trajectories.h5 (final_config.csv and trajectories.csv where they
// apply) and, last, manifest.json, for the runs `rows` (grid indices, ascending) of `grid`. A run whose
// record cannot be read is named in the summary and written with the absent status. `amend` may add to
// the manifest once the tables are written.
OutputSummary write_outputs(const std::string& out_dir, const Grid& grid, const std::vector<long>& rows,
                            ResultStore& store, const OutputOptions& opt, nlohmann::json manifest,
                            const std::function<void(nlohmann::json&, const OutputSummary&)>& amend = {});

// The spec as the manifest records it.
nlohmann::json spec_json(const Spec& spec);

// Where a result came from: the binary's commit and build (host/build_info.h), the host and the command.
nlohmann::json provenance_json(const std::string& command_line);

// manifest.json, checked like every other file: it carries the XXH3 of its own text without that key, so
// an edit or a torn copy is found rather than trusted. Every key a reader takes is checked, and an error
// names the file and the key (InputError: exit 2).
struct Manifest {
  std::string path;
  nlohmann::json json;

  Spec spec() const;                    // the spec it was written from, checked against its hash
  Shard shard(const Grid& grid) const;  // 0 <= index < count <= kMaxGridRuns
  std::string hash() const;             // the spec hash it records
};
Manifest read_manifest(const std::string& dir);
void write_manifest(const std::string& dir, nlohmann::json m);

// What makes `dir` another sweep's than the one of `spec_hash`, for a message ("holds another sweep
// (...)"); "" when it holds this sweep or none. A manifest that cannot be trusted is another sweep's unless
// the directory's journal says it is this one's.
std::string other_sweep_in(const std::string& dir, const std::string& spec_hash);

// JSON text with any invalid UTF-8 (a path, a message) replaced rather than thrown over.
std::string dump_json(const nlohmann::json& j);

}  // namespace fs
