// The models the engine knows, behind one type-erased entry each, and the keys every model shares
// (the [train] section and the run seed).
#pragma once

#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernels/flow.h"
#include "kernels/model_api.h"

namespace fs {

// What one run produced.
struct RunResult {
  enum Status { kOk, kDiverged, kFailed, kMissing, kCancelled };
  Status status = kOk;
  long steps = 0;      // steps taken (the step at which the loss stopped being finite, if diverged)
  double t_final = 0;  // flow time reached
  double dt = 0;       // flow time per step
  double final_loss = 0;
  Series series;
  std::vector<std::optional<long>> detected;  // the step of each detector
  std::vector<double> final_obs;              // the last record
  std::vector<double> final_config;
  std::vector<std::vector<double>> final_rows;  // rows of final_config.csv (final_table_columns)
  struct Saved {  // with --save-params: initial and final parameters and the training data
    std::vector<double> theta0, theta, fixed, rdata;
    std::vector<int> idata;
  } saved;
  std::string message;

  // A run that could not go on: its data, parameters or checkpoint failed, for the reason given.
  static RunResult failure(const std::string& why) {
    RunResult r;
    r.status = kFailed;
    r.message = why;
    r.final_loss = NAN;
    return r;
  }

  // Flow time and step of detector d, NaN and -1 when it never fired.
  double detected_time(size_t d) const { return d < detected.size() && detected[d] ? double(*detected[d]) * dt : NAN; }
  long detected_step(size_t d) const { return d < detected.size() && detected[d] ? *detected[d] : -1; }
};

const char* status_name(RunResult::Status s);

// Training settings of one run, from the [train] keys.
using TrainConfig = FlowConfig;

// Per-run input to an executor.
struct RunInput {
  Params params;
  uint32_t sweep_seed = 0;
  bool save_params = false;
  std::string id = {};  // the run's id, carried for the caller
};

// One run in flight: advanced a slice at a time, saved into a checkpoint and restored from one.
class LiveRun {
 public:
  virtual ~LiveRun() = default;
  // Takes up to `max_steps` more steps; true once the run has finished or diverged.
  virtual bool advance(long max_steps) = 0;
  virtual long step() const = 0;         // the next step to take
  virtual RunResult finish() const = 0;  // the result of a finished run: series, detectors, final configuration
  virtual std::string save() const = 0;  // a checkpoint, in the layout both backends share
  virtual void restore(const std::string& checkpoint) = 0;
};

TrainConfig train_config(const Params& p, uint32_t sweep_seed, const ModelInfo& info);
int n_share_detectors(const ModelInfo& info);  // share_<group> detectors, after the model's own
// final_config.csv's columns after run_id: the attention table's fields, then for each of the model's own
// detectors the weight when it answered and that sample's step. Empty for a model without a table.
std::vector<NamedDoc> final_table_columns(const ModelInfo& info);
long train_steps(const Params& p);  // `steps`, or flow_time / lr where flow_time is given

// What a run of given parameters is, in numbers: how long it trains, what it records, what it holds. The
// grid gathers these over its cells as it checks them, so a sweep is sized and balanced without training
// a run (host/grid.h, host/footprint.h).
struct RunShape {
  long steps = 0;    // optimiser steps (train_steps)
  long records = 0;  // steps recorded (record_count)
  Sizes sizes;       // buffers, observables and table rows
};

// Relative cost of a run, steps times the words a step touches, for balancing shards.
inline double run_cost(const RunShape& s) { return double(s.steps + 1) * double(s.sizes.n_theta + s.sizes.n_scratch); }

// The [train] keys and the run seed, shared by every model.
const std::vector<ParamDef>& train_params();
const ParamDef& seed_param();

struct ModelEntry {
  ModelInfo info;
  // Throws ParamError when parameters that are each valid do not fit together; otherwise what a run of
  // them is.
  std::function<RunShape(const Params&)> shape;
  // One run on the calling thread, at its first step; the executor advances it.
  std::function<std::unique_ptr<LiveRun>(const RunInput&)> start;
  // Loss, gradient and a short flow of one run as JSON, for the reference checks.
  std::function<std::string(const RunInput&, long steps)> dump;
};

const std::vector<ModelEntry>& models();
const ModelEntry* find_model(const std::string& name);

}  // namespace fs
