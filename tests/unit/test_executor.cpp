#include <catch2/catch.hpp>
#include <cmath>

#include "host/executor_cpu.h"
#include "host/grid.h"
#include "host/util.h"

namespace {

const char* kSweep = R"(model = "cooccurrence"
seed = 5
[params]
d = 10
n = 12
m1 = 6
[train]
lr = 0.1
steps = 60
record_every = 7
[grid]
seed = { range = [0, 3] }
m = [3, 5]
precision = ["fp32", "fp64"]
)";

}  // namespace

TEST_CASE("results do not depend on the number of threads", "[executor]") {
  auto spec = fs::parse_spec(kSweep, "t.toml");
  auto in = fs::grid_inputs(spec);
  auto one = fs::execute_cpu(*spec.entry, in, 1);
  for (int threads : {2, 3, 5}) {
    auto many = fs::execute_cpu(*spec.entry, in, threads);
    REQUIRE(many.size() == one.size());
    for (size_t i = 0; i < one.size(); ++i) {
      CHECK(many[i].status == one[i].status);
      CHECK(many[i].series.values == one[i].series.values);  // bit for bit
      CHECK(many[i].final_config == one[i].final_config);
    }
  }
}

TEST_CASE("a run re-run alone gives the same numbers as inside its sweep", "[executor]") {
  auto spec = fs::parse_spec(kSweep, "t.toml");
  auto in = fs::grid_inputs(spec);
  auto all = fs::execute_cpu(*spec.entry, in, 2);
  auto alone = fs::execute_cpu(*spec.entry, {in[7]}, 1);
  CHECK(alone[0].series.values == all[7].series.values);
}

TEST_CASE("recording steps and flow time", "[executor]") {
  auto spec = fs::parse_spec(kSweep, "t.toml");
  auto res = fs::execute_cpu(*spec.entry, {fs::grid_inputs(spec)[0]}, 1)[0];
  REQUIRE(res.status == fs::RunResult::kOk);
  CHECK(res.steps == 60);
  CHECK(res.t_final == Approx(6.0));
  CHECK(res.series.step == std::vector<long>{0, 7, 14, 21, 28, 35, 42, 49, 56, 60});
  for (long r = 0; r < res.series.size(); ++r)
    CHECK(res.series.t[size_t(r)] == Approx(0.1 * res.series.step[size_t(r)]));
  // fp32 and fp64 runs of the same point agree to single precision.
  auto in = fs::grid_inputs(spec);
  auto pair = fs::execute_cpu(*spec.entry, {in[0], in[1]}, 1);
  CHECK(in[0].params.choice("precision") == "fp32");
  CHECK(in[1].params.choice("precision") == "fp64");
  CHECK(pair[0].final_loss == Approx(pair[1].final_loss).epsilon(1e-4));
}

TEST_CASE("flow_time and record_dt stop and record runs of any step size at the same flow times", "[executor]") {
  auto spec = fs::parse_spec(kSweep, "t.toml",
                             {"flow_time=3.0", "record_dt=0.5", "grid.lr=[0.02, 0.01, 0.001]", "grid.seed=[0]",
                              "grid.m=[3]", "grid.precision=[\"fp64\"]"});
  auto res = fs::execute_cpu(*spec.entry, fs::grid_inputs(spec), 1);
  REQUIRE(res.size() == 3);
  for (const auto& r : res) {
    REQUIRE(r.status == fs::RunResult::kOk);
    CHECK(r.t_final == Approx(3.0).epsilon(1e-12));
    REQUIRE(r.series.size() == 7);
    for (long k = 0; k < r.series.size(); ++k) CHECK(r.series.t[size_t(k)] == Approx(0.5 * double(k)).epsilon(1e-12));
  }
  CHECK(res[2].steps == 3000);
  // Gradient descent is first order in the step: halving it halves the distance to the flow (measured
  // against a step ten times smaller still, hence 9/19 rather than 1/2).
  const double e1 = std::fabs(res[0].final_loss - res[2].final_loss);
  const double e2 = std::fabs(res[1].final_loss - res[2].final_loss);
  CHECK(e1 > 1e-6);
  CHECK(e2 / e1 == Approx(9.0 / 19.0).margin(0.05));  // 0.45 here: second-order terms remain

  auto bad = [](std::vector<std::string> sets) {
    try {
      fs::expand_grid(fs::parse_spec(kSweep, "t.toml", sets));
    } catch (const fs::InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  using Catch::Matchers::Contains;
  CHECK_THAT(bad({"flow_time=1e15", "lr=1e-6"}), Contains("train.flow_time") && Contains("2^40 steps"));
  CHECK_THAT(bad({"record_dt=-1"}), Contains("train.record_dt"));
}

TEST_CASE("a diverging run is marked at its step and the others go on", "[executor]") {
  // With the default bound a run diverges once |loss| passes 1e6 x max(|L(0)|, 1), long before it stops
  // being finite; with diverge_above = 0 only a loss that is not finite marks it, at a later step.
  for (const std::string bound : {"1e6", "0"}) {
    auto spec = fs::parse_spec(kSweep, "t.toml", {"grid.lr=[0.1, 1e6]", "diverge_above=" + bound});
    auto in = fs::grid_inputs(spec);
    auto res = fs::execute_cpu(*spec.entry, in, 2);
    auto plain = fs::execute_cpu(
        *spec.entry, fs::grid_inputs(fs::parse_spec(kSweep, "t.toml", {"grid.lr=[0.1, 1e6]", "diverge_above=0"})), 2);
    long diverged = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i].params.real("lr") > 1) {
        CHECK(res[i].status == fs::RunResult::kDiverged);
        CHECK(res[i].steps < 60);
        if (bound == "0") {
          CHECK_FALSE(std::isfinite(res[i].final_loss));
        } else {
          CHECK(std::isfinite(res[i].final_loss));
          CHECK(std::fabs(res[i].final_loss) > 1e6);
          CHECK(res[i].steps < plain[i].steps);
          CHECK_THAT(res[i].message, Catch::Matchers::Contains("above diverge_above"));
        }
        diverged++;
      } else {
        CHECK(res[i].status == fs::RunResult::kOk);
        CHECK(res[i].steps == 60);
      }
    }
    CHECK(diverged == long(in.size()) / 2);
  }
}

TEST_CASE("the divergence bound is relative to the initial loss", "[executor]") {
  CHECK_FALSE(fs::loss_diverged(9.9e5, 0.5, 1e6));  // scale max(|L0|, 1) = 1
  CHECK(fs::loss_diverged(1.01e6, 0.5, 1e6));
  CHECK_FALSE(fs::loss_diverged(1.9e7, 20.0, 1e6));  // scale 20
  CHECK(fs::loss_diverged(2.1e7, 20.0, 1e6));
  CHECK(fs::loss_diverged(-2.1e7, 20.0, 1e6));
  CHECK_FALSE(fs::loss_diverged(1e300, 1.0, 0.0));  // 0: only a loss that is not finite
  CHECK(fs::loss_diverged(std::nan(""), 1.0, 0.0));
  CHECK(fs::loss_diverged(-INFINITY, 1.0, 0.0));
}

TEST_CASE("a run that throws is marked failed and the others go on", "[executor]") {
  auto spec = fs::parse_spec(kSweep, "t.toml");
  auto in = fs::grid_inputs(spec);
  fs::ModelEntry broken = *spec.entry;
  broken.start = [orig = spec.entry->start](const fs::RunInput& r) {
    if (r.params.integer("m") == 5) throw std::runtime_error("out of memory");
    return orig(r);
  };
  auto res = fs::execute_cpu(broken, in, 3);
  for (size_t i = 0; i < in.size(); ++i) {
    const bool bad = in[i].params.integer("m") == 5;
    CHECK(res[i].status == (bad ? fs::RunResult::kFailed : fs::RunResult::kOk));
    if (bad) CHECK(res[i].message == "out of memory");
  }
}

TEST_CASE("recording schedules: linear and log-spaced", "[executor]") {
  fs::FlowConfig fc;
  fc.steps = 1000000;
  fc.schedule = 1;
  fc.records = 61;
  auto s = fs::record_schedule(fc);
  REQUIRE(s.size() == 61);
  CHECK(s.front() == 0);
  CHECK(s.back() == 1000000);
  for (size_t k = 1; k < s.size(); ++k) REQUIRE(s[k] > s[k - 1]);
  // log-spaced: the late records grow by a constant factor, (1e6)^(1/60) ~ 1.259
  for (size_t k = 40; k < s.size(); ++k) CHECK(double(s[k]) / double(s[k - 1]) == Approx(1.2589).epsilon(0.02));
  fc.steps = 30;  // more records than steps: every step
  s = fs::record_schedule(fc);
  CHECK(s.size() == 31);
  CHECK(s[7] == 7);
  fc.schedule = 0;
  fc.steps = 25;
  fc.record_every = 10;
  CHECK(fs::record_schedule(fc) == std::vector<long>{0, 10, 20, 25});
}

TEST_CASE("record_count counts the schedule's steps without making them", "[executor]") {
  fs::FlowConfig fc;
  for (int schedule : {0, 1})
    for (long steps : {0L, 1L, 2L, 9L, 10L, 11L, 25L, 999L, 100000L})
      for (long every : {1L, 3L, 10L, 1000L})
        for (long records : {1L, 2L, 3L, 61L, 200L}) {
          fc.schedule = schedule, fc.steps = steps, fc.record_every = every, fc.records = records;
          INFO("schedule " << schedule << ", steps " << steps << ", every " << every << ", records " << records);
          REQUIRE(fs::record_count(fc) == long(fs::record_schedule(fc).size()));
        }
  fc.schedule = 0, fc.steps = 99999999999, fc.record_every = 10;  // 10^10 records: counted, not allocated
  CHECK(fs::record_count(fc) == 10000000001);
}

TEST_CASE("a log-spaced run records at the schedule's steps", "[executor]") {
  auto spec = fs::parse_spec(
      kSweep, "t.toml",
      {"record=log", "records=12", "steps=500", "grid.seed=[0]", "grid.m=[3]", "grid.precision=[\"fp64\"]"});
  auto res = fs::execute_cpu(*spec.entry, fs::grid_inputs(spec), 1)[0];
  fs::FlowConfig fc;
  fc.steps = 500;
  fc.schedule = 1;
  fc.records = 12;
  CHECK(res.series.step == fs::record_schedule(fc));
}

TEST_CASE("flow time under momentum counts steps of lr / (1 - beta)", "[executor]") {
  auto spec = fs::parse_spec(kSweep, "t.toml",
                             {"optimizer=momentum", "momentum=0.9", "lr=0.01", "flow_time=1", "record_dt=0.3",
                              "grid.seed=[0]", "grid.m=[3]", "grid.precision=[\"fp64\"]"});
  auto res = fs::execute_cpu(*spec.entry, fs::grid_inputs(spec), 1)[0];
  CHECK(res.steps == 10);  // 1 / (0.01 / 0.1)
  CHECK(res.t_final == Approx(1.0));
  CHECK(res.series.step == std::vector<long>{0, 3, 6, 9, 10});  // record_dt 0.3: every 3 steps of 0.1
  CHECK(res.series.t[1] == Approx(0.3));
  auto gd = fs::parse_spec(kSweep, "t.toml",
                           {"lr=0.01", "flow_time=1", "grid.seed=[0]", "grid.m=[3]", "grid.precision=[\"fp64\"]"});
  CHECK(fs::execute_cpu(*gd.entry, fs::grid_inputs(gd), 1)[0].steps == 100);
  CHECK_THROWS_WITH(fs::expand_grid(fs::parse_spec(kSweep, "t.toml", {"momentum=1"})),
                    Catch::Matchers::Contains("momentum"));
}
