// The CPU executor: one run's whole flow on one thread (a team of one), and many runs across a pool of
// threads. Which thread runs which run never changes a number: each run draws only from its own streams.
#pragma once

#include <atomic>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "host/executor.h"
#include "host/host_run.h"
#include "host/registry.h"
#include "kernels/rng.h"
#include "kernels/team.h"

namespace fs {

// Loss and gradient at the initial point, then `steps` optimiser steps, as JSON: the data, the initial
// parameters, and what an independent implementation must reproduce.
template <typename Model>
std::string dump_flow(const RunInput& in, const ModelInfo& info, long steps) {
  HostRun<Model, double> run(in, info);
  run.allocate_workspace();
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
  j["group_lr"] = std::vector<double>(run.fc.opt.lr, run.fc.opt.lr + run.sz.n_groups);
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

// Runs every input to its end on `threads` threads; `on_done` is called after each run. A run that
// throws is marked failed; the others go on.
std::vector<RunResult> execute_cpu(const ModelEntry& entry, const std::vector<RunInput>& inputs, int threads,
                                   const std::function<void(long index, const RunResult&)>& on_done = {});

}  // namespace fs
