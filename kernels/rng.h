// Counter-based random streams (Philox4x32-10, Random123). A draw is a pure function of
// (sweep seed, run seed, stream, counter), never of thread, batch, shard or backend, so a run re-run
// alone, on another backend or in another shard sees the same numbers.
#pragma once

#include <Random123/philox.h>
#include <Random123/uniform.hpp>

#include "kernels/common.h"

namespace fs {

// What a stream is for; distinct streams of one run never overlap.
enum StreamId : uint32_t {
  kStreamData = 1,       // the training set
  kStreamInit = 2,       // initial parameters and fixed signs
  kStreamMinibatch = 3,  // per-step sampling
};

class Stream {
 public:
  using Philox = r123::Philox4x32;

  FS_HD Stream(uint32_t sweep_seed, uint32_t run_seed, uint32_t stream, uint64_t start = 0)
      : stream_(stream), counter_(start) {
    key_ = {{sweep_seed, run_seed}};
  }

  // Four fresh 32-bit words.
  FS_HD Philox::ctr_type next4() {
    Philox::ctr_type ctr = {{stream_, uint32_t(counter_), uint32_t(counter_ >> 32), 0x666c6f77u}};
    ++counter_;
    return Philox()(ctr, key_);
  }

  // Uniform in (0, 1), 53 random bits.
  FS_HD double uniform() {
    const auto r = next4();
    const uint64_t bits = (uint64_t(r[0]) << 32) | r[1];
    return r123::u01<double>(bits);
  }

  // Standard normal by Box-Muller; one counter gives both normals of a pair.
  FS_HD double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const auto r = next4();
    const double u1 = r123::u01<double>((uint64_t(r[0]) << 32) | r[1]);  // (0, 1]
    const double u2 = r123::u01<double>((uint64_t(r[2]) << 32) | r[3]);
    const double radius = sqrt(-2.0 * log(u1));
    const double angle = 6.283185307179586476925 * u2;
    spare_ = radius * sin(angle);
    has_spare_ = true;
    return radius * cos(angle);
  }

  // Uniform integer in [0, n), exact (rejection on the 64-bit product).
  FS_HD uint32_t below(uint32_t n) {
    for (;;) {
      const auto r = next4();
      for (int w = 0; w < 4; ++w) {
        const uint64_t prod = uint64_t(r[w]) * uint64_t(n);
        const uint32_t low = uint32_t(prod);
        if (low >= (uint32_t(0) - n) % n) return uint32_t(prod >> 32);
      }
    }
  }

  FS_HD uint64_t counter() const { return counter_; }

 private:
  Philox::key_type key_;
  uint32_t stream_;
  uint64_t counter_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace fs
