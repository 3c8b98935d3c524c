#include "host/registry.h"

#include <algorithm>
#include <type_traits>

#include "host/host_run_parts.h"
#include "host/util.h"

namespace fs {

std::string Value::to_string() const { return is_str ? str : format_double(num); }

const Value& Params::at(const std::string& k) const {
  if (auto it = own_.find(k); it != own_.end()) return it->second;
  if (base_)
    if (auto it = base_->find(k); it != base_->end()) return it->second;
  throw std::logic_error("parameter '" + k + "' was never resolved");
}

Params::Map Params::all() const {
  if (!base_) return own_;
  Map m = *base_;
  for (const auto& [k, v] : own_) m[k] = v;
  return m;
}

Params Params::shared() const {
  Params p;
  p.base_ = std::make_shared<const Map>(all());
  return p;
}

const char* status_name(RunResult::Status s) {
  switch (s) {
    case RunResult::kOk:
      return "ok";
    case RunResult::kDiverged:
      return "diverged";
    case RunResult::kFailed:
      return "failed";
    case RunResult::kMissing:
      return "missing";
    case RunResult::kCancelled:
      return "cancelled";
  }
  return "?";
}

const std::vector<ParamDef>& train_params() {
  static const std::vector<ParamDef> defs = {
      ParamDef::choice("optimizer", "gd", {"gd", "momentum", "adam"}, "gradient descent, heavy ball, or Adam"),
      ParamDef::real("lr", 0.01, 0.0, 1e12, true,
                     "base learning rate; flow time t = steps * lr (steps * lr / (1 - momentum) under momentum)"),
      ParamDef::real("lr_ratio", 1.0, 0.0, 1e12, true, "second group's rate over the first's"),
      ParamDef::integer("steps", 1000, 0, 1L << 40, "optimiser steps"),
      ParamDef::real("flow_time", 0.0, 0.0, 1e15, false,
                     "when > 0, replaces steps: run to this flow time (flow_time / lr steps, rounded; lr / (1 - "
                     "momentum) under momentum)"),
      ParamDef::real("record_dt", 0.0, 0.0, 1e15, false,
                     "when > 0, replaces record_every: record every record_dt of flow time (rounded to steps)"),
      ParamDef::choice("record", "linear", {"linear", "log"},
                       "recording schedule: every record_every steps, or `records` log-spaced steps"),
      ParamDef::integer("record_every", 10, 1, 1L << 40, "steps between recordings (the last step is always recorded)"),
      ParamDef::integer("records", 200, 2, 1L << 24, "number of log-spaced recordings (record = log)"),
      ParamDef::choice("precision", "fp64", {"fp32", "fp64"}, "arithmetic of the flow"),
      ParamDef::real("momentum", 0.9, 0.0, std::nextafter(1.0, 0.0), false,
                     "heavy-ball coefficient (optimizer = momentum), below 1"),
      ParamDef::real("beta1", 0.9, 0.0, 1.0, false, "Adam first-moment decay"),
      ParamDef::real("beta2", 0.999, 0.0, 1.0, false, "Adam second-moment decay"),
      ParamDef::real("eps", 1e-8, 0.0, 1.0, true, "Adam denominator offset"),
      ParamDef::real("diverge_above", 1e6, 0.0, 1e300, false,
                     "a run diverges when its loss is not finite or |loss| > diverge_above * max(|initial loss|, 1) "
                     "(0: only when not finite)"),
  };
  return defs;
}

const ParamDef& seed_param() {
  static const ParamDef d = ParamDef::integer("seed", 0, 0, 4294967295L, "the run's seed (data and initialisation)");
  return d;
}

namespace {

// A count of steps given directly (`steps_key`) or, when `time_key` is above 0, as that flow time over lr,
// rounded: runs with different step sizes then stop and record at the same flow times.
long steps_of(const Params& p, const char* time_key, const char* steps_key) {
  const double T = p.real(time_key);
  if (T <= 0) return p.integer(steps_key);
  const std::string& o = p.choice("optimizer");
  const Optimizer kind = o == "adam" ? Optimizer::kAdam : o == "momentum" ? Optimizer::kMomentum : Optimizer::kGD;
  const double n = std::round(T / flow_dt(p.real("lr"), int(kind), p.real("momentum")));
  if (!(n <= double(1L << 40))) throw ParamError(time_key, std::string(time_key) + " / lr is more than 2^40 steps");
  return long(n);
}

long train_record_every(const Params& p) { return std::max(1L, steps_of(p, "record_dt", "record_every")); }

// The steps and the recording schedule: what record_schedule and record_count read.
void set_schedule(const Params& p, FlowConfig& fc) {
  fc.steps = train_steps(p);
  fc.record_every = train_record_every(p);
  fc.schedule = p.choice("record") == "log" ? 1 : 0;
  fc.records = p.integer("records");
}

}  // namespace

long train_steps(const Params& p) { return steps_of(p, "flow_time", "steps"); }

TrainConfig train_config(const Params& p, uint32_t sweep_seed, const ModelInfo& info) {
  TrainConfig tc;
  const std::string& o = p.choice("optimizer");
  tc.opt.kind = o == "adam" ? Optimizer::kAdam : o == "momentum" ? Optimizer::kMomentum : Optimizer::kGD;
  tc.opt.momentum = p.real("momentum");
  tc.opt.beta1 = p.real("beta1");
  tc.opt.beta2 = p.real("beta2");
  tc.opt.eps = p.real("eps");
  tc.lr = p.real("lr");
  tc.lr_ratio = p.real("lr_ratio");
  tc.opt.n_groups = int(info.groups.size());
  for (size_t g = 0; g < info.groups.size(); ++g) tc.opt.lr[g] = tc.lr * (info.groups[g].ratio ? tc.lr_ratio : 1.0);
  set_schedule(p, tc);
  tc.fp64 = p.choice("precision") == "fp64";
  tc.sweep_seed = sweep_seed;
  tc.run_seed = uint32_t(p.integer("seed"));
  tc.n_shares = n_share_detectors(info);
  tc.diverge_above = p.real("diverge_above");
  tc.detect_every = p.integer("detect_every");
  tc.n_detectors = int(info.detectors.size()) - tc.n_shares;
  tc.share_threshold = tc.n_shares > 0 ? p.real("share_threshold") : 0.5;
  const std::string& stop = p.choice("stop_after");
  for (size_t from = 0; from < stop.size();) {
    const size_t comma = std::min(stop.find(',', from), stop.size());
    const std::string name = stop.substr(from, comma - from);
    for (size_t d = 0; d < info.detectors.size(); ++d)
      if (info.detectors[d].name == name) tc.stop_mask |= 1u << d;
    from = comma + 1;
  }
  tc.stop_margin = long(std::ceil(p.real("stop_margin") / flow_dt(tc) - 1e-9));
  return tc;
}

int n_share_detectors(const ModelInfo& info) { return info.groups.size() >= 2 ? int(info.groups.size()) : 0; }

std::vector<NamedDoc> final_table_columns(const ModelInfo& info) {
  std::vector<NamedDoc> cols = info.final_table;
  if (cols.empty()) return cols;
  const std::string w = cols.back().name;
  const size_t own = info.detectors.size() - size_t(n_share_detectors(info));
  for (size_t d = 0; d < own; ++d) {
    const std::string& det = info.detectors[d].name;
    cols.push_back({w + "_at_" + det,
                    w + " at the detection sample where " + det + "'s answer last changed (empty: it never fired)"});
    cols.push_back({w + "_at_" + det + "_step", "the step of " + w + "_at_" + det});
  }
  return cols;
}

namespace {

// Every model with two or more parameter groups records each group's share of the loss decrease and
// can detect when a group's share first passes a threshold.
void add_group_shares(ModelInfo& mi) {
  if (mi.groups.size() < 2) return;
  for (const auto& g : mi.groups)
    mi.observables.push_back(
        {"share_" + g.name, "group " + g.name +
                                "'s share of the loss decrease, lr_g |grad_g|^2 "
                                "over its sum over groups (the gradient flow's; NaN at a stationary point)"});
  for (const auto& g : mi.groups)
    mi.detectors.push_back({"share_" + g.name, "first time group " + g.name + "'s share passes share_threshold"});
  mi.detect_params.push_back(ParamDef::real("share_threshold", 0.5, 0.0, 1.0, true,
                                            "share_<group>: the share of the loss decrease a group must pass"));
}

// What every model takes besides its own detectors: the group shares, the detection schedule and the
// early stop.
void add_generic_detection(ModelInfo& mi) {
  add_group_shares(mi);
  if (mi.detectors.size() > size_t(kMaxDetectors))
    throw std::logic_error(mi.name + ": more detectors than kMaxDetectors (kernels/detect.h)");
  std::vector<std::string> names;
  for (const auto& d : mi.detectors) names.push_back(d.name);
  mi.detect_params.push_back(ParamDef::integer(
      "detect_every", 1, 0, 1L << 40,
      "steps between detection samples (and the last step): phase times are exact to this (0: no detection)"));
  mi.detect_params.push_back(ParamDef::names(
      "stop_after", names, "end a run once every detector named here has fired and held still for stop_margin"));
  mi.detect_params.push_back(ParamDef::real(
      "stop_margin", 0.0, 0.0, 1e15, false,
      "flow time a stop_after detector's answer must hold before the run ends (a dip or snap can still move)"));
}

// The model contract (kernels/model_api.h), checked when a model is registered: a missing or misspelt
// static is named here rather than deep inside a template instantiation.
template <typename T>
T& any();
#define FS_MODEL_PROVIDES(trait, ...)    \
  template <typename M, typename = void> \
  struct trait : std::false_type {};     \
  template <typename M>                  \
  struct trait<M, std::void_t<decltype(__VA_ARGS__)>> : std::true_type {};
FS_MODEL_PROVIDES(has_info, ModelInfo(M::info()))
FS_MODEL_PROVIDES(has_configure, typename M::Config(M::configure(any<const Params>())))
FS_MODEL_PROVIDES(has_sizes, Sizes(M::sizes(any<const typename M::Config>())))
FS_MODEL_PROVIDES(has_make_data, M::template make_data<double>(any<const typename M::Config>(), any<Stream>(),
                                                               any<int*>(), any<double*>()))
FS_MODEL_PROVIDES(has_init, M::template init<double>(any<const typename M::Config>(), any<Stream>(), any<const int*>(),
                                                     any<const double*>(), any<double*>(), any<double*>()))
FS_MODEL_PROVIDES(has_loss_grad,
                  double(M::template loss_grad<HostTeam, double>(any<const HostTeam>(), any<const typename M::Config>(),
                                                                 any<const StepContext>(), any<const int*>(),
                                                                 any<const double*>(), any<const double*>(),
                                                                 any<const double*>(), any<double*>(), any<double*>())))
FS_MODEL_PROVIDES(has_observe,
                  M::template observe<HostTeam, double>(any<const HostTeam>(), any<const typename M::Config>(),
                                                        any<const int*>(), any<const double*>(), any<const double*>(),
                                                        any<const double*>(), any<double*>(), any<double*>()))
FS_MODEL_PROVIDES(has_detect, M::template detect<double>(any<const typename M::Config>(), any<const double*>(),
                                                         any<const double*>(), any<long>(),
                                                         any<typename M::DetectState>(), any<long*>()))
FS_MODEL_PROVIDES(has_final_config, std::vector<double>(M::template final_config<double>(
                                        any<const typename M::Config>(), any<const FlowConfig>(), any<const double*>(),
                                        any<const double*>(), any<const double*>(), any<const Series>())))
FS_MODEL_PROVIDES(has_attention_table,
                  M::template attention_table<HostTeam, double>(any<const HostTeam>(), any<const typename M::Config>(),
                                                                any<const int*>(), any<const double*>(),
                                                                any<const double*>(), any<const double*>(),
                                                                any<double*>()))
#undef FS_MODEL_PROVIDES

template <typename Model>
void check_contract() {
  static_assert(std::is_base_of<ModelBase, Model>::value, "a model derives from fs::ModelBase (kernels/model_api.h)");
  static_assert(std::is_trivially_copyable<typename Model::Config>::value,
                "Model::Config must be plain data: it is copied to the device as bytes");
  static_assert(std::is_convertible<decltype(Model::kName), const char*>::value, "static constexpr const char* kName");
  static_assert(has_info<Model>::value, "static ModelInfo info()");
  static_assert(has_configure<Model>::value, "static Config configure(const Params&)");
  static_assert(has_sizes<Model>::value, "static Sizes sizes(const Config&)");
  static_assert(has_make_data<Model>::value, "template <Real> static void make_data(Config, Stream&, int*, Real*)");
  static_assert(has_init<Model>::value,
                "template <Real> static void init(Config, Stream&, const int*, const Real*, Real*, Real*)");
  static_assert(has_loss_grad<Model>::value,
                "template <Team, Real> FS_HD static Real loss_grad(...) (kernels/model_api.h)");
  static_assert(has_observe<Model>::value,
                "template <Team, Real> FS_HD static void observe(...) (kernels/model_api.h)");
  static_assert(has_detect<Model>::value,
                "struct DetectState and template <Real> FS_HD static void detect(Config, const Real* fixed, "
                "const Real* obs, long step, DetectState&, long* fired) (kernels/model_api.h)");
  static_assert(std::is_trivially_copyable<typename Model::DetectState>::value &&
                    sizeof(typename Model::DetectState) <= size_t(kDetectStateBytes),
                "Model::DetectState must be plain data of at most kDetectStateBytes (kernels/detect.h)");
  static_assert(has_final_config<Model>::value, "template <Real> static std::vector<double> final_config(...)");
  static_assert(has_attention_table<Model>::value,
                "template <Team, Real> FS_HD static void attention_table(...), or ModelBase's (kernels/model_api.h)");
}

template <typename Model>
ModelEntry make_entry() {
  check_contract<Model>();
  ModelEntry e;
  e.info = Model::info();
  add_generic_detection(e.info);
  const ModelInfo info = e.info;
  e.shape = [](const Params& p) {
    RunShape s;
    s.sizes = Model::sizes(Model::configure(p));
    FlowConfig fc;
    set_schedule(p, fc);
    s.steps = fc.steps;
    s.records = record_count(fc);
    return s;
  };
  e.start = [info](const RunInput& in) { return start_host_run_of<Model>(in, info); };
  e.dump = [info](const RunInput& in, long steps) { return dump_flow_of<Model>(in, info, steps); };
  return e;
}

}  // namespace

const std::vector<ModelEntry>& models() {
#define FS_ENTRY(M) make_entry<M>(),
  static const std::vector<ModelEntry> list = {FLOWSWEEP_MODELS(FS_ENTRY)};
#undef FS_ENTRY
  return list;
}

const ModelEntry* find_model(const std::string& name) {
  for (const auto& m : models())
    if (m.info.name == name) return &m;
  return nullptr;
}

}  // namespace fs
