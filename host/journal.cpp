#include "host/journal.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "host/bytes.h"
#include "host/util.h"

namespace fs {

namespace {

constexpr char kMagic[4] = {'F', 'S', 'J', '1'};

struct Frame {
  char magic[4];
  uint32_t kind;
  uint64_t index;
  uint32_t records, rows;
  uint64_t bytes;
  uint64_t checksum;
};
static_assert(sizeof(Frame) == 40, "frame layout");

uint64_t frame_checksum(const Frame& f, const char* payload, size_t n) {
  return XXH3_64bits_withSeed(payload, n, XXH3_64bits(&f, offsetof(Frame, checksum)));
}

// Format 3: final-configuration rows carry the weight at each detector's answer, and checkpoints the
// attention table. Format 2: detector answers are steps (format 1 held record indices).
constexpr char kHeaderStart[] = "flowsweep journal 3 spec ";
constexpr size_t kHeaderStartLen = sizeof kHeaderStart - 1;
std::string header_line(const std::string& spec_hash) { return kHeaderStart + spec_hash + "\n"; }

std::string frame(uint32_t kind, long index, uint32_t records, uint32_t rows, const std::string& payload) {
  Frame f{};
  std::memcpy(f.magic, kMagic, 4);
  f.kind = kind;
  f.index = uint64_t(index);
  f.records = records;
  f.rows = rows;
  f.bytes = payload.size();
  f.checksum = frame_checksum(f, payload.data(), payload.size());
  std::string out(reinterpret_cast<const char*>(&f), sizeof f);
  return out + payload;
}

void write_all(int fd, const std::string& s, const std::string& path) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw RuntimeError("cannot write " + path + ": " + std::strerror(errno));
    done += size_t(n);
  }
}

struct FileCloser {
  std::FILE* f;
  ~FileCloser() { std::fclose(f); }
};

}  // namespace

// pread: no shared file position, so several threads may read records of one file at once.
bool read_bytes_at(std::FILE* f, long offset, void* out, size_t n) {
  const int fd = fileno(f);
  char* at = static_cast<char*>(out);
  while (n > 0) {
    const ssize_t got = ::pread(fd, at, n, off_t(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    at += got, offset += long(got), n -= size_t(got);
  }
  return true;
}

std::string record_where(const std::string& path, const JournalEntry& e) {
  return path + " (record at byte " + std::to_string(e.offset) + ")";
}

std::string journal_path(const std::string& out_dir) { return out_dir + "/journal.fsj"; }
std::string checkpoint_path(const std::string& out_dir) { return out_dir + "/checkpoint.fsj"; }

// --- payloads -------------------------------------------------------------------------------------

std::string encode_result(const std::string& run_id, const RunResult& r) {
  ByteWriter w;
  w.put_str(run_id);
  w.put<int32_t>(int32_t(r.status));
  w.put<int64_t>(r.steps);
  w.put(r.t_final);
  w.put(r.dt);
  w.put(r.final_loss);
  w.put_str(r.message);
  w.put<int32_t>(r.series.n_obs);
  w.put_vec(r.series.step);
  w.put_vec(r.series.t);
  w.put_vec(r.series.values);
  std::vector<int64_t> det;
  for (const auto& d : r.detected) det.push_back(d ? int64_t(*d) : int64_t(-1));
  w.put_vec(det);
  w.put_vec(r.final_obs);
  w.put_vec(r.final_config);
  w.put<uint64_t>(r.final_rows.size());
  for (const auto& row : r.final_rows) w.put_vec(row);
  const bool saved = !r.saved.theta.empty();
  w.put<uint8_t>(saved);
  if (saved) {
    w.put_vec(r.saved.theta0);
    w.put_vec(r.saved.theta);
    w.put_vec(r.saved.fixed);
    w.put_vec(r.saved.rdata);
    w.put_vec(r.saved.idata);
  }
  return w.take();
}

RunResult decode_result(const std::string& payload, const std::string& where, const std::string& run_id,
                        const ModelInfo& info) {
  RunResult r;
  try {
    ByteReader in(payload);
    if (in.get_str() != run_id) throw RuntimeError(where + ": holds another run than " + run_id);
    const int32_t status = in.get<int32_t>();
    if (status < RunResult::kOk || status > RunResult::kCancelled) throw std::runtime_error("bad status");
    r.status = RunResult::Status(status);
    r.steps = in.get<int64_t>();
    r.t_final = in.get<double>();
    r.dt = in.get<double>();
    r.final_loss = in.get<double>();
    r.message = in.get_str();
    r.series.n_obs = in.get<int32_t>();
    r.series.step = in.get_vec<long>();
    r.series.t = in.get_vec<double>();
    r.series.values = in.get_vec<double>();
    for (int64_t d : in.get_vec<int64_t>()) r.detected.push_back(d < 0 ? std::nullopt : std::optional<long>(d));
    r.final_obs = in.get_vec<double>();
    r.final_config = in.get_vec<double>();
    const uint64_t rows = in.get<uint64_t>();
    for (uint64_t k = 0; k < rows; ++k) r.final_rows.push_back(in.get_vec<double>());
    if (in.get<uint8_t>()) {
      r.saved.theta0 = in.get_vec<double>();
      r.saved.theta = in.get_vec<double>();
      r.saved.fixed = in.get_vec<double>();
      r.saved.rdata = in.get_vec<double>();
      r.saved.idata = in.get_vec<int>();
    }
    if (!in.done()) throw std::runtime_error("trailing bytes");
    if (r.series.step.size() != r.series.t.size() ||
        r.series.values.size() != r.series.step.size() * size_t(std::max(0, r.series.n_obs)))
      throw std::runtime_error("series of inconsistent lengths");
  } catch (const RuntimeError&) {
    throw;
  } catch (const std::exception& ex) {
    throw RuntimeError(where + ": corrupt run record (" + ex.what() + ")");
  }
  // A record written by a version of the model with other outputs cannot stand beside this one's.
  auto shape = [&](const char* what, size_t got, size_t want) {
    if (got != want)
      throw RuntimeError(where + ": a run record of another version of " + info.name + " (" + std::to_string(got) +
                         " " + what + ", " + std::to_string(want) + " now)");
  };
  // A failed run (an exception before or during its flow) has no outputs at all: nothing to compare.
  if (r.status == RunResult::kFailed && r.series.n_obs == 0 && r.detected.empty()) return r;
  shape("observables", size_t(r.series.n_obs), info.observables.size());
  shape("detectors", r.detected.size(), info.detectors.size());
  if (!r.final_config.empty()) shape("final-configuration columns", r.final_config.size(), info.final_columns.size());
  return r;
}

// --- reading --------------------------------------------------------------------------------------

JournalScan scan_journal(const std::string& path, const std::string& spec_hash) {
  JournalScan scan;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    if (errno == ENOENT) return scan;
    throw RuntimeError("cannot read " + path + ": " + std::strerror(errno));
  }
  const FileCloser close{f};
  std::fseek(f, 0, SEEK_END);
  scan.file_bytes = std::ftell(f);
  std::fseek(f, 0, SEEK_SET);
  char line[128] = {0};
  if (!std::fgets(line, sizeof line, f) || std::strncmp(line, kHeaderStart, kHeaderStartLen) != 0) {
    if (scan.file_bytes == 0) return scan;
    if (std::strncmp(line, "flowsweep journal ", 18) == 0)
      throw RuntimeError(path + ": a journal of another flowsweep version (" +
                         std::string(line, strcspn(line, "\n")).substr(0, 40) + "); run without --resume");
    throw RuntimeError(path + ": not a flowsweep journal");
  }
  if (!spec_hash.empty() && std::string(line) != header_line(spec_hash))
    throw RuntimeError(path + ": the journal of another sweep (" +
                       std::string(line + kHeaderStartLen, strcspn(line + kHeaderStartLen, "\n")) + ", this one " +
                       spec_hash + ")");
  long pos = long(std::strlen(line));
  std::string payload;
  setvbuf(f, nullptr, _IOFBF, 1 << 20);
  std::fseek(f, pos, SEEK_SET);
  for (;;) {
    scan.valid_bytes = pos;
    if (pos == scan.file_bytes) break;
    Frame fr;
    if (std::fread(&fr, 1, sizeof fr, f) != sizeof fr) {
      scan.problem = "a torn record (the file ends inside a record header)";
      break;
    }
    if (std::memcmp(fr.magic, kMagic, 4) != 0 || (fr.kind != kRecordResult && fr.kind != kRecordCheckpoint)) {
      scan.problem = "a corrupt record header";
      break;
    }
    if (fr.bytes > uint64_t(scan.file_bytes - pos - long(sizeof fr))) {
      scan.problem = "a torn record (the file ends inside a record)";
      break;
    }
    payload.resize(size_t(fr.bytes));
    if (std::fread(payload.data(), 1, payload.size(), f) != payload.size()) {
      scan.problem = "a record that cannot be read";
      break;
    }
    if (frame_checksum(fr, payload.data(), payload.size()) != fr.checksum) {
      scan.problem = "a record whose checksum does not match";
      break;
    }
    scan.entries.push_back({fr.kind, long(fr.index), pos + long(sizeof fr), long(fr.bytes), fr.records, fr.rows});
    pos += long(sizeof fr) + long(fr.bytes);
  }
  return scan;
}

std::string journal_owner(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return "";
  const FileCloser close{f};
  char line[128] = {0};
  if (!std::fgets(line, sizeof line, f) || std::strncmp(line, kHeaderStart, kHeaderStartLen) != 0) return "?";
  return std::string(line + kHeaderStartLen, strcspn(line + kHeaderStartLen, "\n"));
}

RunResult read_result(std::FILE* f, const std::string& path, const JournalEntry& e, const std::string& run_id,
                      const ModelInfo& info) {
  std::string payload(size_t(e.bytes), '\0');
  if (!read_bytes_at(f, e.offset, payload.data(), payload.size()))
    throw RuntimeError(path + ": cannot read the record at byte " + std::to_string(e.offset));
  return decode_result(payload, record_where(path, e), run_id, info);
}

// --- writing --------------------------------------------------------------------------------------

JournalWriter::JournalWriter(const std::string& out_dir, const std::string& spec_hash, long truncate_at)
    : path_(journal_path(out_dir)) {
  const bool fresh = truncate_at <= 0 || !std::filesystem::exists(path_);
  if (!fresh && ::truncate(path_.c_str(), truncate_at) != 0)
    throw RuntimeError("cannot truncate " + path_ + ": " + std::strerror(errno));
  f_ = std::fopen(path_.c_str(), fresh ? "wb" : "ab");
  if (!f_) throw RuntimeError("cannot open " + path_ + ": " + std::strerror(errno));
  setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  if (fresh) {
    const std::string h = header_line(spec_hash);
    if (std::fwrite(h.data(), 1, h.size(), f_) != h.size()) throw RuntimeError("cannot write " + path_);
    sync();
    sync_dir_of(path_);
  }
}

JournalWriter::~JournalWriter() {
  if (f_) std::fclose(f_);
}

std::string journal_record(long index, const std::string& run_id, const RunResult& r) {
  return frame(kRecordResult, index, uint32_t(r.series.size()), uint32_t(r.final_rows.size()),
               encode_result(run_id, r));
}

void JournalWriter::append_result(long index, const std::string& run_id, const RunResult& r) {
  append_record(journal_record(index, run_id, r));
}

void JournalWriter::append_record(const std::string& rec) {
  if (std::fwrite(rec.data(), 1, rec.size(), f_) != rec.size())
    throw RuntimeError("cannot write " + path_ + ": " + std::strerror(errno));
}

void JournalWriter::flush() {
  if (std::fflush(f_) != 0) throw RuntimeError("cannot write " + path_ + ": " + std::strerror(errno));
}

void JournalWriter::sync() {
  flush();
  if (::fsync(fileno(f_)) != 0) throw RuntimeError("cannot sync " + path_ + ": " + std::strerror(errno));
}

void write_checkpoints(const std::string& out_dir, const std::string& spec_hash, const std::vector<Checkpoint>& cps) {
  const std::string path = checkpoint_path(out_dir);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw RuntimeError("cannot write " + tmp + ": " + std::strerror(errno));
  try {
    write_all(fd, header_line(spec_hash), tmp);
    for (const auto& c : cps) {
      ByteWriter w;
      w.put_str(c.run_id);
      w.put_str(c.state);
      write_all(fd, frame(kRecordCheckpoint, c.index, 0, 0, w.bytes()), tmp);
    }
    if (::fsync(fd) != 0) throw RuntimeError("cannot sync " + tmp + ": " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw RuntimeError("cannot rename " + tmp + " to " + path);
  }
  sync_dir_of(path);
}

std::vector<Checkpoint> read_checkpoints(const std::string& out_dir, const std::string& spec_hash) {
  const std::string path = checkpoint_path(out_dir);
  const JournalScan scan = scan_journal(path, spec_hash);
  // Written whole and renamed, so a damaged file is not a torn tail but a fault: say so, start over.
  if (!scan.problem.empty())
    throw RuntimeError(path + ": " + scan.problem + " at byte " + std::to_string(scan.valid_bytes));
  std::vector<Checkpoint> out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return out;
  const FileCloser close{f};
  for (const auto& e : scan.entries) {
    std::string payload(size_t(e.bytes), '\0');
    if (!read_bytes_at(f, e.offset, payload.data(), payload.size())) throw RuntimeError("cannot read " + path);
    try {
      ByteReader r(payload);
      Checkpoint c;
      c.index = e.index;
      c.run_id = r.get_str();
      c.state = r.get_str();
      out.push_back(std::move(c));
    } catch (const std::exception& ex) {
      throw RuntimeError(path + ": corrupt checkpoint (" + ex.what() + ")");
    }
  }
  return out;
}

}  // namespace fs
