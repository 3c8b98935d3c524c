#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>

#include "host/tables.h"

namespace {

std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream is(text);
  std::string line;
  while (std::getline(is, line)) {
    std::vector<std::string> f;
    std::string cell;
    std::istringstream ls(line);
    while (std::getline(ls, cell, ',')) f.push_back(cell);
    if (!line.empty() && line.back() == ',') f.push_back("");
    rows.push_back(f);
  }
  return rows;
}

}  // namespace

TEST_CASE("quantiles interpolate between order statistics", "[tables]") {
  CHECK(fs::quantile({4, 1, 3, 2}, 0.5) == 2.5);
  CHECK(fs::quantile({4, 1, 3, 2}, 0.25) == 1.75);
  CHECK(fs::quantile({7}, 0.75) == 7);
  CHECK(std::isnan(fs::quantile({}, 0.5)));
}

TEST_CASE("runs and phase-diagram tables from hand-made results", "[tables]") {
  auto spec = fs::parse_spec("model = \"cooccurrence\"\n[grid]\nseed = [0, 1, 2]\nm = [4, 8]\n", "t.toml");
  auto runs = fs::expand_grid(spec);
  std::vector<fs::RunResult> results(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    auto& r = results[i];
    r.steps = 100;
    r.t_final = 1.0;
    r.dt = 0.01;
    r.final_loss = 0.5;
    r.series.n_obs = 15;
    r.series.step = {0, 50, 100};
    r.series.t = {0.0, 0.5, 1.0};
    r.series.values.assign(45, 0.0);
    r.detected = {std::optional<long>(50 * long(i % 3)), std::nullopt, std::optional<long>(100)};
    r.final_obs.assign(15, 0.25);
    r.final_loss = 0.1 * double(i);
    r.final_config.assign(10, 0.0);
    r.final_config[0] = double(i * i);  // dKQ_11
    r.final_config[9] = i == 2 ? NAN : 1.0;
  }
  results[5].status = fs::RunResult::kDiverged;  // seed 2, m 8
  results[5].detected = {std::nullopt, std::nullopt, std::nullopt};

  auto rows = parse_csv(fs::runs_csv(spec, runs, results));
  REQUIRE(rows.size() == 7);
  const auto& head = rows[0];
  auto col = [&](const std::string& name) {
    for (size_t c = 0; c < head.size(); ++c)
      if (head[c] == name) return c;
    FAIL("no column " << name);
    return size_t(0);
  };
  CHECK(rows[1][col("run_id")] == runs[0].id);
  CHECK(rows[4][col("seed")] == "1");
  CHECK(rows[4][col("m")] == "8");
  CHECK(rows[6][col("status")] == "diverged");
  CHECK(rows[1][col("t_phase1_end")] == "0");
  CHECK(rows[2][col("t_phase1_end")] == "0.5");
  CHECK(rows[3][col("t_phase1_end")] == "1");
  CHECK(rows[3][col("step_phase1_end")] == "100");
  CHECK(rows[3][col("t_phase2_start")] == "");
  for (const auto& r : rows) CHECK(r.size() == head.size());

  auto pd = parse_csv(fs::phase_diagram_csv(spec, runs, results));
  REQUIRE(pd.size() == 3);  // one row per m, seeds pooled
  const auto& ph = pd[0];
  auto pcol = [&](const std::string& name) {
    for (size_t c = 0; c < ph.size(); ++c)
      if (ph[c] == name) return c;
    FAIL("no column " << name);
    return size_t(0);
  };
  CHECK(ph[0] == "m");
  // m = 4: runs 0, 2, 4 -> detector record 0, 2, 1 -> times 0, 1, 0.5
  CHECK(pd[1][pcol("n_runs")] == "3");
  CHECK(pd[1][pcol("frac_phase1_end")] == "1");
  CHECK(pd[1][pcol("t_median_phase1_end")] == "0.5");
  CHECK(pd[1][pcol("t_q25_phase1_end")] == "0.25");
  CHECK(pd[1][pcol("frac_phase2_start")] == "0");
  CHECK(pd[1][pcol("t_median_phase2_start")] == "");
  // m = 8: runs 1, 3, 5 (5 diverged) -> times 0.5, 0
  CHECK(pd[2][pcol("n_diverged")] == "1");
  CHECK(std::stod(pd[2][pcol("frac_phase1_end")]) == Approx(2.0 / 3));
  CHECK(pd[2][pcol("t_median_phase1_end")] == "0.25");
  // Medians of the finished runs: m = 4 pools runs 0, 2, 4; m = 8 runs 1 and 3 (5 diverged).
  CHECK(std::stod(pd[1][pcol("median_final_loss")]) == Approx(0.2));
  CHECK(std::stod(pd[2][pcol("median_final_loss")]) == Approx(0.2));
  CHECK(std::stod(pd[1][pcol("median_dKQ_11")]) == Approx(4.0));
  CHECK(std::stod(pd[2][pcol("median_dKQ_11")]) == Approx(5.0));
  const std::string last = "median_" + spec.entry->info.final_columns[9].name;
  CHECK(pd[1][pcol(last)] == "1");  // the NaN of run 2 is left out
  for (const auto& r : pd) CHECK(r.size() == ph.size());
}

TEST_CASE("the phase diagram gives a yes/no column's fraction and leaves an index out", "[tables]") {
  // value_softmax's final configuration: winner, u0_argmax (indices), winner_is_u0_argmax (1 or 0),
  // order_crossings (a count).
  auto spec = fs::parse_spec("model = \"value_softmax\"\n[grid]\nseed = [0, 1, 2, 3]\n", "t.toml");
  auto runs = fs::expand_grid(spec);
  std::vector<fs::RunResult> results(runs.size());
  const double winner[] = {3, 1, 2, 0}, u0[] = {3, 1, 0, 0}, crossings[] = {0, 2, 5, 9};
  for (size_t i = 0; i < runs.size(); ++i) {
    auto& r = results[i];
    r.steps = 10;
    r.t_final = 1.0;
    r.dt = 0.1;
    r.detected = {std::nullopt};
    r.final_config = {winner[i], u0[i], double(winner[i] == u0[i]), crossings[i]};
  }
  results[3].status = fs::RunResult::kDiverged;  // its 1 is left out: 2 of the 3 finished runs

  auto pd = parse_csv(fs::phase_diagram_csv(spec, runs, results));
  REQUIRE(pd.size() == 2);
  const auto& head = pd[0];
  auto has = [&](const std::string& name) { return std::find(head.begin(), head.end(), name) != head.end(); };
  CHECK_FALSE(has("median_winner"));
  CHECK_FALSE(has("median_u0_argmax"));
  CHECK_FALSE(has("median_winner_is_u0_argmax"));
  REQUIRE(has("frac_winner_is_u0_argmax"));
  REQUIRE(has("median_order_crossings"));
  auto at = [&](const std::string& name) {
    return pd[1][size_t(std::find(head.begin(), head.end(), name) - head.begin())];
  };
  CHECK(std::stod(at("frac_winner_is_u0_argmax")) == Approx(2.0 / 3));
  CHECK(at("median_order_crossings") == "2");
  CHECK(pd[1].size() == head.size());
}
