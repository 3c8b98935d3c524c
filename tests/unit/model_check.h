// Checks every model family must pass, written once: the gradient against central differences at a
// random point, and the same numbers from a team of any size as from one thread.
#pragma once

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <vector>

#include "host/executor_cpu.h"
#include "host/grid.h"
#include "host/host_run.h"
#include "host/spec.h"
#include "tests/unit/thread_team.h"

namespace fs::test {

// Every run of a spec given as text, on two CPU threads; with `params`, each run's parameters too, in order.
inline std::vector<RunResult> run_spec(const std::string& text, std::vector<Params>* params = nullptr) {
  auto spec = parse_spec(text, "<test>");
  const auto in = grid_inputs(spec);
  if (params)
    for (const auto& i : in) params->push_back(i.params);
  return execute_cpu(*spec.entry, in, 2);
}

// Every key at its default (the registered model's, with the detection keys every model takes), then `set`.
inline Params with_defaults(const ModelInfo& model, const std::vector<std::pair<std::string, Value>>& set) {
  const ModelInfo& info = find_model(model.name)->info;
  Params p;
  for (const auto* list : {&info.params, &info.detect_params, &train_params()})
    for (const auto& d : *list)
      p.set(d.name, d.kind == ParamDef::kChoice || d.kind == ParamDef::kNames ? Value::text(d.def_choice)
                                                                              : Value::number(d.def));
  p.set("seed", Value::number(0));
  for (const auto& [k, v] : set) p.set(k, v);
  return p;
}

// A run's data and initial point, moved by `spread` Gaussian noise so every term of the gradient works.
template <typename Model, typename Real = double>
struct ModelPoint {
  HostRun<Model, Real> run;
  ModelPoint(const Params& p, const ModelInfo& info, double spread) : run(RunInput{p, 7}, info) {
    run.allocate_workspace();
    Stream jitter(7, 7, 99);
    for (auto& x : run.theta) x += Real(spread * jitter.normal());
  }
  template <typename Vector>
  double loss(const Vector& theta, long step) {
    std::vector<Real> g(theta.size()), s(run.scratch.size());
    const StepContext ctx{step, run.fc.sweep_seed, run.fc.run_seed, false};
    return Model::loss_grad(HostTeam{}, run.cfg, ctx, run.idata.data(), run.rdata.data(), theta.data(),
                            run.fixed.data(), g.data(), s.data());
  }
};

// Normalised error of the gradient against central differences; `stride` > 1 checks every stride-th
// parameter (large models).
template <typename Model>
void check_gradient(const Params& p, double spread, long step = 0, long stride = 1, double tol = 1e-7) {
  const ModelInfo info = Model::info();
  ModelPoint<Model> pt(p, info, spread);
  auto& r = pt.run;
  const StepContext ctx{step, r.fc.sweep_seed, r.fc.run_seed, false};
  Model::loss_grad(HostTeam{}, r.cfg, ctx, r.idata.data(), r.rdata.data(), r.theta.data(), r.fixed.data(),
                   r.grad.data(), r.scratch.data());
  const double h = 1e-5;
  double err2 = 0, norm2 = 0;
  for (size_t i = 0; i < r.theta.size(); i += size_t(stride)) {
    auto tp = r.theta, tm = r.theta;
    tp[i] += h;
    tm[i] -= h;
    const double fd = (pt.loss(tp, step) - pt.loss(tm, step)) / (2 * h);
    err2 += (fd - r.grad[i]) * (fd - r.grad[i]);
    norm2 += r.grad[i] * r.grad[i];
  }
  REQUIRE(norm2 > 1e-12);  // an all-zero gradient would pass trivially
  CHECK(std::sqrt(err2 / norm2) < tol);
}

// A team of any size computes bit for bit what one thread computes: loss, gradient, observables and the
// attention table.
template <typename Model>
void check_team_invariance(const Params& p, double spread, long step = 3) {
  const ModelInfo info = Model::info();
  ModelPoint<Model> pt(p, info, spread);
  auto& r = pt.run;
  const StepContext ctx{step, r.fc.sweep_seed, r.fc.run_seed, true};
  const double loss1 = Model::loss_grad(HostTeam{}, r.cfg, ctx, r.idata.data(), r.rdata.data(), r.theta.data(),
                                        r.fixed.data(), r.grad.data(), r.scratch.data());
  Model::observe(HostTeam{}, r.cfg, r.idata.data(), r.rdata.data(), r.theta.data(), r.fixed.data(), r.scratch.data(),
                 r.obs.data());
  const size_t n_table = size_t(r.sz.n_table_rows) * size_t(r.sz.n_table_fields);
  std::vector<double> table1(n_table, -7.0);
  Model::attention_table(HostTeam{}, r.cfg, r.idata.data(), r.rdata.data(), r.theta.data(), r.fixed.data(),
                         table1.data());
  for (double x : table1) REQUIRE(x != -7.0);  // every cell written
  for (int size : {2, 3, 8, 13, 32}) {
    std::vector<double> grad(r.grad.size(), -7.0), scratch(r.scratch.size(), -7.0), obs(r.obs.size(), -7.0);
    std::vector<double> table(n_table, -7.0);
    std::vector<double> losses(size_t(size), -7.0);
    run_team(size, [&](const ThreadTeam& team) {
      losses[size_t(team.rank())] = Model::loss_grad(team, r.cfg, ctx, r.idata.data(), r.rdata.data(), r.theta.data(),
                                                     r.fixed.data(), grad.data(), scratch.data());
      Model::observe(team, r.cfg, r.idata.data(), r.rdata.data(), r.theta.data(), r.fixed.data(), scratch.data(),
                     obs.data());
      team.sync();
      Model::attention_table(team, r.cfg, r.idata.data(), r.rdata.data(), r.theta.data(), r.fixed.data(), table.data());
    });
    INFO("team size " << size);
    for (double l : losses) REQUIRE(l == loss1);
    REQUIRE(grad == std::vector<double>(r.grad.begin(), r.grad.end()));
    for (size_t k = 0; k < n_table; ++k)  // bit for bit, NaN where one thread wrote NaN
      REQUIRE(std::memcmp(&table[k], &table1[k], sizeof(double)) == 0);
    // The model's own observables (the group shares after them are the flow's, not observe's).
    const size_t own = size_t(r.sz.n_obs - r.fc.n_shares);
    REQUIRE(std::vector<double>(obs.begin(), obs.begin() + long(own)) ==
            std::vector<double>(r.obs.begin(), r.obs.begin() + long(own)));
  }
}

}  // namespace fs::test
