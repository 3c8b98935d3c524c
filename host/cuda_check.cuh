// CUDA error checks: a throwing one for normal code, a logging one for destructors.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "host/util.h"

#define FS_CUDA_CHECK(call)                                                                     \
  do {                                                                                          \
    const cudaError_t fs_err_ = (call);                                                         \
    if (fs_err_ != cudaSuccess)                                                                 \
      throw ::fs::RuntimeError(std::string("CUDA error in ") + #call + " (" + __FILE__ + ":" +  \
                               std::to_string(__LINE__) + "): " + cudaGetErrorString(fs_err_)); \
  } while (0)

#define FS_CUDA_CHECK_LOG(call)                                                                                       \
  do {                                                                                                                \
    const cudaError_t fs_err_ = (call);                                                                               \
    if (fs_err_ != cudaSuccess)                                                                                       \
      std::fprintf(stderr, "CUDA error in %s (%s:%d): %s\n", #call, __FILE__, __LINE__, cudaGetErrorString(fs_err_)); \
  } while (0)

namespace fs {

// Owns one device allocation of n elements.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (n > 0) FS_CUDA_CHECK(cudaMalloc(&p_, n * sizeof(T)));
  }
  ~DeviceBuffer() {
    if (p_) FS_CUDA_CHECK_LOG(cudaFree(p_));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (p_) FS_CUDA_CHECK_LOG(cudaFree(p_));
      p_ = o.p_, n_ = o.n_;
      o.p_ = nullptr, o.n_ = 0;
    }
    return *this;
  }

  T* get() const { return p_; }
  size_t size() const { return n_; }
  void upload(const T* h, size_t n) {
    if (n) FS_CUDA_CHECK(cudaMemcpy(p_, h, n * sizeof(T), cudaMemcpyHostToDevice));
  }
  void download(T* h, size_t n) const {
    if (n) FS_CUDA_CHECK(cudaMemcpy(h, p_, n * sizeof(T), cudaMemcpyDeviceToHost));
  }
  // Fills every byte with 0xff: NaN for floating point, -1 for integers, so an unwritten value shows.
  void poison() {
    if (n_) FS_CUDA_CHECK(cudaMemset(p_, 0xff, n_ * sizeof(T)));
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace fs
