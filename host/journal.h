// The journal: one append-only file per output directory, <out>/journal.fsj, holding a record for every
// finished run, and <out>/checkpoint.fsj, the runs in flight at the last checkpoint (replaced whole each
// time). Both are sequences of framed records:
//
//   "FSJ1" | kind (u32) | grid index (u64) | records (u32) | final rows (u32) | payload bytes (u64)
//          | XXH3-64 of the header fields and the payload (u64) | payload
//
// so a torn or corrupt record is found by its checksum, never read as a valid one. The journal's first
// line names the spec hash it belongs to. Finished runs are appended a slice at a time and fsync'd at
// every checkpoint; a crash loses at most the unsynced tail, and a resume truncates a torn tail and runs
// those runs again. What `--resume`, `merge` and `status` read.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "host/registry.h"

namespace fs {

std::string journal_path(const std::string& out_dir);     // <out>/journal.fsj
std::string checkpoint_path(const std::string& out_dir);  // <out>/checkpoint.fsj

enum JournalKind : uint32_t { kRecordResult = 1, kRecordCheckpoint = 2 };

// Where one record lies in its file.
struct JournalEntry {
  uint32_t kind = 0;
  long index = 0;   // grid index of the run
  long offset = 0;  // of the payload
  long bytes = 0;
  uint32_t records = 0, rows = 0;  // the run's recorded steps and final-configuration rows
};

struct JournalScan {
  std::vector<JournalEntry> entries;  // valid records, in file order
  long valid_bytes = 0;               // where the valid prefix ends
  long file_bytes = 0;
  std::string problem;  // empty, or what was wrong with the record at valid_bytes
};

// Reads every valid record of `path`; stops at the first torn or corrupt one and says where. A file
// that does not exist scans as empty. `spec_hash` (when not empty) must match the file's; a journal of
// another sweep is a RuntimeError naming the file.
JournalScan scan_journal(const std::string& path, const std::string& spec_hash);

// The spec hash a journal's header names: "" when there is no such file, "?" when it is not a journal.
std::string journal_owner(const std::string& path);

// Appends finished runs to <out>/journal.fsj (created with its header when new).
class JournalWriter {
 public:
  JournalWriter(const std::string& out_dir, const std::string& spec_hash, long truncate_at = -1);
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  void append_result(long index, const std::string& run_id, const RunResult& r);
  void append_record(const std::string& record);  // from journal_record
  void flush();                                   // hands what was appended to the operating system
  void sync();                                    // and makes it durable

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

// Writes the checkpoints of the runs in flight as <out>/checkpoint.fsj (whole, durable, then renamed).
struct Checkpoint {
  long index = 0;
  std::string run_id;
  std::string state;  // from LiveRun::save
};
void write_checkpoints(const std::string& out_dir, const std::string& spec_hash, const std::vector<Checkpoint>& cps);
std::vector<Checkpoint> read_checkpoints(const std::string& out_dir, const std::string& spec_hash);

// n bytes of a file from `offset`, without its stream position, so threads may read one file at once.
bool read_bytes_at(std::FILE* f, long offset, void* out, size_t n);
// "PATH (record at byte N)": where a record's errors say they are.
std::string record_where(const std::string& path, const JournalEntry& e);

// One record's payload, read back: a finished run checked against `run_id` and the model's outputs.
RunResult read_result(std::FILE* f, const std::string& path, const JournalEntry& e, const std::string& run_id,
                      const ModelInfo& info);

// A finished run's whole record (frame and payload), as append_result writes it; any thread may make it.
std::string journal_record(long index, const std::string& run_id, const RunResult& r);

// A finished run's payload, as it is stored (for tests of the encoding).
std::string encode_result(const std::string& run_id, const RunResult& r);
RunResult decode_result(const std::string& payload, const std::string& where, const std::string& run_id,
                        const ModelInfo& info);

}  // namespace fs
