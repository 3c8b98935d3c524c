// The batch kernels: a slice of steps of every run in flight, and the row copies that move runs in and
// out of their slots.
//
// Work to threads: a run's team is one warp (WarpTeam, blockDim / 32 runs at once in a block), one whole
// thread block (BlockTeam) or one thread (SoloTeam, blockDim runs to a block), chosen per shape by the
// executor. Runs live in slots: fixed-size rows of device memory that hold a run's data, parameters,
// optimiser state, records and flow state across slices. A slice launch hands each team the next slot of
// the active list (an atomic counter), advances that run by up to `budget` steps, writes its state back and
// takes another, so short runs free their team at once. As much of a run as fits is copied into the
// team's part of shared memory for the slice (kernels/cuda/slot_layout.h): the whole run, or its data,
// fixed state and scratch with the parameters, optimiser state and gradient in global memory (and, where
// the model asks for one, a copy of the parameters it reads most); what is not on chip is worked on in
// place, with a per-team workspace in global memory that stays hot in L2. Only finished runs' records,
// parameters and attention tables leave the chip.
#pragma once

#include <cstddef>
#include <cstring>
#include <type_traits>

#include "kernels/cuda/slot_layout.h"
#include "kernels/cuda/team_cuda.cuh"
#include "kernels/flow.h"

namespace fs {

// Everything one slice launch needs; slot arrays are laid out slot after slot.
template <typename Model, typename Real>
struct SliceBatch {
  Sizes sz;
  int n_obs;
  int opt_words;  // optimiser state words per parameter
  Placement placement;
  const typename Model::Config* cfg;  // (S)
  const FlowConfig* fc;               // (S)
  const int* idata;                   // (S, n_idata)
  const Real* rdata;                  // (S, n_rdata)
  Real* theta;                        // (S, n_theta)
  const Real* fixed;                  // (S, n_fixed)
  Real* opt_state;                    // (S, n_theta * opt_words)
  Real* carry;                        // (S, n_carry): workspace words a run carries from step to step
  Real* series;                       // (S, max_records, n_obs)
  Real* table;                        // (S, table_width): the attention table (FlowBuffers::table)
  long table_width;                   // 0 for a model without one
  const long* schedule;               // (S, max_records): recording steps
  const long* n_records;              // (S)
  long max_records;
  FlowState* state;    // (S)
  const long* active;  // (n_active): the slots to advance
  long n_active;
  long budget;      // steps per run in this slice
  Real* workspace;  // (teams, workspace_words) unless the whole run is on chip
  long workspace_words;
  unsigned long long* next;  // the work counter, zero at launch
};

constexpr int kMaxTeamsPerBlock = 32;
constexpr int kFlowBlockThreads = 128;  // every flow kernel's block
static_assert(kFlowBlockThreads % kTeamLanes == 0 && kFlowBlockThreads <= kTeamLanes * kMaxTeamsPerBlock,
              "a flow kernel's block is whole warps, a team's slot each");

// A block team's items tile by a warp's width (team_tile), known when the kernel is compiled: its blocks
// are whole warps.
__device__ constexpr int team_tile(const BlockTeam&) { return kTeamLanes; }

// A register budget for the flow kernels, set at build time (FLOWSWEEP_CUDA_MIN_BLOCKS): so many blocks an
// SM, bought with spills. Unset, the compiler chooses, and a run's state held in registers (not on the
// stack) may cost a kernel a resident block; which way is faster only the device can say.
#if defined(FS_MIN_BLOCKS_PER_SM) && FS_MIN_BLOCKS_PER_SM > 0
#define FS_FLOW_LAUNCH_BOUNDS __launch_bounds__(kFlowBlockThreads, FS_MIN_BLOCKS_PER_SM)
#else
#define FS_FLOW_LAUNCH_BOUNDS
#endif

// A run's flow state copied to or from its slot with only the model's part of the detector bytes: a copy
// of all kDetectStateBytes would hold the rest in a thread's registers for the whole slice.
template <typename Model>
__device__ void copy_state(FlowState& dst, const FlowState& src) {
  static_assert(offsetof(FlowState, detect) + sizeof(FlowState::detect) == sizeof(FlowState),
                "the detector bytes end the flow state");
  memcpy(&dst, &src, offsetof(FlowState, detect));
  memcpy(dst.detect, src.detect, sizeof(typename Model::DetectState));
}

// Team is WarpTeam, BlockTeam or SoloTeam; the dynamic shared memory is smem_per_team bytes for each of
// the block's teams, laid out by on_chip_layout for b.placement.
template <typename Model, typename Real, typename Team>
__global__ void FS_FLOW_LAUNCH_BOUNDS kernel_flow_slice(SliceBatch<Model, Real> b, size_t smem_per_team) {
  constexpr bool kSolo = std::is_same<Team, SoloTeam>::value;
  extern __shared__ __align__(16) unsigned char smem_all[];
  __shared__ long s_next[kSolo ? 1 : kMaxTeamsPerBlock];  // a shared team's next run
  const Team team;
  const int t = Team::index();
  unsigned char* smem = smem_all + size_t(t) * smem_per_team;
  const long team_id = long(blockIdx.x) * Team::per_block() + t;
  const Sizes& sz = b.sz;
  const long n_opt = sz.n_theta * b.opt_words;
  for (;;) {
    long k;
    if constexpr (kSolo) {
      k = long(atomicAdd(b.next, 1ull));
    } else {
      if (team.leader()) s_next[t] = long(atomicAdd(b.next, 1ull));
      team.sync();
      k = s_next[t];
    }
    if (k >= b.n_active) return;
    const long slot = b.active[k];
    // Read in place, not copied: a copy would be held in every member's registers for the whole slice,
    // or on its stack, while the members of a shared team read one copy together (a broadcast).
    const typename Model::Config& cfg = b.cfg[slot];
    const FlowConfig& fc = b.fc[slot];
    Real* theta_g = b.theta + slot * sz.n_theta;
    Real* opt_g = b.opt_state + slot * n_opt;
    const Real* fixed_g = b.fixed + slot * sz.n_fixed;
    const Real* rdata_g = b.rdata + slot * sz.n_rdata;
    const int* idata_g = b.idata + slot * sz.n_idata;

    // What is not on chip is worked on where it lies; the gradient, and the scratch when it is not on
    // chip either, in the team's global workspace (n_theta | n_scratch | n_obs).
    FlowBuffers<Real> fb;
    fb.theta = theta_g, fb.opt_state = opt_g, fb.fixed = fixed_g, fb.rdata = rdata_g, fb.idata = idata_g;
    if (b.placement != Placement::kRunOnChip) {
      fb.grad = b.workspace + team_id * b.workspace_words;
      fb.scratch = fb.grad + sz.n_theta;
      fb.obs = fb.scratch + sz.n_scratch;
    }
    if (b.placement != Placement::kGlobal) {
      const OnChipLayout at = on_chip_layout<Real>(sz, b.opt_words, b.placement);
      Real* base = reinterpret_cast<Real*>(smem);
      Real* fixed = base + at.fixed;
      Real* rdata = base + at.rdata;
      int* idata = reinterpret_cast<int*>(base + at.idata);
      for (long i = team.rank(); i < sz.n_fixed; i += team.size()) fixed[i] = fixed_g[i];
      for (long i = team.rank(); i < sz.n_rdata; i += team.size()) rdata[i] = rdata_g[i];
      for (long i = team.rank(); i < sz.n_idata; i += team.size()) idata[i] = idata_g[i];
      fb.fixed = fixed, fb.rdata = rdata, fb.idata = idata;
      fb.scratch = base + at.scratch;
      fb.obs = base + at.obs;
      if (b.placement == Placement::kHotOnChip) fb.hot = base + at.hot;
      if (b.placement == Placement::kRunOnChip) {
        Real* theta = base + at.theta;
        Real* opt = base + at.opt;
        for (long i = team.rank(); i < sz.n_theta; i += team.size()) theta[i] = theta_g[i];
        for (long i = team.rank(); i < n_opt; i += team.size()) opt[i] = opt_g[i];
        fb.theta = theta, fb.opt_state = opt;
        fb.grad = base + at.grad;
      }
    }
    Real* carry_g = b.carry + slot * sz.n_carry;
    for (long i = team.rank(); i < sz.n_carry; i += team.size()) fb.scratch[i] = carry_g[i];
    fb.series = b.series + slot * b.max_records * b.n_obs;
    fb.record_steps = b.schedule + slot * b.max_records;
    fb.n_records = b.n_records[slot];
    fb.table = b.table_width > 0 ? b.table + slot * b.table_width : nullptr;
    fb.table_rows = b.table_width > 0 ? sz.n_table_rows : 0;
    fb.table_fields = sz.n_table_fields;
    team.sync();

    // Every member keeps its own copy of the state and takes the same branches: the loss is the team's.
    FlowState st;
    copy_state<Model>(st, b.state[slot]);
    const long limit = st.step + b.budget < fc.steps + 1 ? st.step + b.budget : fc.steps + 1;
    advance_flow<Model, Real>(team, cfg, fc, fb, b.n_obs, st, limit);

    if (b.placement == Placement::kRunOnChip) {
      for (long i = team.rank(); i < sz.n_theta; i += team.size()) theta_g[i] = fb.theta[i];
      for (long i = team.rank(); i < n_opt; i += team.size()) opt_g[i] = fb.opt_state[i];
    }
    for (long i = team.rank(); i < sz.n_carry; i += team.size()) carry_g[i] = fb.scratch[i];
    if (team.leader()) copy_state<Model>(b.state[slot], st);
    team.sync();  // s_next and the shared buffers are reused by the team's next run
  }
}

// dst[slots[r]] = src[r] for rows of `width` elements: runs moved into their slots.
template <typename T>
__global__ void kernel_scatter_rows(T* dst, const T* src, const long* slots, long n, long width) {
  const long total = n * width;
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += long(gridDim.x) * blockDim.x) {
    const long r = i / width, j = i - r * width;
    dst[slots[r] * width + j] = src[i];
  }
}

// dst[r] = src[slots[r]]: runs copied out of their slots, packed.
template <typename T>
__global__ void kernel_gather_rows(T* dst, const T* src, const long* slots, long n, long width) {
  const long total = n * width;
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += long(gridDim.x) * blockDim.x) {
    const long r = i / width, j = i - r * width;
    dst[i] = src[slots[r] * width + j];
  }
}

// flags[k] = 1 when the run in slot active[k] has finished: the input of the device-side compaction.
template <typename State>
__global__ void kernel_finished_flags(const State* state, const long* active, long n, char* flags) {
  for (long k = long(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += long(gridDim.x) * blockDim.x)
    flags[k] = state[active[k]].status != kFlowRunning;
}

}  // namespace fs
