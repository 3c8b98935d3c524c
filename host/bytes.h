// Plain binary encoding of numbers and vectors for the journal and checkpoints: values in the host's own
// byte order (every platform flowsweep builds for is little-endian), lengths as 64-bit counts. A reader
// that runs past its end throws, so a truncated record can never be read as a shorter valid one.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace fs {

class ByteWriter {
 public:
  template <typename T>
  void put(const T& x) {
    static_assert(std::is_trivially_copyable<T>::value, "plain data only");
    buf_.append(reinterpret_cast<const char*>(&x), sizeof(T));
  }
  template <typename T>
  void put_array(const T* p, size_t n) {
    static_assert(std::is_trivially_copyable<T>::value, "plain data only");
    put<uint64_t>(n);
    if (n) buf_.append(reinterpret_cast<const char*>(p), n * sizeof(T));
  }
  template <typename T>
  void put_vec(const std::vector<T>& v) {
    put_array(v.data(), v.size());
  }
  void put_str(const std::string& s) { put_array(s.data(), s.size()); }
  const std::string& bytes() const { return buf_; }
  std::string take() { return std::move(buf_); }

 private:
  std::string buf_;
};

class ByteReader {
 public:
  ByteReader(const char* p, size_t n) : p_(p), end_(p + n) {}
  explicit ByteReader(const std::string& s) : ByteReader(s.data(), s.size()) {}
  template <typename T>
  T get() {
    static_assert(std::is_trivially_copyable<T>::value, "plain data only");
    need(sizeof(T));
    T x;
    std::memcpy(&x, p_, sizeof(T));
    p_ += sizeof(T);
    return x;
  }
  template <typename T>
  std::vector<T> get_vec() {
    const uint64_t n = get<uint64_t>();
    if (n > uint64_t(end_ - p_) / sizeof(T)) throw std::runtime_error("record ends inside a vector");
    std::vector<T> v(static_cast<size_t>(n));
    if (n) std::memcpy(v.data(), p_, size_t(n) * sizeof(T));
    p_ += size_t(n) * sizeof(T);
    return v;
  }
  // Copies a vector of exactly `n` elements into `out`.
  template <typename T>
  void get_into(T* out, size_t n) {
    if (get<uint64_t>() != n) throw std::runtime_error("vector of another length");
    need(n * sizeof(T));
    if (n) std::memcpy(out, p_, n * sizeof(T));
    p_ += n * sizeof(T);
  }
  std::string get_str() {
    const auto v = get_vec<char>();
    return std::string(v.begin(), v.end());
  }
  bool done() const { return p_ == end_; }

 private:
  void need(size_t n) const {
    if (size_t(end_ - p_) < n) throw std::runtime_error("record ends early");
  }
  const char* p_;
  const char* end_;
};

}  // namespace fs
