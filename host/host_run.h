// A run's buffers on the host: its data and initial parameters drawn from its own streams, and the
// host-side end of a flow (series, detectors, final configuration). Shared by both executors: the CUDA
// executor draws data and initial parameters here too, so both backends start from the same bits.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

#include "host/bytes.h"
#include "host/registry.h"
#include "host/util.h"
#include "kernels/flow.h"
#include "kernels/rng.h"
#include "kernels/team.h"

namespace fs {

// Allocates on 64-byte boundaries (a cache line, and the host's widest vector load), so that where a
// run's buffers start, and with it the speed of its SIMD loops, does not depend on what was allocated
// before them (317 more integers of cooccurrence's data a run once made its paper-size step 12% slower
// on the CPU, with the same arithmetic).
template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr size_t kLine = 64;
  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  // Aligned by hand within a plain allocation 64 bytes longer, the allocation's start kept in the word
  // before: an aligned operator new bypasses glibc's per-thread caches, and a sweep of many tiny runs
  // allocates a dozen buffers for each.
  T* allocate(size_t n) {
    if (n > (std::numeric_limits<size_t>::max() - kLine) / sizeof(T)) throw std::bad_array_new_length();
    void* raw = std::malloc(n * sizeof(T) + kLine);
    if (!raw) throw std::bad_alloc();
    const auto at = (reinterpret_cast<std::uintptr_t>(raw) + kLine) & ~std::uintptr_t(kLine - 1);
    reinterpret_cast<void**>(at)[-1] = raw;
    return reinterpret_cast<T*>(at);
  }
  void deallocate(T* p, size_t) { std::free(reinterpret_cast<void**>(p)[-1]); }
  template <typename U>
  bool operator==(const CacheLineAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const CacheLineAllocator<U>&) const {
    return false;
  }
};
template <typename T>
using RunVector = std::vector<T, CacheLineAllocator<T>>;

template <typename Model, typename Real>
struct HostRun {
  typename Model::Config cfg;
  FlowConfig fc;
  Sizes sz;
  RunVector<int> idata;
  std::vector<long> schedule;  // recording steps
  RunVector<Real> rdata, theta, theta0, fixed, grad, scratch, opt_state, obs, series;
  RunVector<Real> table;  // (n_table_fields + n_detectors, n_table_rows): FlowBuffers::table

  HostRun(const RunInput& in, const ModelInfo& info) {
    cfg = Model::configure(in.params);
    fc = train_config(in.params, in.sweep_seed, info);
    sz = Model::sizes(cfg);
    sz.n_obs += fc.n_shares;
    fc.opt.n_groups = sz.n_groups;
    for (int g = 0; g < sz.n_groups; ++g) fc.opt.group_end[g] = int(sz.group_end[g]);
    idata.assign(size_t(sz.n_idata), 0);
    rdata.assign(size_t(sz.n_rdata), Real(0));
    theta.assign(size_t(sz.n_theta), Real(0));
    fixed.assign(size_t(sz.n_fixed), Real(0));
    Stream data_rng(fc.sweep_seed, fc.run_seed, kStreamData);
    Model::template make_data<Real>(cfg, data_rng, idata.data(), rdata.data());
    Stream init_rng(fc.sweep_seed, fc.run_seed, kStreamInit);
    Model::template init<Real>(cfg, init_rng, idata.data(), rdata.data(), theta.data(), fixed.data());
    theta0 = theta;
    schedule = record_schedule(fc);
    if (sz.n_table_rows > 0 && size_t(sz.n_table_fields) != info.final_table.size())
      throw std::logic_error(info.name + ": the attention table's fields are not info().final_table");
  }
  long n_table() const { return table_words(sz, fc.n_detectors); }

  // Workspace for running the flow on the host.
  void allocate_workspace() {
    grad.assign(size_t(sz.n_theta), Real(0));
    scratch.assign(size_t(sz.n_scratch), Real(0));
    opt_state.assign(size_t(sz.n_theta) * size_t(opt_state_per_param(fc.opt.kind)), Real(0));
    obs.assign(size_t(sz.n_obs), Real(0));
    series.assign(schedule.size() * size_t(sz.n_obs), Real(0));
    table.assign(size_t(n_table()), std::numeric_limits<Real>::quiet_NaN());  // what no flow wrote reads NaN
  }
  // Frees what only a flow on the host reads, once a device holds its own copy; finishing the run reads
  // theta0, the data, the fixed parameters and the schedule.
  void release_flow_buffers() {
    for (auto* v : {&theta, &grad, &scratch, &opt_state, &obs, &series, &table}) RunVector<Real>().swap(*v);
  }
  FlowBuffers<Real> buffers() {
    return {idata.data(),    rdata.data(),     theta.data(),          fixed.data(),
            grad.data(),     scratch.data(),   opt_state.data(),      obs.data(),
            series.data(),   schedule.data(),  long(schedule.size()), table.empty() ? nullptr : table.data(),
            sz.n_table_rows, sz.n_table_fields};
  }

  Real loss_grad(long step) {
    StepContext ctx{step, fc.sweep_seed, fc.run_seed};
    return Model::loss_grad(HostTeam{}, cfg, ctx, idata.data(), rdata.data(), theta.data(), fixed.data(), grad.data(),
                            scratch.data());
  }
  void observe() {
    Model::observe(HostTeam{}, cfg, idata.data(), rdata.data(), theta.data(), fixed.data(), scratch.data(), obs.data());
    if (fc.n_shares > 0)
      group_shares(HostTeam{}, fc.opt, grad.data(), fc.n_shares, obs.data() + (sz.n_obs - fc.n_shares));
  }
  void step(long k) { opt_step(HostTeam{}, fc.opt, k, theta.data(), grad.data(), opt_state.data()); }
};

// final_config.csv's rows from a flow's table buffer (FlowBuffers::table): the table's fields, then for
// each of the model's detectors the weight when it answered and that sample's step (NaN when it did not).
template <typename Real>
std::vector<std::vector<double>> table_rows(const Sizes& sz, int n_detectors, const FlowOutcome& out,
                                            const Real* table) {
  const long R = sz.n_table_rows;
  const int F = sz.n_table_fields;
  std::vector<std::vector<double>> rows(static_cast<size_t>(R));
  for (long i = 0; i < R; ++i) {
    auto& row = rows[size_t(i)];
    for (int f = 0; f < F; ++f) row.push_back(double(table[f * R + i]));
    for (int d = 0; d < n_detectors; ++d) {
      const bool taken = out.fired[d] >= 0 && out.table_step[d] >= 0;
      row.push_back(taken ? double(table[(F + d) * R + i]) : NAN);
      row.push_back(taken ? double(out.table_step[d]) : NAN);
    }
  }
  return rows;
}

// The host-side end of a flow: status, series with steps and flow times, detectors, final configuration.
// `final_theta` and `series` are what the flow left (on the host or copied back from a device).
template <typename Model, typename Real>
RunResult finish_run(const HostRun<Model, Real>& run, const RunInput& in, const FlowOutcome& out,
                     const Real* final_theta, const Real* series, const Real* table) {
  RunResult res;
  res.status = out.status == kFlowOk         ? RunResult::kOk
               : out.status == kFlowDiverged ? RunResult::kDiverged
                                             : RunResult::kCancelled;
  if (out.status == kFlowDiverged)
    res.message = std::isfinite(out.final_loss)
                      ? "loss " + format_double(out.final_loss) + " above diverge_above x max(|initial loss " +
                            format_double(out.initial_loss) + "|, 1) at step " + std::to_string(out.steps)
                      : "loss not finite at step " + std::to_string(out.steps);
  res.steps = out.steps;
  const double dt = flow_dt(run.fc);
  res.dt = dt;
  res.t_final = double(out.steps) * dt;
  if (out.stopped) res.message = "stopped early: every stop_after detector fired at least stop_margin before";
  res.final_loss = out.final_loss;
  const int n_obs = run.sz.n_obs;
  res.series.n_obs = n_obs;
  for (long k = 0; k < out.records; ++k) {  // a run stopped early has its last record where it stopped
    const long step = out.stopped && k == out.records - 1 ? out.steps : run.schedule[size_t(k)];
    res.series.step.push_back(step);
    res.series.t.push_back(double(step) * dt);
    for (int o = 0; o < n_obs; ++o) res.series.values.push_back(double(series[k * n_obs + o]));
  }
  if (out.records > 0) res.final_obs.assign(res.series.values.end() - n_obs, res.series.values.end());
  for (int d = 0; d < run.fc.n_detectors + run.fc.n_shares; ++d)
    res.detected.push_back(out.fired[d] >= 0 ? std::optional<long>(out.fired[d]) : std::nullopt);
  res.final_config =
      Model::template final_config<Real>(run.cfg, run.fc, run.theta0.data(), final_theta, run.fixed.data(), res.series);
  res.final_rows = table_rows(run.sz, run.fc.n_detectors, out, table);
  if (in.save_params) {
    res.saved.theta0.assign(run.theta0.begin(), run.theta0.end());
    res.saved.theta.assign(final_theta, final_theta + run.sz.n_theta);
    res.saved.fixed.assign(run.fixed.begin(), run.fixed.end());
    res.saved.rdata.assign(run.rdata.begin(), run.rdata.end());
    res.saved.idata.assign(run.idata.begin(), run.idata.end());
  }
  return res;
}

// A checkpoint of a run in flight: its flow state, parameters, optimiser state and the records so far.
// The same bytes whichever backend wrote them; the data and initial parameters are not saved, since
// the run's own streams draw them again.
template <typename Real>
std::string encode_checkpoint(const FlowState& st, const Real* theta, long n_theta, const Real* opt_state, long n_opt,
                              const Real* carry, long n_carry, const Real* series, long n_obs, const Real* table,
                              long n_table) {
  ByteWriter w;
  w.put<uint32_t>(sizeof(Real));
  w.put(st);
  w.put_array(theta, size_t(n_theta));
  w.put_array(opt_state, size_t(n_opt));
  w.put_array(carry, size_t(n_carry));
  w.put_array(series, size_t(st.next_record * n_obs));
  w.put_array(table, size_t(n_table));
  return w.take();
}

// Restores a checkpoint into buffers of the run's shape; RuntimeError when it belongs to another shape.
template <typename Real>
FlowState decode_checkpoint(const std::string& blob, Real* theta, long n_theta, Real* opt_state, long n_opt,
                            Real* carry, long n_carry, Real* series, long n_records, long n_obs, Real* table,
                            long n_table) {
  try {
    ByteReader r(blob);
    if (r.get<uint32_t>() != sizeof(Real)) throw std::runtime_error("another precision");
    const FlowState st = r.get<FlowState>();
    if (st.status != kFlowRunning || st.next_record < 0 || st.next_record > n_records || st.step < 0)
      throw std::runtime_error("not a run in flight");
    r.get_into(theta, size_t(n_theta));
    r.get_into(opt_state, size_t(n_opt));
    r.get_into(carry, size_t(n_carry));
    r.get_into(series, size_t(st.next_record * n_obs));
    r.get_into(table, size_t(n_table));
    if (!r.done()) throw std::runtime_error("trailing bytes");
    return st;
  } catch (const std::runtime_error& e) {
    throw RuntimeError(std::string("checkpoint does not fit the run (") + e.what() + ")");
  }
}

// One run in flight on the host: advanced a slice at a time, saved and restored between slices.
template <typename Model, typename Real>
class HostLiveRun final : public LiveRun {
 public:
  HostLiveRun(const RunInput& in, const ModelInfo& info) : in_(in), run_(in, info) {
    run_.allocate_workspace();
    buffers_ = run_.buffers();
  }
  bool advance(long max_steps) override {
    const long limit = st_.step + max_steps < run_.fc.steps + 1 ? st_.step + max_steps : run_.fc.steps + 1;
    advance_flow<Model, Real>(HostTeam{}, run_.cfg, run_.fc, buffers_, run_.sz.n_obs, st_, limit);
    return st_.status != kFlowRunning;
  }
  long step() const override { return st_.step; }
  RunResult finish() const override {
    return finish_run(run_, in_, outcome_of(st_), run_.theta.data(), run_.series.data(), run_.table.data());
  }
  std::string save() const override {
    return encode_checkpoint(st_, run_.theta.data(), run_.sz.n_theta, run_.opt_state.data(),
                             long(run_.opt_state.size()), run_.scratch.data(), run_.sz.n_carry, run_.series.data(),
                             run_.sz.n_obs, run_.table.data(), run_.n_table());
  }
  void restore(const std::string& blob) override {
    st_ = decode_checkpoint(blob, run_.theta.data(), run_.sz.n_theta, run_.opt_state.data(),
                            long(run_.opt_state.size()), run_.scratch.data(), run_.sz.n_carry, run_.series.data(),
                            long(run_.schedule.size()), run_.sz.n_obs, run_.table.data(), run_.n_table());
  }

 private:
  RunInput in_;
  HostRun<Model, Real> run_;
  FlowBuffers<Real> buffers_;
  FlowState st_;
};

}  // namespace fs
