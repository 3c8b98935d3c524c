// The journal: one small file per finished run, written whole (temporary name, then rename) the moment
// the run ends, under <out>/runs/<run_id>.json. It is what a resumed shard skips and what a merge reads;
// each entry carries a checksum of its content, so a corrupt or truncated entry is named, never used.
#pragma once

#include <optional>
#include <string>

#include "host/registry.h"

namespace fs {

std::string journal_dir(const std::string& out_dir);
std::string journal_path(const std::string& out_dir, const std::string& run_id);

void write_journal_entry(const std::string& out_dir, const std::string& run_id, long index, const RunResult& r);

// The entry of `run_id`, or nullopt when there is none; throws RuntimeError naming the file when the
// entry exists but is corrupt or truncated, or was written by a version of the model whose outputs
// differ from `info`'s.
std::optional<RunResult> read_journal_entry(const std::string& out_dir, const std::string& run_id,
                                           const ModelInfo& info);

}  // namespace fs
