// The threads that share one run form a team. Model code is written against it: loops strided by
// rank and size, and a barrier between phases that read what other members wrote. On the host a team is
// one thread, so every loop is a plain loop and the barrier is free; kernels/cuda/team_cuda.cuh gives the
// thread-block team of the CUDA kernels.
#pragma once

#include "kernels/common.h"

namespace fs {

struct HostTeam {
  static constexpr int rank() { return 0; }
  static constexpr int size() { return 1; }
  static constexpr bool leader() { return true; }
  void sync() const {}
};

}  // namespace fs
