#include <catch2/catch.hpp>
#include <cmath>

#include "host/executor_cpu.h"
#include "host/grid.h"
#include "kernels/value_softmax.h"
#include "tests/unit/model_check.h"

using fs::Value;
using fs::ValueSoftmax;

namespace {

fs::Params vs_params(const char* loss, int d = 5, int n = 4) {
  return fs::test::with_defaults(ValueSoftmax::info(), {{"d", Value::number(d)},
                                                        {"n", Value::number(n)},
                                                        {"N", Value::number(7)},
                                                        {"kappa", Value::number(5)},
                                                        {"loss", Value::text(loss)},
                                                        {"v_scale", Value::number(0.5)},
                                                        {"a_init", Value::text("random")}});
}

}  // namespace

TEST_CASE("value_softmax: gradient matches central differences for every loss", "[value_softmax]") {
  for (const char* loss : {"logistic", "square", "regression", "tied"}) {
    INFO(loss);
    fs::test::check_gradient<ValueSoftmax>(vs_params(loss), 0.3);
  }
}

TEST_CASE("value_softmax: a team of any size computes the same numbers", "[value_softmax][team]") {
  for (const char* loss : {"logistic", "regression", "tied"})
    fs::test::check_team_invariance<ValueSoftmax>(vs_params(loss, 6, 9), 0.3, 0);  // crossings count from step 0
}

TEST_CASE("value_softmax: small logistic runs polarise onto argmax u(0) with no order crossings",
          "[value_softmax][paper]") {
  auto res = fs::test::run_spec(
      "model = \"value_softmax\"\n[params]\nd = 8\nn = 8\nloss = \"logistic\"\n[train]\nlr = 0.1\nsteps = 300000\n"
      "record = \"log\"\nrecords = 60\n[grid]\nseed = { range = [0, 8] }\n");
  for (const auto& r : res) {
    REQUIRE(r.status == fs::RunResult::kOk);
    REQUIRE(r.detected[0].has_value());                 // polarised
    CHECK(r.final_obs[ValueSoftmax::kMaxSigma] > 0.9);  // and stays so
    CHECK(r.final_obs[ValueSoftmax::kEntropy] < 0.4);   // from ln 8 = 2.08, slowly (log time) to 0
    for (long k = r.series.size() / 2; k < r.series.size(); ++k)
      CHECK(r.series.at(k, ValueSoftmax::kEntropy) <= r.series.at(k - 1, ValueSoftmax::kEntropy));
    CHECK(r.final_config[2] == 1.0);                      // the winner is argmax u(0)
    CHECK(r.final_config[3] == 0.0);                      // no order crossings
    CHECK(r.final_obs[ValueSoftmax::kWinnerNorm] > 1.0);  // the winning column grew
  }
}

TEST_CASE("value_softmax: bad parameters are errors", "[value_softmax]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(fs::parse_spec("model = \"value_softmax\"\n[params]\nkappa = 0.5\n", "v.toml"),
                    Contains("v.toml:3") && Contains("params.kappa") && Contains("minimum 1"));
  auto p = vs_params("tied", 1);
  CHECK_THROWS_WITH(ValueSoftmax::configure(p), Contains("d >= 2"));
}
