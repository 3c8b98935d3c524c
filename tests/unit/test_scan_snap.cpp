#include <catch2/catch.hpp>
#include <cmath>

#include "host/executor_cpu.h"
#include "host/grid.h"
#include "kernels/scan_snap.h"
#include "tests/unit/model_check.h"

using fs::ScanSnap;
using fs::Value;

namespace {

fs::Params small(const char* mode, int num_last = 2, int per_last = 2, int common = 3) {
  return fs::test::with_defaults(ScanSnap::info(), {{"num_last", Value::number(num_last)},
                                                    {"num_next_per_last", Value::number(per_last)},
                                                    {"num_common", Value::number(common)},
                                                    {"mode", Value::text(mode)},
                                                    {"T", Value::number(12)},
                                                    {"batch", Value::number(9)},
                                                    {"init", Value::text("uniform")}});
}

}  // namespace

TEST_CASE("scan_snap: gradient matches central differences in both modes", "[scan_snap]") {
  fs::test::check_gradient<ScanSnap>(small("population"), 0.5);
  fs::test::check_gradient<ScanSnap>(small("population", 1, 3, 0), 0.8);
  fs::test::check_gradient<ScanSnap>(small("minibatch"), 0.5, 5);  // the batch of step 5
}

TEST_CASE("scan_snap: a team of any size computes the same numbers", "[scan_snap][team]") {
  fs::test::check_team_invariance<ScanSnap>(small("population", 3, 2, 4), 0.5);
  fs::test::check_team_invariance<ScanSnap>(small("minibatch", 3, 2, 4), 0.5);
}

TEST_CASE("scan_snap: token layout and class distributions", "[scan_snap][data]") {
  auto p = small("population", 3, 2, 10);
  auto c = ScanSnap::configure(p);
  CHECK(c.K == 6);
  CHECK(c.M == 10 + 60 + 3 + 6);
  auto sz = ScanSnap::sizes(c);
  std::vector<int> idata(size_t(sz.n_idata));
  std::vector<double> rdata(size_t(sz.n_rdata));
  fs::Stream rng(0, 0, fs::kStreamData);
  ScanSnap::make_data<double>(c, rng, idata.data(), rdata.data());
  for (int j = 0; j < c.K; ++j) {
    double total = 0;
    for (int k = 0; k < c.S; ++k) {
      const int tok = idata[size_t(j * c.S + k)];
      const double P = rdata[size_t(j * c.S + k)];
      total += P;
      if (k < 10) {
        CHECK(tok == k);  // common tokens first
        CHECK(P == Approx(1.0 / 15.5));
      } else {
        CHECK(tok == 10 + 10 * j + (k - 10));  // then this class's 10 distinct tokens
        CHECK(P == Approx(0.1 * (k - 9) / 15.5));
      }
    }
    CHECK(total == Approx(1.0).epsilon(1e-14));
    CHECK(ScanSnap::query_token(c, j) == 70 + j / 2);
    CHECK(ScanSnap::next_token(c, j) == 73 + j);
  }
}

TEST_CASE("scan_snap: sampled sequences follow the class distribution", "[scan_snap][data]") {
  // Over many steps the minibatch token counts of class 0 match P(l|n) within 5 sigma, and classes are
  // drawn uniformly.
  auto p = small("minibatch", 1, 2, 4);
  p.set("T", Value::number(201));
  p.set("batch", Value::number(64));
  fs::test::ModelPoint<ScanSnap> pt(p, ScanSnap::info(), 0.0);
  auto& r = pt.run;
  const auto& c = r.cfg;
  std::vector<double> counts(size_t(c.S), 0.0);
  long class_count[2] = {0, 0}, n_seq = 0;
  for (long step = 0; step < 40; ++step) {
    const fs::StepContext ctx{step, 1, 2, false};
    ScanSnap::loss_grad(fs::HostTeam{}, c, ctx, r.idata.data(), r.rdata.data(), r.theta.data(), r.fixed.data(),
                        r.grad.data(), r.scratch.data());
    for (int it = 0; it < c.batch; ++it) {
      const double* s = r.scratch.data() + it * ScanSnap::item_words(c);
      const int j = int(s[0]);
      class_count[j]++;
      if (j != 0) continue;
      n_seq++;
      for (int k = 0; k < c.S; ++k) counts[size_t(k)] += s[1 + k];
    }
  }
  const double n_tok = double(n_seq) * (c.T - 1);
  for (int k = 0; k < c.S; ++k) {
    const double P = r.rdata[size_t(k)];
    CHECK(std::fabs(counts[size_t(k)] - n_tok * P) < 5 * std::sqrt(n_tok * P * (1 - P)));
  }
  const double n = double(class_count[0] + class_count[1]);
  CHECK(std::fabs(class_count[0] - n / 2) < 5 * std::sqrt(n / 4));
}

TEST_CASE("scan_snap: zero initialisation gives Z no gradient until Y moves", "[scan_snap]") {
  auto p = small("population");
  p.set("init", Value::text("zero"));
  fs::test::ModelPoint<ScanSnap> pt(p, ScanSnap::info(), 0.0);
  auto& r = pt.run;
  ScanSnap::loss_grad(fs::HostTeam{}, r.cfg, fs::StepContext{}, r.idata.data(), r.rdata.data(), r.theta.data(),
                      r.fixed.data(), r.grad.data(), r.scratch.data());
  const long MM = long(r.cfg.M) * r.cfg.M;
  double gz = 0, gy = 0;
  for (long i = 0; i < MM; ++i) gz += std::fabs(r.grad[size_t(i)]), gy += std::fabs(r.grad[size_t(MM + i)]);
  CHECK(gz == 0.0);
  CHECK(gy > 0.1);
}

TEST_CASE("scan_snap: attention scans, and a larger eta_Y snaps earlier, near t0", "[scan_snap][paper]") {
  // MODELS.md's population-mode check: K = 2, M = 33, eta_Z = 1; the snap fell at t = 11, 7, 3, 1 for
  // eta_Y / eta_Z = 1, 2, 5, 10 against t0 = 14, 7, 2.8, 1.4.
  std::vector<fs::Params> in;
  auto res = fs::test::run_spec(
      "model = \"scan_snap\"\n[params]\nnum_last = 1\nmode = \"population\"\n[train]\nlr = 1.0\nsteps = 60\n"
      "record_every = 1\n[grid]\nlr_ratio = [1, 2, 5, 10]\n",
      &in);
  double last = 1e9;
  for (size_t i = 0; i < res.size(); ++i) {
    const auto& r = res[i];
    REQUIRE(r.detected[0].has_value());
    const double t_snap = r.detected_time(0);
    const double t0 = r.final_config[0];
    INFO("eta_Y/eta_Z " << in[i].real("lr_ratio") << ": snap " << t_snap << ", t0 " << t0);
    CHECK(t_snap < last);                      // larger eta_Y snaps earlier
    CHECK(t_snap == Approx(t0).epsilon(0.5));  // within a factor of about 1.5 of the theory
    last = t_snap;
    // Scanning: mass leaves the common tokens; the distinct-token entropy falls.
    CHECK(r.final_obs[ScanSnap::kCommonMass] < r.series.at(0, ScanSnap::kCommonMass));
    CHECK(r.final_obs[ScanSnap::kDistinctEntropy] < r.series.at(0, ScanSnap::kDistinctEntropy));
    // Distinct tokens keep attention in the order of their probability: the less likely go first.
    for (int j = 0; j < 2; ++j)
      for (int k = 11; k < 20; ++k) {
        const auto& lo = r.final_rows[size_t(j * 20 + k - 1)];
        const auto& hi = r.final_rows[size_t(j * 20 + k)];
        REQUIRE(hi[3] == lo[3] + 1);
        // relative to its probability, a likelier token holds more attention
        CHECK(hi[5] / hi[4] > lo[5] / lo[4]);
      }
  }
}

TEST_CASE("scan_snap: bad parameters are errors", "[scan_snap]") {
  auto p = small("population");
  p.set("M", Value::number(20));
  CHECK_THROWS_WITH(ScanSnap::configure(p), Catch::Matchers::Contains("vocabulary"));
}
