// Where a run's state sits in shared memory for a slice (kernels/cuda/flow_kernel.cuh): parameters,
// optimiser state, fixed state, real data and the workspace (gradient, scratch, observables) as Real
// words, then the integer data. A block holds its teams' runs one after another at a stride of
// flow_smem_bytes. Host types only: the layout's invariants are tested without a GPU
// (tests/unit/test_slot_layout.cpp).
#pragma once

#include <cstddef>

#include "kernels/model_api.h"

namespace fs {

constexpr int kSmemBanks = 32;  // shared memory serves 32 four-byte banks a cycle
constexpr int kSmemBankBytes = 4;

// Words of per-team workspace: gradient, scratch, observables.
FS_HD inline long flow_workspace_words(const Sizes& sz) { return sz.n_theta + sz.n_scratch + sz.n_obs; }

// Bytes of dynamic shared memory for one run held entirely on chip: an odd number of Real words. With a
// thread per run (SoloTeam) a warp's 32 threads read the same word of 32 consecutive runs at once; at an
// odd stride those words fall in 32 different banks (fp32), or 16 different bank pairs in each half-warp
// (fp64, served half a warp at a time), where a stride that is a multiple of 16 words put them all in two
// banks (16-way conflicts on an H100, 2026-11-24: value_softmax d=n=4, 112 words a run). A warp or a
// block per run reads consecutive words of one run, which no stride changes.
template <typename Real>
inline size_t flow_smem_bytes(const Sizes& sz, int opt_words) {
  const size_t reals = size_t(sz.n_theta) * size_t(1 + opt_words) + size_t(sz.n_fixed) + size_t(sz.n_rdata) +
                       size_t(flow_workspace_words(sz));
  const size_t int_words = (size_t(sz.n_idata) * sizeof(int) + sizeof(Real) - 1) / sizeof(Real);
  const size_t words = reals + int_words;
  return (words % 2 == 1 ? words : words + 1) * sizeof(Real);
}

}  // namespace fs
