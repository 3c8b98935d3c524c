// Detectors against the counterexamples they must not fire on: a monotone fall is no dip, a turning
// point followed by a rebound is no freeze; and the cases they must catch.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>

#include "host/grid.h"
#include "host/host_run.h"
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

}  // namespace

TEST_CASE("joma: a monotone fall of the entropy is no dip; an interior minimum followed by a rise is", "[detectors]") {
  using fs::Joma;
  const auto p = params_of("joma");
  const auto c = Joma::configure(p);
  // Falling the whole way, and falling ever more slowly: the last record is the minimum.
  auto fall = series_of(Joma::kNumObs, Joma::kEntropy, 200, 0.1, [](double t) { return 2.0 + std::exp(-t); });
  auto d = Joma::detect(c, p, fall, {});
  CHECK_FALSE(d[0].has_value());
  CHECK_FALSE(d[1].has_value());
  // Down to a minimum at t = 5, then back up past half the way.
  auto dip = series_of(Joma::kNumObs, Joma::kEntropy, 200, 0.1,
                       [](double t) { return 3.0 - 2.0 * std::exp(-(t - 5) * (t - 5) / 4); });
  d = Joma::detect(c, p, dip, {});
  REQUIRE(d[0].has_value());
  CHECK(*d[0] == 50);
  REQUIRE(d[1].has_value());
  CHECK(*d[1] > 50);
  // A rise after the minimum smaller than dip_margin is no dip either.
  auto wobble = series_of(Joma::kNumObs, Joma::kEntropy, 200, 0.1,
                          [](double t) { return t < 10 ? 3.0 - 0.2 * t : 1.0 + 1e-4 * (t - 10); });
  CHECK_FALSE(Joma::detect(c, p, wobble, {})[0].has_value());
}

TEST_CASE("scan_snap: a turning point followed by a rebound is no freeze; a flattening is", "[detectors]") {
  using fs::ScanSnap;
  const auto p = params_of("scan_snap");
  const auto c = ScanSnap::configure(p);
  // A sigmoid fall from 2 to 0.5, centred at t = 5: snap there, freeze once it has flattened.
  auto snap = [](double t) { return 0.5 + 1.5 / (1 + std::exp(2 * (t - 5))); };
  auto flat = series_of(ScanSnap::kNumObs, ScanSnap::kDistinctEntropy, 400, 0.05, snap);
  auto d = ScanSnap::detect(c, p, flat, {});
  REQUIRE(d[0].has_value());
  CHECK(std::fabs(flat.t[size_t(*d[0])] - 5) < 0.1);
  REQUIRE(d[1].has_value());
  CHECK(flat.t[size_t(*d[1])] > 6);
  // The same fall overshooting to a minimum at t = 8, then climbing back by 40% of the fall: the minimum's
  // zero rate must not count as frozen.
  auto rebound = series_of(ScanSnap::kNumObs, ScanSnap::kDistinctEntropy, 400, 0.05,
                           [&](double t) { return snap(t) - 0.6 * std::exp(-(t - 8) * (t - 8) / 2); });
  d = ScanSnap::detect(c, p, rebound, {});
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
  const std::vector<double> grad = run.grad, theta = run.theta;
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
