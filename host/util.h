// Errors, hashing, number formatting and files written whole or not at all.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs {

// Bad input (usage or spec): exit code 2. The message names the file, line and key.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A failure at run time (I/O, device): exit code 1.
struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

uint64_t fnv1a64(const std::string& s, uint64_t h = 14695981039346656037ull);
std::string hex64(uint64_t x);

// Shortest text that reads back to the same double; "" for NaN is the caller's choice.
std::string format_double(double x);
void append_double(std::string& out, double x);  // format_double's text, appended to out

// Writes `content` to `path` through a temporary file in the same directory, fsync'd, renamed into place
// and the directory synced, so a crash or a power loss leaves the previous file or the new one.
void write_file_atomic(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);

// A file written under a temporary name in its directory: commit() makes it durable and renames it into
// place; destroyed before its commit, it leaves nothing behind.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const std::string& s);
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
};

// fsync of the directory that holds `path`, so that a rename into it survives a power loss.
void sync_dir_of(const std::string& path);

// A string for an error message, cut to `max_bytes` (at a character boundary) with its length said.
std::string quote_cut(const std::string& s, size_t max_bytes = 80);

// The name of `known` that `typed` most likely misspells (letters added, dropped, changed or two
// neighbours swapped, case aside), or "" when none is a typo's reach away: one edit for a name of up to
// five letters, two for a longer one.
std::string nearest_name(const std::string& typed, const std::vector<std::string>& known);

// s as one word of a POSIX shell: in single quotes, each ' written '\''; with `always` false, a word of
// letters, digits and _./=:,+-@% only is left bare.
std::string shell_quote(const std::string& s, bool always = true);

uint64_t xxh3_64(const std::string& s);

// XXH3-64 of a file's bytes, read in pieces, as 16 hex digits.
std::string file_checksum(const std::string& path);

// Creates `dir` (and its parents) and checks that it can be written; RuntimeError otherwise.
void make_dir(const std::string& dir);

// Calls fn on a thread with a stack of `stack_bytes` and rethrows what it throws: for parsers whose
// recursion depth follows their input.
void run_with_stack(size_t stack_bytes, const std::function<void()>& fn);

// An advisory lock on an output directory (flock on DIR/.lock), held while the object lives, so that one
// process at a time writes there. The file itself stays: removing it would let a second process lock a
// new file while the first still holds the old one.
class DirLock {
 public:
  // InputError naming the directory and the holder's pid when another process holds it.
  explicit DirLock(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  // The pid of the process that holds DIR's lock, or 0 when none does.
  static long holder(const std::string& dir);

 private:
  int fd_ = -1;
};

std::string cpu_name();
std::string utc_now_iso();

// The CPUs this process may run on (its affinity mask: what taskset, a Slurm allocation or a cgroup
// grants), not every CPU of the machine: 8 allocated CPUs of a 128-core node give 8 threads.
int default_threads();

}  // namespace fs
