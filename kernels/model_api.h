// What a model family declares about itself, and the small host-side types its header uses to do so.
// The math itself lives in the family's header as host-and-device functions; these types only describe
// it (parameters, groups, observables, detectors) to the spec parser, the tables and `flowsweep models`.
//
// The model contract. A model family is one struct in one header (kernels/<family>.h), listed once in
// kernels/models.h; nothing else in the engine changes. It derives from ModelBase (below) and provides:
//
//   static constexpr const char* kName;                 its name in specs (`model = "..."`)
//   struct Config;                                       everything a run's math needs, plain data (it is
//                                                        copied to the device as bytes)
//   static ModelInfo info();                             keys, groups, observables, detectors, final columns
//   static Config configure(const Params&);              resolved keys -> Config; throws ParamError(key, why)
//                                                        for values that do not fit together (never reads
//                                                        the seed: a grid is checked once per cell)
//   static Sizes sizes(const Config&);                   its buffers, in elements; parameters group after group
//   template <Real> static void make_data(const Config&, Stream& rng, int* idata, Real* rdata);
//   template <Real> static void init(const Config&, Stream& rng, const int* idata, const Real* rdata,
//                                    Real* theta, Real* fixed);
//                                                        data and initial parameters, drawn from the run's own
//                                                        streams (host only)
//   template <Team, Real> FS_HD static Real loss_grad(const Team&, const Config&, const StepContext&,
//                                    const int* idata, const Real* rdata, const Real* theta, const Real* fixed,
//                                    Real* grad, Real* scratch);
//                                                        the loss (returned to every member of the team) and its
//                                                        gradient; depends on theta, the data, ctx.step and the
//                                                        first sizes().n_carry words of scratch only (state it
//                                                        carries between steps, kept with the run), so a flow
//                                                        can be cut, saved and resumed anywhere
//                                                        (ctx.hot: where it may copy parameters, with the
//                                                        same result)
//   template <Team, Real> FS_HD static void observe(const Team&, const Config&, const int* idata,
//                                    const Real* rdata, const Real* theta, const Real* fixed, Real* scratch,
//                                    Real* obs);
//                                                        the observables, in info().observables' order, after a
//                                                        loss_grad of the same step (it may read its scratch)
//   struct DetectState;                                  the detectors' state, plain data whose zero bytes are
//                                                        the start (at most kDetectStateBytes; kernels/detect.h)
//   template <Real> FS_HD static void detect(const Config&, const Real* fixed, const Real* obs, long step,
//                                    DetectState&, long* fired);
//                                                        one detection sample: obs holds this step's observables;
//                                                        fired[d] is detector d's step (info().detectors' order),
//                                                        -1 until it fires. Every team member calls it with the
//                                                        same arguments on its own copy, so it must not write
//                                                        anything shared
//   kObserveDetect, observe_detect(...)                  optional (ModelBase: false, no observe_detect): when
//                                                        true, observe_detect, with observe's signature, computes
//                                                        only what detect reads, at detection steps that are not
//                                                        recorded, from what loss_grad keeps when ctx.observing
//                                                        is false
//   template <Real> static std::vector<double> final_config(const Config&, const FlowConfig&,
//                                    const Real* theta0, const Real* theta, const Real* fixed, const Series&);
//                                                        one value per info().final_columns (host)
//   template <Team, Real> FS_HD static void attention_table(const Team&, const Config&, const int* idata,
//                                    const Real* rdata, const Real* theta, const Real* fixed, Real* table);
//                                                        the attention configuration at theta: a table of
//                                                        sizes().n_table_rows rows and one field per
//                                                        info().final_table, stored field after field, whose
//                                                        last field is the weight. The flow takes it at its
//                                                        end and whenever a detector answers; it may write
//                                                        only `table` (the flow's scratch is still in use).
//                                                        ModelBase: no table
//
// host/registry.cpp checks every one of these when the model is registered and says which is missing.
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/optim.h"

namespace fs {

// A bad value for a named key; the spec layer adds the file and line.
struct ParamError : std::runtime_error {
  std::string key;
  ParamError(std::string k, const std::string& what) : std::runtime_error(what), key(std::move(k)) {}
};

struct ParamDef {
  enum Kind { kInt, kReal, kChoice, kNames };  // kNames: a list of distinct names from `choices`
  std::string name;
  Kind kind = kReal;
  double def = 0;                    // default of an int or real
  std::string def_choice;            // default of a choice; of a list of names, comma-separated
  std::vector<std::string> choices;  // allowed values of a choice
  double lo = -1e308, hi = 1e308;    // inclusive bounds of a number
  bool lo_open = false;              // lo itself excluded
  std::string doc;

  static ParamDef integer(std::string n, long d, long lo, long hi, std::string doc) {
    ParamDef p;
    p.name = std::move(n), p.kind = kInt, p.def = double(d), p.lo = double(lo), p.hi = double(hi);
    p.doc = std::move(doc);
    return p;
  }
  static ParamDef real(std::string n, double d, double lo, double hi, bool lo_open, std::string doc) {
    ParamDef p;
    p.name = std::move(n), p.kind = kReal, p.def = d, p.lo = lo, p.hi = hi, p.lo_open = lo_open;
    p.doc = std::move(doc);
    return p;
  }
  static ParamDef choice(std::string n, std::string d, std::vector<std::string> cs, std::string doc) {
    ParamDef p;
    p.name = std::move(n), p.kind = kChoice, p.def_choice = std::move(d), p.choices = std::move(cs);
    p.doc = std::move(doc);
    return p;
  }
  static ParamDef names(std::string n, std::vector<std::string> cs, std::string doc) {
    ParamDef p = choice(std::move(n), "", std::move(cs), std::move(doc));
    p.kind = kNames;
    return p;
  }
};

// A parameter's value: a number or a choice.
struct Value {
  double num = 0;
  std::string str;
  bool is_str = false;
  static Value number(double x) { return Value{x, {}, false}; }
  static Value text(std::string s) { return Value{0, std::move(s), true}; }
  std::string to_string() const;
};

// The resolved parameters of one run (model, training and detector keys, and the seed). The keys every
// run of a sweep shares sit in one map that copies share (shared()); a run holds only what is set after,
// its axes' values, so a sweep of 10^6 runs does not copy some forty keys for each.
class Params {
 public:
  using Map = std::map<std::string, Value>;
  void set(const std::string& k, Value v) { own_[k] = std::move(v); }
  bool has(const std::string& k) const { return own_.count(k) != 0 || (base_ && base_->count(k) != 0); }
  const Value& at(const std::string& k) const;
  double real(const std::string& k) const { return at(k).num; }
  long integer(const std::string& k) const { return long(at(k).num); }
  const std::string& choice(const std::string& k) const { return at(k).str; }
  Map all() const;        // every key, in order
  Params shared() const;  // the same keys, in a map its copies share

 private:
  std::shared_ptr<const Map> base_;
  Map own_;  // set since the shared part was made; these win
};

struct NamedDoc {
  std::string name, doc;
};

// A final-configuration column: what the phase diagram says of it over a cell's finished runs. A
// measure takes the median (median_<name>); a yes/no column (1 or 0) the fraction of runs where it is 1
// (frac_<name>), since a median of ones and zeros says only which is more common; an index (the softmax's
// winner, say) nothing, since neither its median nor its mean names a run's index.
struct FinalColumn {
  enum Cell { kMedian, kFraction, kNone };
  std::string name, doc;
  Cell cell = kMedian;
};

struct GroupDef {
  std::string name;  // e.g. "mlp"
  bool ratio;        // false: driven by lr; true: by lr * lr_ratio
  std::string doc;
};

struct ModelInfo {
  std::string name, paper, doc;
  std::vector<ParamDef> params;         // the [model] section
  std::vector<ParamDef> detect_params;  // the [detect] section
  std::vector<GroupDef> groups;
  std::vector<NamedDoc> observables;       // recorded at every recording step, in this order
  std::vector<NamedDoc> detectors;         // phase times, each a column t_<name> and step_<name>
  std::vector<FinalColumn> final_columns;  // the final configuration, one column each
  // The fields of the attention table (attention_table), whose size depends on the run (one row per
  // class and token, say), the weight last: final_config.csv's columns after run_id, before the weight
  // at each detector's answer. Empty when the model has none.
  std::vector<NamedDoc> final_table;
  // Runs that differ only in `axis` (same seed and cell) compared by a detector's time: the phase
  // diagram reports the median over seeds of t(base) / t(run) as speedup_<detector>_vs_<base>.
  struct Comparison {
    std::string axis, base, detector;
  } comparison;
};

// Sizes of one run's buffers, in elements.
struct Sizes {
  long n_theta = 0;  // trained parameters, group after group
  int n_groups = 1;
  long group_end[kMaxGroups] = {0, 0, 0, 0};
  long n_fixed = 0;    // untrained state set at initialisation (signs, initial values)
  long n_idata = 0;    // integer data (tokens, labels)
  long n_rdata = 0;    // real data
  long n_scratch = 0;  // workspace of one loss-and-gradient evaluation
  long n_carry = 0;    // the first words of the workspace that carry state from one step to the next
  long n_hot = 0;      // words of a copy of the parameters a step reads most (StepContext::hot)
  int n_obs = 0;
  long n_table_rows = 0;  // rows of the attention table (attention_table), 0 for none
  int n_table_fields = 0;
};

// Where a run is in its flow, for models that draw per step.
struct StepContext {
  long step = 0;
  uint32_t sweep_seed = 0, run_seed = 0;
  bool observing = true;  // observe() follows this evaluation: keep what it reads
  // Sizes::n_hot Real words near the team, or null: where a run's parameters lie far from its team (in a
  // GPU's global memory while the rest of the run is in shared memory), loss_grad may copy the parameters it
  // reads most here and read them from here. The copy changes no value, so no bit. Null on the CPU, and on
  // the GPU where the parameters are in shared memory already.
  void* hot = nullptr;
};

// A run's recorded series: one row per recording step.
struct Series {
  int n_obs = 0;
  std::vector<long> step;
  std::vector<double> t;       // flow time
  std::vector<double> values;  // (n_records, n_obs)
  long size() const { return long(step.size()); }
  double at(long r, int obs) const { return values[size_t(r) * size_t(n_obs) + size_t(obs)]; }
};

// Defaults for what most models leave empty.
struct ModelBase {
  // Observables cheap enough to compute in full at every detection step (no observe_detect).
  static constexpr bool kObserveDetect = false;

  // No attention table (sizes() leaves n_table_rows 0, and final_config.csv is not written).
  template <typename Team, typename Real, typename Config>
  FS_HD static void attention_table(const Team&, const Config&, const int*, const Real*, const Real*, const Real*,
                                    Real*) {}
};

}  // namespace fs
