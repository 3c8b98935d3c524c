// Detectors against the counterexamples they must not fire on (a monotone fall is no dip, a turning point
// followed by a rebound is no freeze, a linear drift of S is no phase 2) and the cases they must catch;
// the in-flow detectors of every model against offline definitions over every-step records, and against
// every recording schedule; early stop against the full run.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <set>

#include "host/executor_cpu.h"
#include "host/grid.h"
#include "host/host_run.h"
#include "host/registry.h"
#include "kernels/models.h"

namespace {

// A series of one observable `obs` (of `n_obs`) over times t_k = k * dt, the others zero.
fs::Series series_of(int n_obs, int obs, int n, double dt, const std::function<double(double)>& f) {
  fs::Series s;
  s.n_obs = n_obs;
  for (int k = 0; k < n; ++k) {
    s.step.push_back(k);
    s.t.push_back(k * dt);
    for (int o = 0; o < n_obs; ++o) s.values.push_back(o == obs ? f(k * dt) : 0.0);
  }
  return s;
}

fs::Params params_of(const std::string& model) {
  return fs::expand_grid(fs::parse_spec("model = \"" + model + "\"\n", "t.toml"))[0].params;
}

// A model's detectors fed a series as detection samples, one per record at its step.
template <typename Model>
std::vector<std::optional<long>> detect_series(const typename Model::Config& c, const fs::Series& s,
                                               const std::vector<double>& fixed = {}) {
  typename Model::DetectState ds{};
  std::vector<long> fired(fs::kMaxDetectors, -1);
  for (long r = 0; r < s.size(); ++r)
    Model::template detect<double>(c, fixed.data(), &s.values[size_t(r * s.n_obs)], s.step[size_t(r)], ds,
                                   fired.data());
  std::vector<std::optional<long>> out;
  for (long f : fired) out.push_back(f >= 0 ? std::optional<long>(f) : std::nullopt);
  return out;
}

}  // namespace

TEST_CASE("joma: a monotone fall of the entropy is no dip; an interior minimum followed by a rise is", "[detectors]") {
  using fs::Joma;
  const auto p = params_of("joma");
  const auto c = Joma::configure(p);
  // Falling the whole way, and falling ever more slowly: the last record is the minimum.
  auto fall = series_of(Joma::kNumObs, Joma::kEntropy, 200, 0.1, [](double t) { return 2.0 + std::exp(-t); });
  auto d = detect_series<Joma>(c, fall);
  CHECK_FALSE(d[0].has_value());
  CHECK_FALSE(d[1].has_value());
  // Down to a minimum at t = 5, then back up past half the way.
  auto dip = series_of(Joma::kNumObs, Joma::kEntropy, 200, 0.1,
                       [](double t) { return 3.0 - 2.0 * std::exp(-(t - 5) * (t - 5) / 4); });
  d = detect_series<Joma>(c, dip);
  REQUIRE(d[0].has_value());
  CHECK(*d[0] == 50);
  REQUIRE(d[1].has_value());
  CHECK(*d[1] > 50);
  // A rise after the minimum smaller than dip_margin is no dip either.
  auto wobble = series_of(Joma::kNumObs, Joma::kEntropy, 200, 0.1,
                          [](double t) { return t < 10 ? 3.0 - 0.2 * t : 1.0 + 1e-4 * (t - 10); });
  CHECK_FALSE(detect_series<Joma>(c, wobble)[0].has_value());
}

TEST_CASE("scan_snap: a turning point followed by a rebound is no freeze; a flattening is", "[detectors]") {
  using fs::ScanSnap;
  const auto p = params_of("scan_snap");
  const auto c = ScanSnap::configure(p);
  // A sigmoid fall from 2 to 0.5, centred at t = 5: snap there, freeze once it has flattened.
  auto snap = [](double t) { return 0.5 + 1.5 / (1 + std::exp(2 * (t - 5))); };
  auto flat = series_of(ScanSnap::kNumObs, ScanSnap::kDistinctEntropy, 400, 0.05, snap);
  auto d = detect_series<ScanSnap>(c, flat);
  REQUIRE(d[0].has_value());
  CHECK(std::fabs(flat.t[size_t(*d[0])] - 5) < 0.1);
  REQUIRE(d[1].has_value());
  CHECK(flat.t[size_t(*d[1])] > 6);
  // The same fall overshooting to a minimum at t = 8, then climbing back by 40% of the fall: the minimum's
  // zero rate must not count as frozen.
  auto rebound = series_of(ScanSnap::kNumObs, ScanSnap::kDistinctEntropy, 400, 0.05,
                           [&](double t) { return snap(t) - 0.6 * std::exp(-(t - 8) * (t - 8) / 2); });
  d = detect_series<ScanSnap>(c, rebound);
  REQUIRE(d[0].has_value());
  REQUIRE(d[1].has_value());  // it does freeze, once the rebound is over
  const double tf = rebound.t[size_t(*d[1])];
  INFO("freeze at t = " << tf);
  CHECK(tf > 10);
}

namespace {

// share_<group> at the initial point against a finite difference of the loss along each group's own
// gradient-descent direction, central: (L(theta - h lr_g grad_g) - L(theta + h lr_g grad_g)) / 2h -> lr_g |grad_g|^2.
template <typename Model>
void check_shares(const std::string& model, const std::vector<std::string>& sets) {
  auto spec = fs::parse_spec("model = \"" + model + "\"\n", "t.toml", sets);
  const auto& entry = *fs::find_model(model);
  const auto in = fs::grid_inputs(spec)[0];
  fs::HostRun<Model, double> run(in, entry.info);
  run.allocate_workspace();
  const int G = run.fc.n_shares;
  REQUIRE(G == int(entry.info.groups.size()));
  run.loss_grad(0);
  run.observe();
  const fs::RunVector<double> grad = run.grad, theta = run.theta;
  const double* share = run.obs.data() + (run.sz.n_obs - G);
  double sum = 0, fd_total = 0;
  std::vector<double> fd(static_cast<size_t>(G));
  for (int g = 0; g < G; ++g) {
    sum += share[g];
    const long lo = g ? run.fc.opt.group_end[g - 1] : 0, hi = run.fc.opt.group_end[g];
    const double h = 1e-5;
    auto loss_at = [&](double step) {
      run.theta = theta;
      for (long i = lo; i < hi; ++i) run.theta[size_t(i)] -= step * run.fc.opt.lr[g] * grad[size_t(i)];
      return run.loss_grad(0);
    };
    fd[size_t(g)] = (loss_at(h) - loss_at(-h)) / (2 * h);
    fd_total += fd[size_t(g)];
  }
  INFO(model);
  CHECK(sum == Approx(1.0).epsilon(1e-12));
  for (int g = 0; g < G; ++g) {
    INFO("group " << entry.info.groups[size_t(g)].name << ": share " << share[g] << ", finite difference "
                  << fd[size_t(g)] / fd_total);
    CHECK(std::fabs(share[g] - fd[size_t(g)] / fd_total) < 1e-5);
  }
}

}  // namespace

TEST_CASE("group shares sum to one and match a finite-difference dL/dt", "[detectors][shares]") {
  check_shares<fs::Cooccurrence>("cooccurrence", {"d=10", "m=6", "m1=8", "lr_ratio=3", "init=kaiming"});
  check_shares<fs::ScanSnap>("scan_snap", {"init=uniform", "lr_ratio=2"});
  check_shares<fs::Joma>("joma", {"C=4", "n_distinct=3", "n_common=2", "hidden=5", "phi=silu", "init_std=0.3"});
  check_shares<fs::ValueSoftmax>("value_softmax", {"d=4", "n=4", "N=5", "a_init=random", "lr_ratio=0.5"});
}

namespace {

// Small runs of every model in which its detectors fire, as spec lines.
struct ModelCase {
  std::string name, spec;
};
const std::vector<ModelCase>& model_cases() {
  static const std::vector<ModelCase> cases = {
      {"cooccurrence",
       "[params]\nd = 10\nL = 4\nn = 12\nm = 8\nm1 = 16\ninit = \"kaiming\"\n[train]\nlr = 0.05\nlr_ratio = 30\n"
       "steps = 600\n[detect]\nphase2_share = 0.02\nloss_threshold = 0.05\nshare_threshold = 0.3\n"},
      {"scan_snap", "[params]\nnum_last = 1\nmode = \"population\"\n[train]\nlr = 1.0\nlr_ratio = 5\nsteps = 400\n"},
      {"joma_toy", "[params]\nK = 10\n[train]\nlr = 0.02\nsteps = 4000\n[detect]\nrebound_fraction = 0.2\n"},
      {"joma",
       "[params]\nC = 4\nn_distinct = 3\nn_common = 2\nhidden = 6\nphi = \"silu\"\ninit_std = 0.3\n[train]\n"
       "lr = 0.1\nlr_ratio = 10\nsteps = 800\n[detect]\nshare_threshold = 0.3\n"},
      {"value_softmax", "[params]\nd = 4\nn = 4\na_init = \"random\"\n[train]\nlr = 0.1\nsteps = 3000\n"},
      {"pathcond",
       "[params]\npoints = 64\ndepth = 2\nwidth = 8\n[train]\nlr = 0.1\nsteps = 400\n[detect]\nloss_threshold = 0.4\n"},
  };
  return cases;
}

std::vector<fs::RunResult> run_case(const ModelCase& mc, const std::vector<std::string>& sets, bool save = false) {
  auto spec = fs::parse_spec("model = \"" + mc.name + "\"\n" + mc.spec, mc.name + ".toml", sets);
  auto in = fs::grid_inputs(spec);
  for (auto& i : in) i.save_params = save;
  return fs::execute_cpu(*spec.entry, in, 1);
}

size_t fired_count(const fs::RunResult& r) {
  size_t n = 0;
  for (const auto& d : r.detected) n += d.has_value();
  return n;
}

// ---- offline definitions, over every-step records (independent of kernels/detect.h) -----------------

using Det = std::optional<long>;
template <typename Pred>
Det first_step(const fs::Series& s, long from_record, Pred pred) {
  for (long r = std::max(0L, from_record); r < s.size(); ++r)
    if (pred(r)) return s.step[size_t(r)];
  return std::nullopt;
}
long record_of(const fs::Series& s, long step) {
  return long(std::find(s.step.begin(), s.step.end(), step) - s.step.begin());
}

// The record of the minimum, when it lies `margin` below the start and is followed by a rise of `margin`;
// then the first later record regaining `fraction` of the way to `target`.
std::vector<Det> dip_and_rebound(const fs::Series& s, int obs, double margin, double fraction, double target) {
  std::vector<Det> out(2);
  long best = 0;
  for (long r = 1; r < s.size(); ++r)
    if (s.at(r, obs) < s.at(best, obs)) best = r;
  const double h_min = s.at(best, obs);
  double after = -INFINITY;
  for (long r = best + 1; r < s.size(); ++r) after = std::max(after, s.at(r, obs));
  if (!(h_min < s.at(0, obs) - margin) || !(after > h_min + margin)) return out;
  out[0] = s.step[size_t(best)];
  if (target > h_min)
    out[1] = first_step(s, best + 1, [&](long r) { return s.at(r, obs) >= h_min + fraction * (target - h_min); });
  return out;
}

// Snap: the interior record of the steepest central-difference fall. Freeze: candidates after it whose rate
// is below fraction x the steepest; a candidate stands if no later record leaves its band, and a record
// that leaves it makes the search go on from that record.
std::vector<Det> snap_and_freeze(const fs::Series& s, int obs, double fraction, double tolerance) {
  std::vector<Det> out(2);
  auto h = [&](long r) { return s.at(r, obs); };
  auto rate = [&](long r) { return (h(r + 1) - h(r - 1)) / double(s.step[size_t(r + 1)] - s.step[size_t(r - 1)]); };
  long snap = -1;
  double steepest = 0;
  for (long r = 1; r + 1 < s.size(); ++r)
    if (rate(r) < steepest) steepest = rate(r), snap = r;
  if (snap < 0) return out;
  out[0] = s.step[size_t(snap)];
  long r = snap + 1;
  while (r + 1 < s.size()) {
    if (!(std::fabs(rate(r)) < fraction * -steepest)) {
      ++r;
      continue;
    }
    const double band = tolerance * std::fabs(h(0) - h(r));
    long broken = -1;
    for (long q = r + 1; q < s.size() && broken < 0; ++q)
      if (std::fabs(h(q) - h(r)) > band) broken = q;
    if (broken < 0) {
      out[1] = s.step[size_t(r)];
      break;
    }
    r = broken;
  }
  return out;
}

double entropy_of_softmax_sq(const std::vector<double>& mu, double tau) {
  double mx = -INFINITY, z = 0, h = 0;
  for (double m : mu) mx = std::max(mx, m * m);
  std::vector<double> w;
  for (double m : mu) z += w.emplace_back(std::exp((m * m - mx) / tau));
  for (double x : w) h -= x / z * std::log(x / z);
  return h;
}

// Every detector of a run by its offline definition.
std::vector<Det> offline(const std::string& model, const fs::Params& p, const fs::RunResult& r) {
  const fs::Series& s = r.series;
  std::vector<Det> out;
  auto first = [&](int obs, auto cmp) { return first_step(s, 0, [&](long k) { return cmp(s.at(k, obs)); }); };
  if (model == "cooccurrence") {
    using C = fs::Cooccurrence;
    out.push_back(first(C::kMargin, [](double x) { return x > 0; }));
    out.push_back(out[0] ? first_step(s, record_of(s, *out[0]) + 1,
                                      [&](long k) { return s.at(k, C::kShareScores) > p.real("phase2_share"); })
                         : std::nullopt);
    out.push_back(first(C::kLoss, [&](double x) { return x < p.real("loss_threshold"); }));
  } else if (model == "scan_snap") {
    out = snap_and_freeze(s, fs::ScanSnap::kDistinctEntropy, p.real("freeze_fraction"), p.real("freeze_tolerance"));
  } else if (model == "joma_toy") {
    const double target = entropy_of_softmax_sq(r.saved.fixed, p.real("tau"));
    out = dip_and_rebound(s, fs::JomaToy::kEntropy, p.real("dip_margin"), p.real("rebound_fraction"), target);
  } else if (model == "joma") {
    out = dip_and_rebound(s, fs::Joma::kEntropy, p.real("dip_margin"), p.real("rebound_fraction"),
                          s.at(0, fs::Joma::kEntropy));
  } else if (model == "value_softmax") {
    out.push_back(first(fs::ValueSoftmax::kMaxSigma, [&](double x) { return x > p.real("polar_threshold"); }));
  } else if (model == "pathcond") {
    out.push_back(first(fs::PathCond::kLoss, [&](double x) { return x < p.real("loss_threshold"); }));
  } else {
    FAIL("no offline definition of " << model << "'s detectors");
  }
  const int n_shares = int(r.detected.size() - out.size());
  for (int g = 0; g < n_shares; ++g)
    out.push_back(first(s.n_obs - n_shares + g, [&](double x) { return x > p.real("share_threshold"); }));
  return out;
}

}  // namespace

// A model added to kernels/models.h without a case here would pass every test below unchecked.
TEST_CASE("every registered model has a detector case and an offline definition", "[detectors][registry]") {
  std::set<std::string> cased;
  for (const auto& mc : model_cases()) cased.insert(mc.name);
  for (const auto& entry : fs::models()) {
    INFO(entry.info.name);
    CHECK(cased.count(entry.info.name) == 1);
  }
  CHECK(cased.size() == fs::models().size());
}

TEST_CASE("in-flow detectors give their offline definitions' steps over every-step records", "[detectors]") {
  for (const auto& mc : model_cases()) {
    auto spec = fs::parse_spec("model = \"" + mc.name + "\"\n" + mc.spec, mc.name + ".toml", {"record_every=1"});
    auto in = fs::grid_inputs(spec);
    in[0].save_params = true;
    const auto r = fs::execute_cpu(*spec.entry, in, 1)[0];
    INFO(mc.name);
    REQUIRE(r.status == fs::RunResult::kOk);
    CHECK(fired_count(r) >= 1);
    const auto want = offline(mc.name, in[0].params, r);
    REQUIRE(want.size() == r.detected.size());
    for (size_t d = 0; d < want.size(); ++d) {
      INFO(spec.entry->info.detectors[d].name << ": in flow " << r.detected_step(d) << ", offline "
                                              << (want[d] ? *want[d] : -1));
      CHECK(r.detected[d] == want[d]);
    }
  }
}

TEST_CASE("every detector gives the same step whatever the recording schedule", "[detectors]") {
  for (const auto& mc : model_cases()) {
    const auto every1 = run_case(mc, {"record_every=1"})[0];
    INFO(mc.name);
    CHECK(fired_count(every1) >= 1);
    for (const auto& sets : std::vector<std::vector<std::string>>{
             {"record_every=10"}, {"record_every=100"}, {"record=log", "records=20"}}) {
      const auto r = run_case(mc, sets)[0];
      INFO(sets[0]);
      CHECK(r.detected == every1.detected);
      CHECK(r.series.size() < every1.series.size());
    }
  }
}

TEST_CASE("detect_every: answers on its schedule; 0 detects nothing", "[detectors]") {
  for (const auto& mc : model_cases()) {
    const auto r = run_case(mc, {"detect_every=7"})[0];
    INFO(mc.name);
    for (size_t d = 0; d < r.detected.size(); ++d)
      if (r.detected[d]) CHECK((*r.detected[d] % 7 == 0 || *r.detected[d] == r.steps));
    CHECK(fired_count(run_case(mc, {"detect_every=0"})[0]) == 0);
  }
}

TEST_CASE("stop_after: a stopped run's detector times equal the full run's", "[detectors][stop]") {
  const ModelCase& co = model_cases()[0];
  const auto full = run_case(co, {})[0];
  REQUIRE(full.detected[0].has_value());
  REQUIRE(full.detected[2].has_value());
  const auto stopped = run_case(co, {"stop_after=[\"phase1_end\", \"loss_below\"]", "stop_margin=0.5"})[0];
  CHECK(stopped.status == fs::RunResult::kOk);
  CHECK(stopped.detected[0] == full.detected[0]);
  CHECK(stopped.detected[2] == full.detected[2]);
  // It ends at the first step 0.5 of flow time (10 steps of 0.05) after the later of the two, recorded there.
  CHECK(stopped.steps == *full.detected[2] + 10);
  CHECK(stopped.series.step.back() == stopped.steps);
  CHECK(stopped.t_final == Approx(stopped.steps * 0.05));
  CHECK(stopped.final_loss ==
        Approx(stopped.series.values[size_t((stopped.series.size() - 1) * stopped.series.n_obs)]));
  // A dip can still move; stopped once it has held for flow time 20, it is the full run's dip.
  const ModelCase& toy = model_cases()[2];
  const auto toy_full = run_case(toy, {})[0];
  REQUIRE(toy_full.detected[0].has_value());
  const auto toy_stopped = run_case(toy, {"stop_after=[\"dip\"]", "stop_margin=20"})[0];
  CHECK(toy_stopped.detected[0] == toy_full.detected[0]);
  CHECK(toy_stopped.steps < toy_full.steps);
  // A detector that never fires never stops the run.
  const auto never = run_case(co, {"stop_after=[\"phase2_start\"]", "phase2_share=0.99"})[0];
  CHECK(never.steps == full.steps);
}
