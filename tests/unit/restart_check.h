// One test body for every executor: a sweep run to the end in one go, and the same sweep stopped after
// a few slices, every run in flight saved, the executor dropped and a fresh one going on from the
// checkpoints. Both must give the same bits. Used with the CPU executor (tests/unit) and the CUDA one
// (tests/gpu).
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <mutex>

#include "host/executor.h"

namespace fs::test {

// A source over prepared runs (some with checkpoints).
class ListSource : public RunSource {
 public:
  explicit ListSource(std::vector<PendingRun> runs) : runs_(std::move(runs)) {}
  bool claim(PendingRun& out) override {
    std::lock_guard<std::mutex> lock(m_);
    if (k_ >= runs_.size()) return false;
    out = runs_[k_++];
    return true;
  }

 private:
  std::vector<PendingRun> runs_;
  size_t k_ = 0;
  std::mutex m_;
};

struct Restarted {
  std::vector<RunResult> results;
  std::vector<SavedRun> saved;  // what the first executor left in flight
};

// Runs `inputs` with a stop after `slices` slices of `slice_s` seconds.
inline Restarted run_with_restart(const std::function<std::unique_ptr<Executor>()>& make,
                                  const std::vector<RunInput>& inputs, int slices, double slice_s) {
  Restarted out;
  out.results.resize(inputs.size());
  std::vector<PendingRun> all;
  for (size_t i = 0; i < inputs.size(); ++i) all.push_back({long(i), inputs[i], {}});
  std::vector<char> taken(inputs.size(), 0);
  std::vector<FinishedRun> done;
  {
    auto ex = make();
    ListSource source(all);
    for (int s = 0; s < slices; ++s) ex->advance(slice_s, source, done);
    ex->save(out.saved);
    // Runs the first executor took are either done or saved; the rest it never started.
    for (const auto& d : done) taken[size_t(d.key)] = 1;
    for (const auto& s : out.saved) taken[size_t(s.key)] = 1;
  }
  std::vector<PendingRun> rest;
  for (const auto& s : out.saved) rest.push_back({s.key, inputs[size_t(s.key)], s.checkpoint});
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!taken[i]) rest.push_back(all[i]);
  auto ex = make();
  ListSource source(rest);
  while (ex->advance(1.0, source, done)) {
  }
  std::vector<char> seen(inputs.size(), 0);
  for (auto& d : done) {
    REQUIRE_FALSE(seen[size_t(d.key)]);  // no run finished twice
    seen[size_t(d.key)] = 1;
    out.results[size_t(d.key)] = std::move(d.result);
  }
  for (char s : seen) REQUIRE(s);
  return out;
}

// Bit for bit: the same status, steps, records, detectors and final configuration.
inline void require_identical(const RunResult& a, const RunResult& b) {
  REQUIRE(a.status == b.status);
  REQUIRE(a.steps == b.steps);
  REQUIRE(a.series.step == b.series.step);
  REQUIRE(a.series.values.size() == b.series.values.size());
  for (size_t k = 0; k < a.series.values.size(); ++k) {
    const double x = a.series.values[k], y = b.series.values[k];
    if (!(std::isnan(x) && std::isnan(y))) REQUIRE(x == y);
  }
  REQUIRE(a.detected == b.detected);
  REQUIRE(a.final_config.size() == b.final_config.size());
  for (size_t k = 0; k < a.final_config.size(); ++k)
    if (!(std::isnan(a.final_config[k]) && std::isnan(b.final_config[k])))
      REQUIRE(a.final_config[k] == b.final_config[k]);
  // The attention table, final and at each detector's answer: a checkpoint carries the weights taken
  // before it.
  REQUIRE(a.final_rows.size() == b.final_rows.size());
  for (size_t q = 0; q < a.final_rows.size(); ++q) {
    REQUIRE(a.final_rows[q].size() == b.final_rows[q].size());
    for (size_t f = 0; f < a.final_rows[q].size(); ++f) {
      const double x = a.final_rows[q][f], y = b.final_rows[q][f];
      REQUIRE(std::isnan(x) == std::isnan(y));
      if (!std::isnan(x)) REQUIRE(x == y);
    }
  }
  if (std::isfinite(a.final_loss)) REQUIRE(a.final_loss == b.final_loss);
}

}  // namespace fs::test
