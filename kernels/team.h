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

// The mean of values[k * stride], k < count, summed in order by the leader into *slot and returned to
// every member (a model's loss from its per-item losses).
template <typename Team, typename Real>
FS_HD Real team_mean(const Team& team, const Real* values, long stride, long count, Real* slot) {
  if (team.leader()) {
    Real sum = 0;
    for (long k = 0; k < count; ++k) sum += values[k * stride];
    *slot = sum / Real(count);
  }
  team.sync();
  return *slot;
}

}  // namespace fs
