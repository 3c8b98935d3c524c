// The batch kernel: every step of a batch of runs in one launch.
//
// Work to threads: one thread block is one run's team. Blocks are persistent: each takes the next run
// from an atomic work queue, trains it to its last step (or its divergence), writes its outcome and takes
// another, so runs that finish early free their slot at once. A run's parameters, gradient, optimiser
// state, workspace and data live in shared memory when they fit (use_smem) and otherwise in a per-slot
// region of global memory that stays hot in L2. Only recorded series and final parameters leave the chip.
#pragma once

#include "kernels/cuda/team_cuda.cuh"
#include "kernels/flow.h"

namespace fs {

// Everything one launch needs; buffers are laid out run after run (or slot after slot).
template <typename Model, typename Real>
struct FlowBatch {
  long n_runs;
  Sizes sz;
  int n_obs;
  int opt_words;  // optimiser state words per parameter
  bool use_smem;
  const typename Model::Config* cfg;  // (R)
  const FlowConfig* fc;               // (R)
  const int* idata;                   // (R, n_idata)
  const Real* rdata;                  // (R, n_rdata)
  Real* theta;                        // (R, n_theta): initial in, final out
  const Real* fixed;                  // (R, n_fixed)
  Real* series;                       // concatenated (records_r, n_obs) per run
  const long* series_offset;          // (R)
  const long* schedule;               // concatenated recording steps per run
  const long* schedule_offset;        // (R)
  const long* n_records;              // (R)
  FlowOutcome* outcome;               // (R)
  Real* workspace;                    // (slots, workspace_words) when !use_smem
  long workspace_words;
  unsigned long long* next_run;       // the work queue
};

// Words of per-run workspace: gradient, scratch, optimiser state, observables.
FS_HD inline long flow_workspace_words(const Sizes& sz, int opt_words) {
  return sz.n_theta * (1 + opt_words) + sz.n_scratch + sz.n_obs;
}

// Bytes of shared memory for one run held entirely on chip.
template <typename Real>
inline size_t flow_smem_bytes(const Sizes& sz, int opt_words) {
  const size_t reals = size_t(sz.n_theta) + size_t(sz.n_fixed) + size_t(sz.n_rdata) +
                       size_t(flow_workspace_words(sz, opt_words));
  return reals * sizeof(Real) + size_t(sz.n_idata) * sizeof(int) + 16;
}

template <typename Model, typename Real>
__global__ void kernel_flow(FlowBatch<Model, Real> b) {
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ long s_run;
  const BlockTeam team;
  const Sizes& sz = b.sz;
  for (;;) {
    if (team.leader()) s_run = long(atomicAdd(b.next_run, 1ull));
    team.sync();
    const long run = s_run;
    if (run >= b.n_runs) return;
    const typename Model::Config cfg = b.cfg[run];
    const FlowConfig fc = b.fc[run];
    Real* theta_g = b.theta + run * sz.n_theta;
    const Real* fixed_g = b.fixed + run * sz.n_fixed;
    const Real* rdata_g = b.rdata + run * sz.n_rdata;
    const int* idata_g = b.idata + run * sz.n_idata;

    FlowBuffers<Real> fb;
    Real* work;
    if (b.use_smem) {
      Real* p = reinterpret_cast<Real*>(smem);
      Real* theta = p;
      Real* fixed = theta + sz.n_theta;
      Real* rdata = fixed + sz.n_fixed;
      work = rdata + sz.n_rdata;
      int* idata = reinterpret_cast<int*>(work + flow_workspace_words(sz, b.opt_words));
      for (long i = team.rank(); i < sz.n_theta; i += team.size()) theta[i] = theta_g[i];
      for (long i = team.rank(); i < sz.n_fixed; i += team.size()) fixed[i] = fixed_g[i];
      for (long i = team.rank(); i < sz.n_rdata; i += team.size()) rdata[i] = rdata_g[i];
      for (long i = team.rank(); i < sz.n_idata; i += team.size()) idata[i] = idata_g[i];
      fb.theta = theta, fb.fixed = fixed, fb.rdata = rdata, fb.idata = idata;
    } else {
      work = b.workspace + long(blockIdx.x) * b.workspace_words;
      fb.theta = theta_g, fb.fixed = fixed_g, fb.rdata = rdata_g, fb.idata = idata_g;
    }
    fb.grad = work;
    fb.opt_state = fb.grad + sz.n_theta;
    fb.scratch = fb.opt_state + sz.n_theta * b.opt_words;
    fb.obs = fb.scratch + sz.n_scratch;
    fb.series = b.series + b.series_offset[run];
    fb.record_steps = b.schedule + b.schedule_offset[run];
    fb.n_records = b.n_records[run];
    for (long i = team.rank(); i < sz.n_theta * b.opt_words; i += team.size()) fb.opt_state[i] = Real(0);
    team.sync();

    const FlowOutcome out = run_flow_steps<Model, Real>(team, cfg, fc, fb, b.n_obs);

    if (b.use_smem)
      for (long i = team.rank(); i < sz.n_theta; i += team.size()) theta_g[i] = fb.theta[i];
    if (team.leader()) b.outcome[run] = out;
    team.sync();  // s_run and shared buffers are reused by the next run
  }
}

}  // namespace fs
