// Errors, hashing, number formatting and files written whole or not at all.
#pragma once

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

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

// Writes `content` to `path` through a temporary file in the same directory and a rename, so a crash
// leaves the previous file or nothing.
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

// XXH3-64 of a file's bytes, read in pieces, as 16 hex digits.
std::string file_checksum(const std::string& path);

// Creates `dir` (and its parents) and checks that it can be written; RuntimeError otherwise.
void make_dir(const std::string& dir);

std::string cpu_name();
std::string utc_now_iso();

}  // namespace fs
