// One run's whole flow: loss and gradient, detection, recording, divergence check, optimiser step, for
// every step. Written once against a team, so the CPU executor (a team of one thread) and the CUDA kernels
// (a warp, a block or a thread per run) run the same loop. Records land at the steps of a schedule the host
// computes once (linear, or log-spaced for long flows), so every backend records at the same steps.
// Detectors are fed at every `detect_every`-th step and at the last, independently of the records.
#pragma once

#include <cstring>
#include <vector>

#include "kernels/common.h"
#include "kernels/detect.h"
#include "kernels/model_api.h"
#include "kernels/optim.h"
#include "kernels/team.h"

namespace fs {

// Training settings of one run; plain data, copied to the device as is.
struct FlowConfig {
  OptConfig opt;  // lr per group from lr and lr_ratio
  double lr = 0, lr_ratio = 1;
  long steps = 0, record_every = 1;
  int schedule = 0;  // 0: every record_every steps; 1: `records` log-spaced steps
  long records = 200;
  bool fp64 = true;
  uint32_t sweep_seed = 0, run_seed = 0;
  int n_shares = 0;  // groups whose share of the loss decrease is recorded after the model's observables
  // A run diverges when its loss is not finite or when |loss| exceeds diverge_above * max(|L(0)|, 1); 0
  // leaves only the first. A flow that has blown up by orders of magnitude is not a result, even while
  // its loss is still representable.
  double diverge_above = 0;
  // Detection: the model's detectors and one per share, fed every detect_every steps (0: never).
  long detect_every = 1;
  int n_detectors = 0;  // the model's; share detectors follow them
  double share_threshold = 0.5;
  // Early stop: the run ends at the first detection step at which every detector in stop_mask has an
  // answer at least stop_margin steps old (0 in the mask: never).
  unsigned stop_mask = 0;
  long stop_margin = 0;
};

FS_HD inline bool loss_diverged(double loss, double initial_loss, double diverge_above) {
  if (!(loss - loss == 0.0)) return true;  // NaN or infinity
  const double scale = initial_loss < 0 ? -initial_loss : initial_loss;
  return diverge_above > 0 && (loss < 0 ? -loss : loss) > diverge_above * (scale > 1.0 ? scale : 1.0);
}

// Flow time per step. Gradient descent and Adam advance the flow by lr a step; heavy-ball momentum with
// coefficient beta follows the gradient flow with an effective step lr / (1 - beta), so its flow time is
// counted in that unit, and runs with and without momentum compare at the same flow time.
inline double flow_dt(double lr, int optimizer, double momentum) {
  return optimizer == int(Optimizer::kMomentum) ? lr / (1.0 - momentum) : lr;
}
inline double flow_dt(const FlowConfig& fc) { return flow_dt(fc.lr, int(fc.opt.kind), fc.opt.momentum); }

// The recording steps, strictly increasing from 0 to the last step. Log-spaced: step k of n is
// k - 1 + floor(B^(k/(n-1))) with B = steps - n + 2, which is strictly increasing and ends at `steps`;
// computed once on the host so that every backend records at the same steps.
inline std::vector<long> record_schedule(const FlowConfig& fc) {
  std::vector<long> out;
  const long n = fc.records < fc.steps + 1 ? fc.records : fc.steps + 1;
  out.reserve(size_t(fc.schedule == 1 ? n : fc.steps / (fc.record_every > 0 ? fc.record_every : 1) + 2));
  if (fc.schedule == 1 && n >= 2) {
    const double B = double(fc.steps - n + 2);
    for (long k = 0; k < n; ++k) {
      long s = k - 1 + long(std::floor(std::pow(B, double(k) / double(n - 1)) + 1e-9));
      if (k == n - 1) s = fc.steps;
      if (!out.empty() && s <= out.back()) s = out.back() + 1;
      out.push_back(s);
    }
    return out;
  }
  for (long s = 0; s < fc.steps; s += fc.record_every) out.push_back(s);
  out.push_back(fc.steps);
  return out;
}

// How many steps record_schedule gives, without making them: a sweep's outputs are sized before any run
// exists, and a schedule of 10^10 records is a number here, not a vector.
inline long record_count(const FlowConfig& fc) {
  const long n = fc.records < fc.steps + 1 ? fc.records : fc.steps + 1;
  if (fc.schedule == 1 && n >= 2) return n;
  const long every = fc.record_every > 0 ? fc.record_every : 1;
  return (fc.steps + every - 1) / every + 1;
}

enum FlowStatus : int { kFlowOk = 0, kFlowDiverged = 1, kFlowRunning = 3 };

// Where a run is in its flow: everything besides its parameters, optimiser state and records that a
// flow needs to go on from where it stopped. Plain data: kept per slot on the device, saved in
// checkpoints as is.
struct FlowState {
  long step = 0;         // the next step whose loss and gradient are evaluated
  long next_record = 0;  // records written so far
  int status = kFlowRunning;
  bool stopped = false;     // ended early by stop_after; the last record is at `step`, off the schedule
  double final_loss = 0;    // the loss at the last evaluated step
  double initial_loss = 0;  // the loss at step 0: the scale of the divergence bound
  long fired[kMaxDetectors] = {-1, -1, -1, -1, -1, -1, -1, -1};  // each detector's step, -1 before it fires
  // The detection step at which each detector's attention table was taken (the sample at which its answer
  // last changed), -1 before any.
  long table_step[kMaxDetectors] = {-1, -1, -1, -1, -1, -1, -1, -1};
  alignas(8) unsigned char detect[kDetectStateBytes] = {};  // the model's DetectState
};

struct FlowOutcome {
  int status;
  bool stopped;
  long steps;    // steps taken; for a diverged run, the step whose loss diverged
  long records;  // records written
  double final_loss;
  double initial_loss;
  long fired[kMaxDetectors];
  long table_step[kMaxDetectors];
};

FS_HD inline FlowOutcome outcome_of(const FlowState& st) {
  FlowOutcome o{st.status, st.stopped, st.step, st.next_record, st.final_loss, st.initial_loss, {}, {}};
  for (int d = 0; d < kMaxDetectors; ++d) o.fired[d] = st.fired[d], o.table_step[d] = st.table_step[d];
  return o;
}

// Which parameters are learning: under gradient flow dL/dt = -sum_g (lr_g / lr) |grad_g|^2, so group g's
// share of the loss decrease is lr_g |grad_g|^2 over the sum (NaN where the gradient vanishes). Squares
// are summed in double by the team; the leader writes out. It runs at recording steps, and at detection
// steps until every share detector has fired.
template <typename Team, typename Real>
FS_HD void group_shares(const Team& team, const OptConfig& opt, const Real* grad, int n_groups, Real* out) {
  double rate[kMaxGroups] = {0, 0, 0, 0}, total = 0;
  long begin = 0;
  for (int g = 0; g < n_groups; ++g) {
    const long end = pick(opt.group_end, g);
    const Real* gg = grad + begin;
    const double r =
        pick(opt.lr, g) * team_sum(team, end - begin, [&](long i) { return double(gg[i]) * double(gg[i]); });
    put(rate, g, r);
    total += r;
    begin = end;
  }
  if (!team.leader()) return;
  FS_UNROLL
  for (int g = 0; g < kMaxGroups; ++g)
    if (g < n_groups) out[g] = total > 0 ? Real(rate[g] / total) : Real(NAN);
}

// Feeds one detection sample to the model's detectors and the share detectors; every member of the team
// does so on its own copy of the state.
template <typename Model, typename Real>
FS_HD void detect_sample(const typename Model::Config& cfg, const FlowConfig& fc, const Real* fixed, const Real* obs,
                         int n_obs, long step, FlowState& st) {
  typename Model::DetectState ds;
  memcpy(&ds, st.detect, sizeof ds);
  Model::template detect<Real>(cfg, fixed, obs, step, ds, st.fired);
  memcpy(st.detect, &ds, sizeof ds);
  const Real* share = obs + (n_obs - fc.n_shares);  // share g feeds detector n_detectors + g
  FS_UNROLL
  for (int d = 0; d < kMaxDetectors; ++d)
    if (d >= fc.n_detectors && d < fc.n_detectors + fc.n_shares)
      detect_first(double(share[d - fc.n_detectors]) > fc.share_threshold, step, st.fired[d]);
}

// Whether every detector that stop_after names has held its answer for stop_margin steps.
FS_HD inline bool stop_reached(const FlowConfig& fc, const FlowState& st, long step) {
  if (fc.stop_mask == 0) return false;
  FS_UNROLL
  for (int d = 0; d < kMaxDetectors; ++d)
    if ((fc.stop_mask >> d) & 1u)
      if (st.fired[d] < 0 || step - st.fired[d] < fc.stop_margin) return false;
  return true;
}

// Shares are computed at detection steps until every detector has fired (a model's detector may read
// them too, as cooccurrence's phase 2 does).
FS_HD inline bool all_fired(const FlowConfig& fc, const FlowState& st) {
  FS_UNROLL
  for (int d = 0; d < kMaxDetectors; ++d)
    if (d < fc.n_detectors + fc.n_shares && st.fired[d] < 0) return false;
  return true;
}

// Buffers of one run (shapes are the model's; see its header).
template <typename Real>
struct FlowBuffers {
  const int* idata;
  const Real* rdata;
  Real* theta;
  const Real* fixed;
  Real* grad;
  Real* scratch;
  Real* opt_state;           // opt_state_per_param * n_theta, zero at the start
  Real* obs;                 // n_obs
  Real* series;              // (n_records, n_obs)
  const long* record_steps;  // (n_records)
  long n_records;
  // The attention configuration (the model's attention_table), or null for a model without one:
  // (table_fields + n_detectors, table_rows): the final table field after field, then the weight field
  // as it was when each detector answered.
  Real* table = nullptr;
  long table_rows = 0;
  int table_fields = 0;
  Real* hot = nullptr;  // (n_hot) or null: StepContext::hot
};

// Words of a run's table buffer (FlowBuffers::table).
FS_HD inline long table_words(const Sizes& sz, int n_detectors) {
  return sz.n_table_rows > 0 ? sz.n_table_rows * (sz.n_table_fields + n_detectors) : 0;
}

// Advances a run from st.step until it finishes or reaches `step_limit` (the first step not evaluated
// in this call). A step's loss and gradient depend only on the parameters and the step, so a flow cut
// into slices, or saved and restored between them, takes exactly the steps of an uncut one.
template <typename Model, typename Real, typename Team>
FS_HD void advance_flow(const Team& team, const typename Model::Config& cfg, const FlowConfig& fc,
                        const FlowBuffers<Real>& b, int n_obs, FlowState& st, long step_limit) {
  // Observables into b.obs: in full, or only what the detectors read; the shares when asked for.
  auto observe = [&](bool full, bool shares) {
    if constexpr (Model::kObserveDetect) {  // a model whose observables are costly computes what its detectors read
      if (full)
        Model::observe(team, cfg, b.idata, b.rdata, b.theta, b.fixed, b.scratch, b.obs);
      else
        Model::observe_detect(team, cfg, b.idata, b.rdata, b.theta, b.fixed, b.scratch, b.obs);
    } else {
      Model::observe(team, cfg, b.idata, b.rdata, b.theta, b.fixed, b.scratch, b.obs);
    }
    if (shares && fc.n_shares > 0) {
      team.sync();
      group_shares(team, fc.opt, b.grad, fc.n_shares, b.obs + (n_obs - fc.n_shares));
    }
    team.sync();
  };
  // The attention table at this step, into the final table's place (the flow's end overwrites it).
  auto take_table = [&]() {
    Model::attention_table(team, cfg, b.idata, b.rdata, b.theta, b.fixed, b.table);
    team.sync();
  };
  // A detector whose answer changed at this sample gets the attention weights of this sample: exactly
  // its step for an answer given when it happens (a first crossing), the sample that settled it for one
  // known only later (a dip's minimum, a snap's steepest fall).
  auto phase_tables = [&](const long* before, long step) {
    unsigned changed = 0;
    FS_UNROLL
    for (int d = 0; d < kMaxDetectors; ++d)
      if (d < fc.n_detectors && st.fired[d] >= 0 && st.fired[d] != before[d]) changed |= 1u << d;
    if (changed == 0) return;
    take_table();
    const long R = b.table_rows;
    const Real* weight = b.table + (b.table_fields - 1) * R;
    for (int d = 0; d < fc.n_detectors; ++d) {
      if (!((changed >> d) & 1u)) continue;
      Real* out = b.table + (b.table_fields + d) * R;
      for (long i = team.rank(); i < R; i += team.size()) out[i] = weight[i];
      put(st.table_step, d, step);
    }
    team.sync();
  };
  auto write_record = [&]() {
    Real* row = b.series + st.next_record * n_obs;
    for (int o = team.rank(); o < n_obs; o += team.size()) row[o] = b.obs[o];
    ++st.next_record;
  };
  while (st.status == kFlowRunning && st.step < step_limit) {
    const long step = st.step;
    const bool record = st.next_record < b.n_records && step == b.record_steps[st.next_record];
    // (every step is detection's default: no 64-bit division for it, which a GPU thread does in software)
    const bool detecting =
        fc.detect_every > 0 && (fc.detect_every == 1 || step % fc.detect_every == 0 || step == fc.steps);
    // A model with observe_detect reads at detection steps only what every evaluation keeps, unless the run
    // may stop there and record the step in full.
    const bool observing = record || (detecting && (!Model::kObserveDetect || fc.stop_mask != 0));
    const StepContext ctx{step, fc.sweep_seed, fc.run_seed, observing, b.hot};
    const Real loss = Model::loss_grad(team, cfg, ctx, b.idata, b.rdata, b.theta, b.fixed, b.grad, b.scratch);
    st.final_loss = double(loss);
    if (step == 0) st.initial_loss = double(loss);
    if (loss_diverged(double(loss), st.initial_loss, fc.diverge_above)) {
      st.status = kFlowDiverged;
      break;
    }
    if (record || detecting) observe(record, record || !all_fired(fc, st));
    if (detecting) {
      long before[kMaxDetectors];
      FS_UNROLL
      for (int d = 0; d < kMaxDetectors; ++d) before[d] = st.fired[d];
      detect_sample<Model, Real>(cfg, fc, b.fixed, b.obs, n_obs, step, st);
      if (b.table_rows > 0) phase_tables(before, step);
    }
    if (record) write_record();
    if (step == fc.steps) {
      st.status = kFlowOk;
      break;
    }
    if (detecting && stop_reached(fc, st, step)) {  // the run's last record is this step's
      if (!record) {
        observe(true, true);
        write_record();
      }
      st.status = kFlowOk;
      st.stopped = true;
      break;
    }
    opt_step(team, fc.opt, step, b.theta, b.grad, b.opt_state);
    team.sync();
    st.step = step + 1;
  }
  if (st.status != kFlowRunning && b.table_rows > 0) take_table();  // the final configuration
}

// The whole flow of one run, uncut.
template <typename Model, typename Real, typename Team>
FS_HD FlowOutcome run_flow_steps(const Team& team, const typename Model::Config& cfg, const FlowConfig& fc,
                                 const FlowBuffers<Real>& b, int n_obs) {
  FlowState st;
  advance_flow<Model, Real>(team, cfg, fc, b, n_obs, st, fc.steps + 1);
  return outcome_of(st);
}

}  // namespace fs
