// A (model, precision) pair's staging check (staging_check.h), compiled in the build part that holds the
// pair.
#pragma once

#include <algorithm>
#include <limits>
#include <type_traits>

#include "host/executor_cpu.h"
#include "host/registry.h"
#include "host/staging.h"
#include "host/worker_pool.h"
#include "restart_check.h"
#include "staging_check.h"

namespace fs::test {

// What a device executor does on the host, with the device's part played by the host flow: runs staged
// on a pool (one from a checkpoint, one whose checkpoint does not fit), advanced to the end, their rows
// copied out and the host's flow buffers released, then finished on the pool. Every number must be
// the CPU executor's.
template <typename Model, typename Real>
void check_staging(std::vector<RunInput> in) {
  const auto& entry = *find_model(Model::kName);
  for (auto& r : in) r.save_params = true;
  const auto cpu = execute_cpu(entry, in, 1);
  std::vector<PendingRun> pending;
  for (size_t i = 0; i < in.size(); ++i) pending.push_back({long(i), in[i], {}});
  auto live = entry.start(in[1]);
  live->advance(37);
  pending[1].checkpoint = live->save();
  pending.push_back({99, in[0], pending[1].checkpoint.substr(0, pending[1].checkpoint.size() / 2)});

  WorkerPool pool(4);
  std::vector<Staged<Model>> staged(pending.size());
  pool.for_each(long(pending.size()), [&](long i) {
    auto p = pending[size_t(i)];
    staged[size_t(i)] = stage_run<Model>(std::move(p), entry.info);
  });
  const auto& broken = staged.back();
  REQUIRE_FALSE(broken.fp64);
  REQUIRE_FALSE(broken.fp32);
  CHECK(broken.failed.key == 99);
  CHECK(broken.failed.result.status == RunResult::kFailed);
  CHECK_THAT(broken.failed.result.message, Catch::Matchers::Contains("checkpoint does not fit"));

  std::vector<std::unique_ptr<ReturnedRun>> returned;
  auto device = [&](Prepared<Model, Real>& pr, size_t i) {
    REQUIRE(pr.key == long(i));
    auto& run = *pr.run;
    INFO(Model::kName << " run " << i << (sizeof(Real) == 8 ? " fp64" : " fp32"));
    // Drawn on a pool, the same initial parameters as the CPU executor's.
    REQUIRE(run.theta0.size() == cpu[i].saved.theta0.size());
    for (size_t k = 0; k < run.theta0.size(); ++k) REQUIRE(double(run.theta0[k]) == cpu[i].saved.theta0[k]);
    if (!pending[i].checkpoint.empty()) {
      CHECK(pr.state.step == 37);
      CHECK(encode_checkpoint(pr.state, run.theta.data(), run.sz.n_theta, run.opt_state.data(),
                              long(run.opt_state.size()), pr.carry.data(), run.sz.n_carry, run.series.data(),
                              run.sz.n_obs, run.table.data(), run.n_table()) == pending[i].checkpoint);
    }
    run.grad.assign(size_t(run.sz.n_theta), Real(0));
    run.scratch.assign(size_t(run.sz.n_scratch), Real(0));
    std::copy(pr.carry.begin(), pr.carry.end(), run.scratch.begin());
    run.obs.assign(size_t(run.sz.n_obs), Real(0));
    // The parameters a step reads most copied where the model asks (the GPU's placement for runs too large
    // for shared memory), poisoned so that a read before the copy shows.
    std::vector<Real> hot(size_t(run.sz.n_hot), std::numeric_limits<Real>::quiet_NaN());
    auto b = run.buffers();
    b.hot = hot.empty() ? nullptr : hot.data();
    FlowState st = pr.state;
    advance_flow<Model, Real>(HostTeam{}, run.cfg, run.fc, b, run.sz.n_obs, st, run.fc.steps + 1);
    const RunVector<Real> theta = run.theta, series = run.series, table = run.table;
    run.release_flow_buffers();  // what a device executor does once the device holds them
    returned.push_back(std::make_unique<Returned<Model, Real>>(pr.key, pr.input, std::move(pr.run), outcome_of(st),
                                                               theta.data(), series.data(), long(series.size()),
                                                               table.data(), long(table.size())));
  };
  for (size_t i = 0; i < in.size(); ++i) {
    REQUIRE(bool(staged[i].fp64) != bool(staged[i].fp32));
    auto& prepared = [&]() -> std::optional<Prepared<Model, Real>>& {
      if constexpr (std::is_same_v<Real, double>)
        return staged[i].fp64;
      else
        return staged[i].fp32;
    }();
    REQUIRE(prepared);
    device(*prepared, i);
  }
  std::vector<FinishedRun> done(returned.size());
  pool.for_each(long(returned.size()), [&](long i) { done[size_t(i)] = returned[size_t(i)]->finish(); });
  for (size_t i = 0; i < in.size(); ++i) {
    INFO(Model::kName << " run " << i);
    CHECK(done[i].key == long(i));
    CHECK(done[i].id == in[i].id);
    require_identical(cpu[i], done[i].result);
  }
}

template <int K>
void check_staging_in_part(int pair, const std::vector<RunInput>& in) {
#define FS_CHECK(M, R)                                              \
  if constexpr (model_pair<M, R>() % kBuildParts == K) {            \
    if (pair == model_pair<M, R>()) return check_staging<M, R>(in); \
  }
#define FS_CHECK_BOTH(M) FS_CHECK(M, float) FS_CHECK(M, double)
  FLOWSWEEP_MODELS(FS_CHECK_BOTH)
#undef FS_CHECK_BOTH
#undef FS_CHECK
  FAIL("build part " << K << " holds no pair " << pair);
}

}  // namespace fs::test
