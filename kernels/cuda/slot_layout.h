// Where a run's state sits in shared memory for a slice (kernels/cuda/flow_kernel.cuh). A placement says
// how much of a run is on chip:
//   kRunOnChip:  parameters | optimiser state | fixed state | real data | gradient | scratch | observables,
//                as Real words, then the integer data: the whole run;
//   kWorkOnChip: fixed state | real data | scratch | observables, then the integer data, while the
//                parameters, optimiser state and gradient stay in global memory: for runs whose parameters
//                are too large for shared memory while the scratch and data are small and read often
//                (cooccurrence at the paper's size: 57,344 parameters, 224 KiB in fp32, against 2,777
//                scratch words and 785 integers of data, which take about 0.45 of a step's 2 million loads);
//   kHotOnChip:  as kWorkOnChip, and Sizes::n_hot words after the observables, into which the model
//                copies the parameters it reads most at each step (StepContext::hot);
//   kGlobal:     none of it.
// A block holds its teams' runs one after another at a stride of the placement's bytes. Host types only:
// the layout's invariants are tested without a GPU (tests/unit/test_slot_layout.cpp).
#pragma once

#include <cstddef>

#include "kernels/model_api.h"

namespace fs {

constexpr int kSmemBanks = 32;  // shared memory serves 32 four-byte banks a cycle
constexpr int kSmemBankBytes = 4;

// In increasing order of what is on chip.
enum class Placement : int { kGlobal = 0, kWorkOnChip = 1, kHotOnChip = 2, kRunOnChip = 3 };

// Words of per-team workspace: gradient, scratch, observables.
FS_HD inline long flow_workspace_words(const Sizes& sz) { return sz.n_theta + sz.n_scratch + sz.n_obs; }

// Offsets in Real words from the start of a team's shared memory, -1 for what is not on chip; the integer
// data starts at word `idata`. `words` is the stride between teams.
struct OnChipLayout {
  long theta = -1, opt = -1, fixed = -1, rdata = -1, grad = -1, scratch = -1, obs = -1, hot = -1, idata = -1;
  long words = 0;
};

// An odd number of Real words a run: with a thread per run (SoloTeam) a warp's 32 threads read the same
// word of 32 consecutive runs at once; at an odd stride those words fall in 32 different banks (fp32), or
// 16 different bank pairs in each half-warp (fp64, served half a warp at a time), where a stride that is a
// multiple of 16 words put them all in two banks (16-way conflicts on an H100, 2026-11-24: value_softmax
// d=n=4, 112 words a run). A warp or a block per run reads consecutive words of one run, which no stride
// changes.
template <typename Real>
FS_HD inline OnChipLayout on_chip_layout(const Sizes& sz, int opt_words, Placement where) {
  OnChipLayout l;
  if (where == Placement::kGlobal) return l;
  long at = 0;
  if (where == Placement::kRunOnChip) {
    l.theta = at, at += sz.n_theta;
    l.opt = at, at += sz.n_theta * opt_words;
  }
  l.fixed = at, at += sz.n_fixed;
  l.rdata = at, at += sz.n_rdata;
  if (where == Placement::kRunOnChip) l.grad = at, at += sz.n_theta;
  l.scratch = at, at += sz.n_scratch;
  l.obs = at, at += sz.n_obs;
  if (where == Placement::kHotOnChip) l.hot = at, at += sz.n_hot;
  l.idata = at;
  at += (sz.n_idata * long(sizeof(int)) + long(sizeof(Real)) - 1) / long(sizeof(Real));
  l.words = at % 2 == 1 ? at : at + 1;
  return l;
}

// Bytes of dynamic shared memory for one team's run in a placement.
template <typename Real>
inline size_t flow_smem_bytes(const Sizes& sz, int opt_words, Placement where = Placement::kRunOnChip) {
  return size_t(on_chip_layout<Real>(sz, opt_words, where).words) * sizeof(Real);
}

}  // namespace fs
