#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "host/executor_cpu.h"
#include "host/grid.h"
#include "kernels/pathcond.h"
#include "tests/unit/model_check.h"

using fs::PathCond;
using fs::Value;

namespace {

fs::Params pc_params(int depth, int width, const char* data = "moons", int points = 24, const char* init = "kaiming") {
  return fs::test::with_defaults(PathCond::info(), {{"depth", Value::number(depth)},
                                                    {"width", Value::number(width)},
                                                    {"data", Value::text(data)},
                                                    {"points", Value::number(points)},
                                                    {"classes", Value::number(3)},
                                                    {"dim", Value::number(3)},
                                                    {"init", Value::text(init)}});
}

// The network's logits on every point, computed directly (not through the model's own code).
std::vector<double> logits(const PathCond::Config& c, const std::vector<double>& theta, const std::vector<double>& x) {
  std::vector<double> out;
  for (int p = 0; p < c.P; ++p) {
    std::vector<double> a(x.begin() + long(p) * c.in, x.begin() + long(p + 1) * c.in);
    long o = 0;
    for (int l = 0; l <= c.depth; ++l) {
      const int ni = l == 0 ? c.in : c.h, no = l == c.depth ? c.out : c.h;
      std::vector<double> b(size_t(no), 0.0);
      for (int j = 0; j < no; ++j) {
        for (int i = 0; i < ni; ++i) b[size_t(j)] += theta[size_t(o + long(j) * ni + i)] * a[size_t(i)];
        if (l < c.depth) b[size_t(j)] = std::max(0.0, b[size_t(j)] + theta[size_t(o + long(no) * ni + j)]);
      }
      o += long(no) * ni + (l < c.depth ? no : 0);
      a = b;
    }
    out.insert(out.end(), a.begin(), a.end());
  }
  return out;
}

}  // namespace

TEST_CASE("pathcond: gradient matches central differences", "[pathcond]") {
  fs::test::check_gradient<PathCond>(pc_params(2, 5), 0.1);
  fs::test::check_gradient<PathCond>(pc_params(1, 4, "mixture", 18), 0.1);
  fs::test::check_gradient<PathCond>(pc_params(3, 6, "moons", 20, "torch_default"), 0.1);  // the demo's init
}

TEST_CASE("pathcond: a team of any size computes the same numbers", "[pathcond][team]") {
  fs::test::check_team_invariance<PathCond>(pc_params(3, 6), 0.1);
  // 70 points: a team of 32 tiles them 32, 32 and 6, a team of 8 in nine tiles, the last partial
  fs::test::check_team_invariance<PathCond>(pc_params(2, 5, "mixture", 70), 0.1);
  // Width 20: the host's grouped products take their lanes (two blocks of 8 and a rest of 4) and their
  // block of 16 outputs with a rest; one thread groups its 70 points by four (17 groups and 2 alone), a
  // team of 2 by four of its 35 (8 and 3 alone), a team of 32 not at all: the same bits in every case.
  fs::test::check_team_invariance<PathCond>(pc_params(3, 20, "moons", 70), 0.1);
  fs::test::check_gradient<PathCond>(pc_params(2, 20, "moons", 40), 0.1, 0, 1, 1e-6);
}

TEST_CASE("pathcond: rescaling leaves the function unchanged and lowers F at every sweep", "[pathcond]") {
  for (int mode : {PathCond::kPathCond, PathCond::kENorm})
    for (int depth : {1, 3}) {
      auto p = pc_params(depth, 7, "moons", 40);
      p.set("rescale_sweeps", Value::number(200));
      p.set("rescale_tol", Value::number(1e-11));
      fs::test::ModelPoint<PathCond> pt(p, PathCond::info(), 0.0);  // initial (unrescaled) point
      const auto& c = pt.run.cfg;
      std::vector<double> theta(pt.run.theta.begin(), pt.run.theta.end());
      // biases away from zero, so that every parameter takes part
      fs::Stream rng(3, 3, 5);
      for (auto& t : theta) t += 0.05 * rng.normal();
      const std::vector<double> before = theta;
      const std::vector<double> g0 = PathCond::diag_g(c, theta.data());
      auto rs = PathCond::rescale(c, mode, theta.data());
      INFO((mode == PathCond::kPathCond ? "pathcond" : "enorm") << " depth " << depth);
      // outputs unchanged to rounding
      const std::vector<double> x(pt.run.rdata.begin(), pt.run.rdata.end());
      const auto y0 = logits(c, before, x), y1 = logits(c, theta, x);
      double err = 0, nrm = 0;
      for (size_t i = 0; i < y0.size(); ++i)
        err = std::max(err, std::fabs(y1[i] - y0[i])), nrm = std::max(nrm, std::fabs(y0[i]));
      CHECK(err <= 1e-12 * nrm);
      // the parameters did move
      double moved = 0;
      for (size_t i = 0; i < theta.size(); ++i) moved = std::max(moved, std::fabs(theta[i] - before[i]));
      CHECK(moved > 1e-3);
      // diag(G) of the rescaled network is g e^{Bz} (pathcond), the relation the algorithm rests on
      if (mode == PathCond::kPathCond) {
        const auto g1 = PathCond::diag_g(c, theta.data());
        const auto b = PathCond::bz(c, rs.z);
        for (size_t i = 0; i < g1.size(); ++i) CHECK(g1[i] == Approx(g0[i] * std::exp(b[i])).epsilon(1e-10));
        for (size_t s = 1; s < rs.F.size(); ++s) CHECK(rs.F[s] <= rs.F[s - 1] + 1e-9 * std::fabs(rs.F[s - 1]));
        CHECK(rs.grad_norm < 1e-6 * double(PathCond::n_params(c)));
      } else {
        // enorm reached its fixed point: one more closed-form sweep does not move z
        auto again = theta;
        auto p2 = p;
        p2.set("rescale_sweeps", Value::number(1));
        auto c2 = PathCond::configure(p2);
        auto rs2 = PathCond::rescale(c2, mode, again.data());
        double dz = 0;
        for (double z : rs2.z) dz += std::fabs(z);
        CHECK(dz < 1e-8);
      }
    }
}

TEST_CASE("pathcond: on the two-moons demo, path conditioning is ahead of the baseline at step 500",
          "[pathcond][paper]") {
  // The authors' demo: widths [2, 64, 64, 64, 64, 2], lr 1e-2, PyTorch's default layer init (their step
  // 500: 0.244 against 0.384). With Kaiming-normal weights and zero biases the lead is small; with the
  // demo's init it is large (docs/RESULTS.md has the whole flow).
  for (const char* init : {"kaiming", "torch_default"}) {
    auto res =
        fs::test::run_spec(std::string("model = \"pathcond\"\n[params]\ndepth = 4\nwidth = 64\ninit = \"") + init +
                           "\"\n[train]\nlr = 0.01\nsteps = 500\nrecord_every = 100\n"
                           "[grid]\nseed = { range = [0, 4] }\nrescale = [\"none\", \"pathcond\"]\n");
    int ahead = 0;
    std::vector<double> ratio;
    for (size_t i = 0; i < res.size(); i += 2) {
      const double none = res[i].final_loss, pc = res[i + 1].final_loss;
      INFO(init << ", seed " << i / 2 << ": none " << none << ", pathcond " << pc);
      CHECK(res[i].series.at(0, PathCond::kLoss) == Approx(res[i + 1].series.at(0, PathCond::kLoss)).epsilon(1e-12));
      ahead += pc < none;
      ratio.push_back(pc / none);
    }
    std::sort(ratio.begin(), ratio.end());
    INFO(init << ": pathcond / none at step 500, median of 4 " << (ratio[1] + ratio[2]) / 2);
    if (std::string(init) == "kaiming") {
      CHECK(ahead >= 3);
    } else {  // the demo's init: ahead in every seed, by a margin (0.52 measured; the demo's 0.64)
      CHECK(ahead == 4);
      CHECK((ratio[1] + ratio[2]) / 2 < 0.7);
    }
  }
}

TEST_CASE("pathcond: bad parameters are errors", "[pathcond]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(fs::parse_spec("model = \"pathcond\"\n[params]\ndepth = 0\n", "p.toml"),
                    Contains("p.toml:3") && Contains("params.depth"));
  auto spec = fs::parse_spec("model = \"pathcond\"\n[params]\ndata = \"mixture\"\nclasses = 1\n", "p.toml");
  CHECK_THROWS_WITH(fs::expand_grid(spec),
                    Contains("p.toml:4") && Contains("params.classes") && Contains("at least 2"));
}
