#include <catch2/catch.hpp>
#include <cmath>

#include "host/executor_cpu.h"
#include "host/grid.h"
#include "kernels/joma.h"
#include "tests/unit/model_check.h"

using fs::Joma;
using fs::JomaToy;
using fs::Value;

namespace {

std::vector<fs::RunResult> run_spec(const std::string& text) {
  auto spec = fs::parse_spec(text, "<test>");
  std::vector<fs::RunInput> in;
  for (const auto& r : fs::expand_grid(spec)) in.push_back({r.params, spec.sweep_seed});
  return fs::execute_cpu(*spec.entry, in, 2);
}

fs::Params joma_params(const char* phi, int hidden) {
  return fs::test::with_defaults(Joma::info(), {{"C", Value::number(4)},
                                                {"n_distinct", Value::number(3)},
                                                {"n_common", Value::number(2)},
                                                {"hidden", Value::number(hidden)},
                                                {"phi", Value::text(phi)},
                                                {"tau", Value::number(0.7)},
                                                {"init_std", Value::number(0.5)}});
}

}  // namespace

TEST_CASE("joma_toy: one step is the paper's update", "[joma]") {
  auto p = fs::test::with_defaults(JomaToy::info(), {{"K", Value::number(6)}, {"tau", Value::number(3.0)}});
  fs::test::ModelPoint<JomaToy> pt(p, JomaToy::info(), 0.7);
  auto& r = pt.run;
  const std::vector<double> v = r.theta, mu = r.fixed;
  for (size_t i = 1; i < mu.size(); ++i) REQUIRE(mu[i] >= mu[i - 1]);  // sorted
  for (double m : mu) REQUIRE((m >= 1.0 && m <= 4.0));
  r.loss_grad(0);
  const double eta = 0.02;
  r.fc.opt.lr[0] = eta;
  r.step(0);
  double z = 0;
  for (double x : v) z += std::exp(x * x / 3.0);
  for (size_t i = 0; i < v.size(); ++i) {
    const double expected = v[i] + eta * (mu[i] - v[i]) * std::exp(v[i] * v[i] / 3.0) / z;
    CHECK(r.theta[i] == Approx(expected).epsilon(1e-14));
  }
}

TEST_CASE("joma_toy: the entropy starts at ln K, dips below it and rebounds", "[joma][paper]") {
  auto res = run_spec("model = \"joma_toy\"\n[train]\nlr = 0.02\nsteps = 5000\nrecord_every = 50\n"
                      "[grid]\nseed = [0, 1, 2, 3]\n");
  int rebounds = 0;
  for (const auto& r : res) {
    CHECK(r.series.at(0, JomaToy::kEntropy) == Approx(std::log(20.0)).epsilon(1e-12));
    REQUIRE(r.detected[0].has_value());  // the dip
    if (r.detected[1]) {                 // the rebound, half way back to the target by default
      CHECK(*r.detected[1] > *r.detected[0]);
      rebounds++;
    }
    const double h_min = r.final_config[1], target = r.final_config[2];
    CHECK(h_min < std::log(20.0) - 0.1);
    CHECK(r.final_config[3] > 0.3);  // every seed is well on its way back up by t = 100
    CHECK(r.final_obs[JomaToy::kEntropy] > h_min + 0.3 * (target - h_min));
  }
  CHECK(rebounds >= 3);
}

TEST_CASE("joma: gradient matches central differences for every phi and readout", "[joma]") {
  for (const char* phi : {"identity", "relu", "silu"})
    for (int hidden : {0, 5}) {
      INFO(phi << " hidden " << hidden);
      fs::test::check_gradient<Joma>(joma_params(phi, hidden), 0.5);
    }
}

TEST_CASE("joma: a team of any size computes the same numbers", "[joma][team]") {
  fs::test::check_team_invariance<Joma>(joma_params("silu", 6), 0.5);
  fs::test::check_team_invariance<Joma>(joma_params("identity", 0), 0.5);
  fs::test::check_team_invariance<JomaToy>(fs::test::with_defaults(JomaToy::info(), {{"K", Value::number(9)}}), 0.5);
}

TEST_CASE("joma: class frequencies cover each class's own and the common tokens", "[joma][data]") {
  auto p = joma_params("identity", 0);
  fs::test::ModelPoint<Joma> pt(p, Joma::info(), 0.0);
  const auto& c = pt.run.cfg;
  REQUIRE(c.MC == 4 * 3 + 2);
  for (int k = 0; k < c.C; ++k) {
    double tot = 0;
    for (int l = 0; l < c.MC; ++l) {
      const double x = pt.run.rdata[size_t(k * c.MC + l)];
      const bool own = l >= k * 3 && l < k * 3 + 3, common = l >= 12;
      CHECK((x > 0) == (own || common));
      tot += x;
    }
    CHECK(tot == Approx(1.0).epsilon(1e-14));
  }
}

TEST_CASE("joma: linear attention sparsifies monotonically and follows the JoMA prediction", "[joma][paper]") {
  // The paper's linear setting: tau = 0.5, SGD lr 0.1, 2000 steps, 20 classes.
  auto res = run_spec("model = \"joma\"\n[params]\nphi = \"identity\"\n[train]\nlr = 0.1\nsteps = 2000\n"
                      "record_every = 20\n[grid]\nseed = [0, 1, 2]\n");
  for (const auto& r : res) {
    REQUIRE(r.status == fs::RunResult::kOk);
    for (long k = 1; k < r.series.size(); ++k)
      CHECK(r.series.at(k, Joma::kEntropy) <= r.series.at(k - 1, Joma::kEntropy) + 1e-12);
    CHECK(r.final_obs[Joma::kEntropy] < r.series.at(0, Joma::kEntropy) - 0.5);
    for (long k = 0; k < r.series.size(); ++k) CHECK(r.series.at(k, Joma::kZhatCorr) > 0.9);
    CHECK_FALSE(r.detected[1].has_value());  // no rebound
  }
}

TEST_CASE("joma: bad parameters are errors naming the key", "[joma]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(fs::parse_spec("model = \"joma\"\n[params]\ntau = 0\n", "j.toml"),
                    Contains("j.toml:3") && Contains("params.tau") && Contains("greater than 0"));
  CHECK_THROWS_WITH(fs::parse_spec("model = \"joma_toy\"\n[params]\ntau = -1\n", "j.toml"),
                    Contains("params.tau"));
  CHECK_THROWS_WITH(fs::parse_spec("model = \"joma\"\n[params]\nC = 1\n", "j.toml"), Contains("params.C"));
}
