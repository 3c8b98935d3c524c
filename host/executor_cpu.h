// The CPU executor: one run's whole flow on one thread (a team of one), and many runs across a pool of
// threads. Which thread runs which run never changes a number: each run draws only from its own streams.
#pragma once

#include <atomic>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "host/registry.h"
#include "kernels/rng.h"
#include "kernels/team.h"

namespace fs {

// Everything a run owns on the host. Buffer shapes are the model's (see its header).
template <typename Model, typename Real>
struct HostRun {
  typename Model::Config cfg;
  TrainConfig tc;
  Sizes sz;
  std::vector<int> idata;
  std::vector<Real> rdata, theta, theta0, fixed, grad, scratch, opt_state, obs;

  HostRun(const RunInput& in, const ModelInfo& info) {
    cfg = Model::configure(in.params);
    tc = train_config(in.params, in.sweep_seed, info);
    sz = Model::sizes(cfg);
    tc.opt.n_groups = sz.n_groups;
    for (int g = 0; g < sz.n_groups; ++g) tc.opt.group_end[g] = int(sz.group_end[g]);
    idata.assign(size_t(sz.n_idata), 0);
    rdata.assign(size_t(sz.n_rdata), Real(0));
    theta.assign(size_t(sz.n_theta), Real(0));
    fixed.assign(size_t(sz.n_fixed), Real(0));
    grad.assign(size_t(sz.n_theta), Real(0));
    scratch.assign(size_t(sz.n_scratch), Real(0));
    opt_state.assign(size_t(sz.n_theta) * size_t(opt_state_per_param(tc.opt.kind)), Real(0));
    obs.assign(size_t(sz.n_obs), Real(0));
    Stream data_rng(tc.sweep_seed, tc.run_seed, kStreamData);
    Model::template make_data<Real>(cfg, data_rng, idata.data(), rdata.data());
    Stream init_rng(tc.sweep_seed, tc.run_seed, kStreamInit);
    Model::template init<Real>(cfg, init_rng, theta.data(), fixed.data());
    theta0 = theta;
  }

  Real loss_grad(long step) {
    StepContext ctx{step, tc.sweep_seed, tc.run_seed};
    return Model::loss_grad(HostTeam{}, cfg, ctx, idata.data(), rdata.data(), theta.data(), fixed.data(),
                            grad.data(), scratch.data());
  }
  void observe() {
    Model::observe(HostTeam{}, cfg, idata.data(), rdata.data(), theta.data(), fixed.data(), scratch.data(),
                   obs.data());
  }
  void step(long k) { opt_step(HostTeam{}, tc.opt, k, theta.data(), grad.data(), opt_state.data()); }
};

inline bool is_record_step(const TrainConfig& tc, long step) {
  return step % tc.record_every == 0 || step == tc.steps;
}

template <typename Model, typename Real>
RunResult run_flow(const RunInput& in, const ModelInfo& info) {
  HostRun<Model, Real> run(in, info);
  const TrainConfig& tc = run.tc;
  RunResult res;
  res.series.n_obs = run.sz.n_obs;
  long step = 0;
  for (;; ++step) {
    const Real loss = run.loss_grad(step);
    if (!is_finite(loss)) {
      res.status = RunResult::kDiverged;
      res.message = "loss not finite at step " + std::to_string(step);
      res.final_loss = double(loss);
      break;
    }
    res.final_loss = double(loss);
    if (is_record_step(tc, step)) {
      run.observe();
      res.series.step.push_back(step);
      res.series.t.push_back(double(step) * tc.lr);
      for (Real x : run.obs) res.series.values.push_back(double(x));
    }
    if (step == tc.steps) break;
    run.step(step);
  }
  res.steps = step;
  res.t_final = double(step) * tc.lr;
  if (res.series.size() > 0)
    res.final_obs.assign(res.series.values.end() - run.sz.n_obs, res.series.values.end());
  res.detected = Model::detect(run.cfg, in.params, res.series);
  res.final_config = Model::template final_config<Real>(run.cfg, run.theta0.data(), run.theta.data(),
                                                        run.fixed.data());
  return res;
}

// Loss and gradient at the initial point, then `steps` optimiser steps, as JSON: the data, the initial
// parameters, and what an independent implementation must reproduce.
template <typename Model>
std::string dump_flow(const RunInput& in, const ModelInfo& info, long steps) {
  HostRun<Model, double> run(in, info);
  nlohmann::json j;
  j["model"] = info.name;
  nlohmann::json p;
  for (const auto& [k, v] : in.params.all()) {
    if (v.is_str)
      p[k] = v.str;
    else
      p[k] = v.num;
  }
  j["params"] = p;
  j["idata"] = run.idata;
  j["rdata"] = run.rdata;
  j["theta0"] = run.theta;
  j["fixed"] = run.fixed;
  j["group_end"] = std::vector<long>(run.sz.group_end, run.sz.group_end + run.sz.n_groups);
  j["group_lr"] = std::vector<double>(run.tc.opt.lr, run.tc.opt.lr + run.sz.n_groups);
  j["loss0"] = run.loss_grad(0);
  j["grad0"] = run.grad;
  run.observe();
  j["obs0"] = run.obs;
  double loss = 0;
  for (long k = 0; k < steps; ++k) {
    run.step(k);
    loss = run.loss_grad(k + 1);
  }
  run.observe();
  j["steps"] = steps;
  j["loss_final"] = steps > 0 ? loss : double(j["loss0"]);
  j["theta_final"] = run.theta;
  j["obs_final"] = run.obs;
  std::vector<std::string> names;
  for (const auto& o : info.observables) names.push_back(o.name);
  j["obs_names"] = names;
  return j.dump();
}

// Runs every input on `threads` threads; `on_done` is called (from worker threads, serialised) after
// each run. A run that throws is marked failed; the others go on.
std::vector<RunResult> execute_cpu(const ModelEntry& entry, const std::vector<RunInput>& inputs, int threads,
                                   const std::function<void(long index, const RunResult&)>& on_done = {});

}  // namespace fs
