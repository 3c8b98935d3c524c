// The host's side of a device executor, kept apart from CUDA so the CPU tests run it: a pending run
// staged for a device slot (data and initial parameters drawn, checkpoint decoded), and a run a device
// hands back finished on the host (series, detectors, final configuration). Both are pure functions of
// one run, so a WorkerPool does many at once while the device computes.
#pragma once

#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "host/executor.h"
#include "host/host_run.h"

namespace fs {

// A run drawn on the host and waiting for a slot.
template <typename Model, typename Real>
struct Prepared {
  long key = 0;
  RunInput input;
  std::unique_ptr<HostRun<Model, Real>> run;
  std::vector<Real> carry;  // (n_carry)
  FlowState state;
  std::string checkpoint;  // as it came, kept so an unplaced run is saved unchanged
};

// A pending run staged in its precision, or the failed result of a run that could not be (a checkpoint
// that does not fit, parameters that do not).
template <typename Model>
struct Staged {
  std::optional<Prepared<Model, double>> fp64;
  std::optional<Prepared<Model, float>> fp32;
  FinishedRun failed;  // read only when neither is set
};

template <typename Model, typename Real>
Prepared<Model, Real> prepare_run(PendingRun&& p, const ModelInfo& info) {
  Prepared<Model, Real> pr;
  pr.key = p.key;
  pr.run = std::make_unique<HostRun<Model, Real>>(p.input, info);
  HostRun<Model, Real>& run = *pr.run;
  run.opt_state.assign(size_t(run.sz.n_theta) * size_t(opt_state_per_param(run.fc.opt.kind)), Real(0));
  run.series.assign(run.schedule.size() * size_t(run.sz.n_obs), Real(0));
  run.table.assign(size_t(run.n_table()), std::numeric_limits<Real>::quiet_NaN());
  pr.carry.assign(size_t(run.sz.n_carry), Real(0));  // as a fresh host workspace starts
  if (!p.checkpoint.empty())
    pr.state = decode_checkpoint(p.checkpoint, run.theta.data(), run.sz.n_theta, run.opt_state.data(),
                                 long(run.opt_state.size()), pr.carry.data(), run.sz.n_carry, run.series.data(),
                                 long(run.schedule.size()), run.sz.n_obs, run.table.data(), run.n_table());
  pr.checkpoint = std::move(p.checkpoint);
  pr.input = std::move(p.input);
  return pr;
}

template <typename Model>
Staged<Model> stage_run(PendingRun&& p, const ModelInfo& info) {
  Staged<Model> s;
  s.failed.key = p.key;
  s.failed.id = p.input.id;
  try {
    if (p.input.params.choice("precision") == "fp64")
      s.fp64.emplace(prepare_run<Model, double>(std::move(p), info));
    else
      s.fp32.emplace(prepare_run<Model, float>(std::move(p), info));
  } catch (const std::exception& e) {
    s.fp64.reset();
    s.fp32.reset();
    s.failed.result = RunResult::failure(e.what());
  }
  return s;
}

// A run a device has handed back, waiting for its host-side finish.
class ReturnedRun {
 public:
  virtual ~ReturnedRun() = default;
  virtual FinishedRun finish() const = 0;
};

template <typename Model, typename Real>
class Returned final : public ReturnedRun {
 public:
  // `theta`, `series` and `table` are the run's rows as the device left them.
  Returned(long key, RunInput input, std::unique_ptr<HostRun<Model, Real>> run, const FlowOutcome& outcome,
           const Real* theta, const Real* series, long series_words, const Real* table, long table_words)
      : key_(key),
        input_(std::move(input)),
        run_(std::move(run)),
        outcome_(outcome),
        theta_(theta, theta + run_->sz.n_theta),
        series_(series, series + series_words),
        table_(table, table + table_words) {}

  FinishedRun finish() const override {
    try {
      return {key_, input_.id, finish_run(*run_, input_, outcome_, theta_.data(), series_.data(), table_.data()), {}};
    } catch (const std::exception& e) {
      return {key_, input_.id, RunResult::failure(e.what()), {}};
    }
  }

 private:
  long key_;
  RunInput input_;
  std::unique_ptr<HostRun<Model, Real>> run_;
  FlowOutcome outcome_;
  std::vector<Real> theta_, series_, table_;
};

}  // namespace fs
