// The CUDA executor against the CPU executor: same series, detectors and final configurations on
// random sizes, seeds, optimisers and both precisions; slots reused and launches split; shared-memory
// and global-memory paths. Exit code 77 (ctest: skipped) where no GPU is usable.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <random>

#include "../unit/restart_check.h"
#include "host/executor_cpu.h"
#include "host/executor_cuda.h"
#include "host/grid.h"

namespace {

struct Compare {
  double max_rel = 0;
  long detector_mismatches = 0;
};

// Error of each recorded value relative to the largest magnitude its observable takes in the run.
Compare compare(const fs::RunResult& cpu, const fs::RunResult& gpu) {
  Compare c;
  REQUIRE(cpu.status == gpu.status);
  REQUIRE(cpu.steps == gpu.steps);
  REQUIRE(cpu.series.step == gpu.series.step);
  const int n_obs = cpu.series.n_obs;
  for (int o = 0; o < n_obs; ++o) {
    double scale = 1e-30;
    for (long r = 0; r < cpu.series.size(); ++r) scale = std::fmax(scale, std::fabs(cpu.series.at(r, o)));
    for (long r = 0; r < cpu.series.size(); ++r) {
      const double a = cpu.series.at(r, o), b = gpu.series.at(r, o);
      REQUIRE_FALSE(std::isnan(b) != std::isnan(a));  // outputs are poisoned with NaN: unwritten shows
      if (!std::isnan(a)) c.max_rel = std::fmax(c.max_rel, std::fabs(a - b) / scale);
    }
  }
  for (size_t k = 0; k < cpu.final_config.size(); ++k) {
    const double a = cpu.final_config[k], b = gpu.final_config[k];
    c.max_rel = std::fmax(c.max_rel, std::fabs(a - b) / std::fmax(std::fabs(a), 1e-12));
  }
  // The attention table, computed on the device at the end and at each detector's answer: every field,
  // the weights and their steps; unwritten cells were poisoned NaN and must match the CPU's NaNs.
  REQUIRE(cpu.final_rows.size() == gpu.final_rows.size());
  for (size_t q = 0; q < cpu.final_rows.size(); ++q) {
    REQUIRE(cpu.final_rows[q].size() == gpu.final_rows[q].size());
    for (size_t f = 0; f < cpu.final_rows[q].size(); ++f) {
      const double a = cpu.final_rows[q][f], b = gpu.final_rows[q][f];
      REQUIRE_FALSE(std::isnan(b) != std::isnan(a));
      if (!std::isnan(a)) c.max_rel = std::fmax(c.max_rel, std::fabs(a - b) / std::fmax(std::fabs(a), 1e-12));
    }
  }
  for (size_t d = 0; d < cpu.detected.size(); ++d) c.detector_mismatches += cpu.detected[d] != gpu.detected[d];
  return c;
}

// fp64: every recorded value within 1e-9 of the CPU's (relative to its observable's scale), and the
// detectors at the same records.
void check_fp64_agrees(const fs::RunResult& cpu, const fs::RunResult& gpu) {
  const Compare c = compare(cpu, gpu);
  CHECK(c.max_rel < 1e-9);
  CHECK(c.detector_mismatches == 0);
}

// Random sizes and settings of one model, as --set overrides.
std::vector<std::string> random_point(const std::string& model, std::mt19937& rng, int i) {
  auto pick = [&](int lo, int hi) { return std::to_string(std::uniform_int_distribution<int>(lo, hi)(rng)); };
  const char* opts[] = {"gd", "momentum", "adam"};
  std::vector<std::string> sets = {std::string("optimizer=") + opts[i % 3], "seed=" + pick(0, 1000000),
                                   "steps=" + pick(150, 400), "record_every=" + pick(1, 40), "lr_ratio=" + pick(1, 5)};
  const bool adam = i % 3 == 2;
  if (i % 4 == 3) sets.push_back("record=log"), sets.push_back("records=" + pick(3, 50));
  if (model == "cooccurrence") {
    for (auto x : {"d=" + pick(4, 40), "L=" + pick(3, 8), "n=" + std::to_string(6 * std::stoi(pick(1, 10))),
                   "m=" + pick(2, 64), "m1=" + pick(2, 96), std::string("init=") + (i % 2 ? "theory" : "kaiming"),
                   std::string("lr=") + (adam ? "0.003" : "0.02")})
      sets.push_back(x);
  } else if (model == "scan_snap") {
    for (auto x : {"num_last=" + pick(1, 4), "num_next_per_last=" + pick(1, 3), "num_common=" + pick(0, 12),
                   std::string("mode=") + (i % 2 ? "minibatch" : "population"), "T=" + pick(8, 64),
                   "batch=" + pick(4, 64), std::string("init=uniform"), std::string("lr=") + (adam ? "0.01" : "0.2")})
      sets.push_back(x);
  } else if (model == "joma_toy") {
    for (auto x : {"K=" + pick(2, 64), std::string("lr=0.02")}) sets.push_back(x);
  } else if (model == "joma") {
    const char* phis[] = {"identity", "relu", "silu"};
    const char* layouts[] = {"profile", "random", "disjoint"};
    for (auto x :
         {"C=" + pick(2, 20), std::string("data=") + layouts[i % 3], "n_distinct=" + pick(1, 10),
          "n_common=" + pick(0, 10), "hidden=" + std::string(i % 2 ? "0" : pick(2, 40)),
          std::string("phi=") + phis[(i / 3) % 3], std::string("init_std=0.1"),
          std::string("norm=") + ((i / 2) % 2 ? "layer" : "none"),
          std::string("label_noise=") + (i % 5 == 0 ? "0" : "0.2"),
          std::string("noise=") + ((i / 4) % 2 ? "random" : "uniform"), std::string("lr=") + (adam ? "0.01" : "0.1")})
      sets.push_back(x);
  } else if (model == "value_softmax") {
    const char* losses[] = {"logistic", "square", "regression", "tied"};
    for (auto x :
         {"d=" + pick(2, 16), "n=" + pick(2, 16), "N=" + pick(2, 20), std::string("loss=") + losses[i % 4],
          std::string("a_init=random"), std::string("v_scale=0.5"), std::string("lr=") + (adam ? "0.01" : "0.05")})
      sets.push_back(x);
  } else if (model == "pathcond") {
    const char* rescale[] = {"none", "pathcond", "enorm"};
    for (auto x : {"depth=" + pick(1, 4), "width=" + pick(2, 24), "points=" + pick(10, 200),
                   std::string("data=") + (i % 2 ? "mixture" : "moons"), "classes=" + pick(2, 4),
                   std::string("rescale=") + rescale[(i / 2) % 3], std::string("lr=") + (adam ? "0.005" : "0.05")})
      sets.push_back(x);
  }
  return sets;
}

std::vector<fs::RunInput> random_sweep(const std::string& model, uint32_t seed, const std::string& precision, int n) {
  std::mt19937 rng(seed);
  std::vector<fs::RunInput> in;
  for (int i = 0; i < n; ++i) {
    auto sets = random_point(model, rng, i);
    sets.push_back("precision=" + precision);
    auto spec = fs::parse_spec("model = \"" + model + "\"\n", "<gpu test>", sets);
    in.push_back({fs::expand_grid(spec)[0].params, spec.sweep_seed});
  }
  return in;
}

// Every run of a spec's grid.
std::vector<fs::RunInput> grid_inputs(const std::string& text) {
  return fs::grid_inputs(fs::parse_spec(text, "<gpu test>"));
}

}  // namespace

const char* team_name(fs::CudaTeam t) { return fs::kCudaTeamNames[int(t)]; }
const fs::CudaTeam kTeams[] = {fs::CudaTeam::kWarp, fs::CudaTeam::kBlock, fs::CudaTeam::kThread};

TEST_CASE("cuda: fp64 agrees with the CPU to 1e-9 and detectors agree exactly", "[gpu]") {
  for (const auto& entry : fs::models()) {
    auto in = random_sweep(entry.info.name, 1, "fp64", 24);
    auto cpu = fs::execute_cpu(entry, in, 4);
    for (fs::CudaTeam team : kTeams)
      for (bool global : {false, true}) {
        fs::CudaOptions opt;
        opt.team = team;
        opt.force_global = global;
        auto gpu = fs::execute_cuda(entry, in, opt);
        REQUIRE(gpu.size() == cpu.size());
        for (size_t i = 0; i < in.size(); ++i) {
          INFO(entry.info.name << " run " << i << ", a " << team_name(team) << " per run"
                               << (global ? " (global memory)" : " (shared memory when it fits)"));
          check_fp64_agrees(cpu[i], gpu[i]);
        }
      }
  }
}

// kernels/team.h fixes every reduction's order, so the team a shape runs on never changes a bit.
TEST_CASE("cuda: a warp, a block and a thread per run give the same bits", "[gpu]") {
  for (const auto& entry : fs::models())
    for (const char* precision : {"fp64", "fp32"}) {
      auto in = random_sweep(entry.info.name, 5, precision, 12);
      fs::CudaOptions warp;
      warp.team = fs::CudaTeam::kWarp;
      const auto a = fs::execute_cuda(entry, in, warp);
      for (fs::CudaTeam team : {fs::CudaTeam::kBlock, fs::CudaTeam::kThread}) {
        fs::CudaOptions opt;
        opt.team = team;
        const auto b = fs::execute_cuda(entry, in, opt);
        for (size_t i = 0; i < in.size(); ++i) {
          INFO(entry.info.name << " " << precision << " run " << i << ": a warp against a " << team_name(team));
          fs::test::require_identical(a[i], b[i]);
        }
      }
    }
}

TEST_CASE("cuda: fp32 agrees with the CPU's fp32 to 1e-4", "[gpu]") {
  for (const auto& entry : fs::models()) {
    auto in = random_sweep(entry.info.name, 2, "fp32", 18);
    auto cpu = fs::execute_cpu(entry, in, 4);
    for (fs::CudaTeam team : kTeams) {
      fs::CudaOptions opt;
      opt.team = team;
      auto gpu = fs::execute_cuda(entry, in, opt);
      for (size_t i = 0; i < in.size(); ++i) {
        INFO(entry.info.name << " run " << i << ", a " << team_name(team) << " per run");
        CHECK(compare(cpu[i], gpu[i]).max_rel < 1e-4);
      }
    }
  }
}

TEST_CASE("cuda: more runs than slots and launches gives the CPU's results, divergence included", "[gpu]") {
  const auto& entry = *fs::find_model("cooccurrence");
  auto in = grid_inputs(
      "model = \"cooccurrence\"\n[params]\nd = 12\nm = 16\nm1 = 24\n[train]\nsteps = 200\nrecord_every = 5\n"
      "[grid]\nseed = { range = [0, 9] }\nlr = [0.01, 0.1, 1e7]\n");
  auto cpu = fs::execute_cpu(entry, in, 4);
  fs::CudaOptions opt;
  opt.max_slots = 3;
  opt.max_steps_per_slice = 7;
  long done = 0;
  auto gpu = fs::execute_cuda(entry, in, opt, [&](long, const fs::RunResult&) { ++done; });
  CHECK(done == long(in.size()));
  long diverged = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    INFO("run " << i);
    check_fp64_agrees(cpu[i], gpu[i]);
    diverged += gpu[i].status == fs::RunResult::kDiverged;
  }
  CHECK(diverged == 9);
}

TEST_CASE("cuda: runs of different lengths and schedules share a launch (flow_time over an lr grid)", "[gpu]") {
  const auto& entry = *fs::find_model("cooccurrence");
  auto in = grid_inputs(
      "model = \"cooccurrence\"\n[params]\nd = 12\nm = 16\nm1 = 24\n[train]\nflow_time = 1.0\nrecord_dt = 0.05\n"
      "[grid]\nseed = { range = [0, 5] }\nlr = [0.005, 0.02, 0.1]\n");
  auto cpu = fs::execute_cpu(entry, in, 4);
  fs::CudaOptions opt;
  opt.max_slots = 2;
  auto gpu = fs::execute_cuda(entry, in, opt);
  for (size_t i = 0; i < in.size(); ++i) {
    INFO("run " << i << " lr " << in[i].params.real("lr"));
    CHECK(gpu[i].steps == long(std::lround(1.0 / in[i].params.real("lr"))));
    check_fp64_agrees(cpu[i], gpu[i]);
  }
}

TEST_CASE("cuda: runs stopped mid-launch, saved and restored on a fresh executor go on bit for bit", "[gpu]") {
  for (const auto& entry : fs::models()) {
    for (const char* precision : {"fp64", "fp32"}) {
      auto in = random_sweep(entry.info.name, 3, precision, 12);
      for (auto& r : in) r.id = std::to_string(&r - in.data());
      fs::CudaOptions opt;
      opt.max_slots = 5;             // more runs than slots: some wait, some are never started
      opt.max_steps_per_slice = 23;  // slices end mid-run
      const auto whole = fs::execute_cuda(entry, in, opt);
      auto cut = fs::test::run_with_restart([&] { return fs::make_cuda_executor(entry, opt); }, in, 2, 1e-6);
      INFO(entry.info.name << " " << precision << ": " << cut.saved.size() << " runs saved in flight");
      CHECK(!cut.saved.empty());
      for (size_t i = 0; i < in.size(); ++i) {
        INFO("run " << i);
        fs::test::require_identical(whole[i], cut.results[i]);
      }
    }
  }
}

TEST_CASE(
    "cuda: a run checkpointed on the CPU goes on on the GPU and agrees with the CPU to 1e-9; a bad checkpoint fails "
    "alone",
    "[gpu]") {
  for (const auto& entry : fs::models()) {
    auto in = random_sweep(entry.info.name, 4, "fp64", 8);
    for (auto& r : in) r.id = std::to_string(&r - in.data());
    const auto cpu = fs::execute_cpu(entry, in, 2);
    std::vector<fs::PendingRun> rest;
    for (size_t i = 0; i < in.size(); ++i) {
      auto run = entry.start(in[i]);
      run->advance(37);
      rest.push_back({long(i), in[i], run->save()});
    }
    // A checkpoint cut short: that run fails when it is staged, and the others go on.
    rest.insert(rest.begin() + 3, {99, in[0], rest[0].checkpoint.substr(0, rest[0].checkpoint.size() / 2)});
    fs::test::ListSource source(rest);
    auto ex = fs::make_cuda_executor(entry, fs::CudaOptions{});
    std::vector<fs::FinishedRun> done;
    while (ex->advance(1.0, source, done)) {
    }
    REQUIRE(done.size() == in.size() + 1);
    for (const auto& d : done) {
      INFO(entry.info.name << " run " << d.key);
      if (d.key == 99) {
        CHECK(d.result.status == fs::RunResult::kFailed);
        CHECK_THAT(d.result.message, Catch::Matchers::Contains("checkpoint does not fit"));
      } else {
        check_fp64_agrees(cpu[size_t(d.key)], d.result);
      }
    }
  }
}

int main(int argc, char** argv) {
  const fs::CudaDeviceInfo dev = fs::cuda_probe(0);
  if (!dev.available) {
    std::printf("skipped: %s\n", dev.reason.c_str());
    return 77;
  }
  std::printf("device: %s (sm_%d%d, %d SMs)\n", dev.name.c_str(), dev.cc_major, dev.cc_minor, dev.sm_count);
  return Catch::Session().run(argc, argv);
}
