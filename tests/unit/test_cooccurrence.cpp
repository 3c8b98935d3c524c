#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "host/executor_cpu.h"
#include "kernels/cooccurrence.h"
#include "tests/unit/model_check.h"
#include "tests/unit/thread_team.h"

using fs::Cooccurrence;

namespace {

fs::Params params_for(int d, int L, int n, int m, int m1, const char* init = "kaiming", double scale = 1.0) {
  using fs::Value;
  return fs::test::with_defaults(Cooccurrence::info(), {{"d", Value::number(d)},
                                                        {"L", Value::number(L)},
                                                        {"n", Value::number(n)},
                                                        {"m", Value::number(m)},
                                                        {"m1", Value::number(m1)},
                                                        {"init", Value::text(init)},
                                                        {"init_scale", Value::number(scale)}});
}

struct Point {
  Cooccurrence::Config cfg;
  fs::Sizes sz;
  std::vector<int> idata;
  std::vector<double> theta, fixed, grad, scratch;
};

// Data and parameters of one run, the parameters then moved to a random point away from initialisation
// so that attention is far from uniform and every term of the gradient is exercised.
Point random_point(const fs::Params& p, uint32_t seed, double spread) {
  Point pt;
  pt.cfg = Cooccurrence::configure(p);
  pt.sz = Cooccurrence::sizes(pt.cfg);
  pt.idata.resize(size_t(pt.sz.n_idata));
  pt.theta.resize(size_t(pt.sz.n_theta));
  pt.fixed.resize(size_t(pt.sz.n_fixed));
  pt.grad.resize(size_t(pt.sz.n_theta));
  pt.scratch.resize(size_t(pt.sz.n_scratch));
  fs::Stream data(seed, 0, fs::kStreamData), init(seed, 0, fs::kStreamInit), jitter(seed, 0, 99);
  Cooccurrence::make_data<double>(pt.cfg, data, pt.idata.data(), nullptr);
  Cooccurrence::init<double>(pt.cfg, init, pt.idata.data(), nullptr, pt.theta.data(), pt.fixed.data());
  for (auto& x : pt.theta) x += spread * jitter.normal();
  return pt;
}

double loss_at(Point& pt, const std::vector<double>& theta) {
  std::vector<double> g(theta.size()), s(pt.scratch.size());
  return Cooccurrence::loss_grad(fs::HostTeam{}, pt.cfg, fs::StepContext{}, pt.idata.data(), (const double*)nullptr,
                                 theta.data(), pt.fixed.data(), g.data(), s.data());
}

}  // namespace

TEST_CASE("cooccurrence: the gradient of every parameter matches central differences (fp64)", "[cooccurrence]") {
  struct Case {
    int d, L, n, m, m1;
    uint32_t seed;
    double spread;
  };
  // The first three have fewer word pairs than position pairs (word tables), the last more.
  for (const Case& c : {Case{6, 3, 6, 4, 3, 1, 0.5}, Case{9, 5, 12, 5, 4, 2, 0.8}, Case{12, 4, 18, 3, 7, 3, 1.2},
                        Case{20, 3, 12, 5, 4, 5, 0.9}}) {
    Point pt = random_point(params_for(c.d, c.L, c.n, c.m, c.m1), c.seed, c.spread);
    Cooccurrence::loss_grad(fs::HostTeam{}, pt.cfg, fs::StepContext{}, pt.idata.data(), (const double*)nullptr,
                            pt.theta.data(), pt.fixed.data(), pt.grad.data(), pt.scratch.data());
    const double h = 1e-5;
    double err2 = 0, norm2 = 0, max_err = 0;
    for (size_t i = 0; i < pt.theta.size(); ++i) {
      auto tp = pt.theta, tm = pt.theta;
      tp[i] += h;
      tm[i] -= h;
      const double fd = (loss_at(pt, tp) - loss_at(pt, tm)) / (2 * h);
      err2 += (fd - pt.grad[i]) * (fd - pt.grad[i]);
      norm2 += pt.grad[i] * pt.grad[i];
      max_err = std::max(max_err, std::fabs(fd - pt.grad[i]));
    }
    INFO("d=" << c.d << " L=" << c.L << " n=" << c.n << " m=" << c.m << " m1=" << c.m1);
    REQUIRE(norm2 > 1e-8);  // a gradient that is all zeros would pass trivially
    // Central differences with h = 1e-5 are accurate to about h^2 * |f'''| + eps/h ~ 1e-10.
    CHECK(std::sqrt(err2 / norm2) < 1e-7);
    CHECK(max_err < 1e-7 * std::sqrt(norm2));
  }
}

TEST_CASE("cooccurrence: a team of any size computes the same numbers as one thread", "[cooccurrence][team]") {
  // d^2 below n L^2 (word tables), then above.
  const bool tables = GENERATE(true, false);
  Point pt = random_point(tables ? params_for(10, 5, 24, 7, 5) : params_for(20, 3, 12, 7, 5), 4, 0.7);
  REQUIRE(Cooccurrence::word_tables(pt.cfg) == tables);
  const double loss1 =
      Cooccurrence::loss_grad(fs::HostTeam{}, pt.cfg, fs::StepContext{}, pt.idata.data(), (const double*)nullptr,
                              pt.theta.data(), pt.fixed.data(), pt.grad.data(), pt.scratch.data());
  std::vector<double> obs1(Cooccurrence::kNumObs);
  Cooccurrence::observe(fs::HostTeam{}, pt.cfg, pt.idata.data(), (const double*)nullptr, pt.theta.data(),
                        pt.fixed.data(), pt.scratch.data(), obs1.data());
  const fs::Sizes sz = Cooccurrence::sizes(pt.cfg);
  std::vector<double> table1(size_t(sz.n_table_rows * sz.n_table_fields), -7.0);
  Cooccurrence::attention_table(fs::HostTeam{}, pt.cfg, pt.idata.data(), (const double*)nullptr, pt.theta.data(),
                                pt.fixed.data(), table1.data());
  for (double x : table1) REQUIRE(x != -7.0);  // every cell written
  // Without word tables, W_Q, W_K and W_V may be read from a copy of the hot parameters (a GPU's shared
  // memory where the parameters are in global memory): the same bits.
  REQUIRE(sz.n_hot == (tables ? 0 : 3L * pt.cfg.d * pt.cfg.m));
  for (int size : {1, 2, 3, 8, 13, 14, 32}) {  // m = 7: 14 and 32 split the words into groups
    std::vector<double> grad(pt.grad.size(), -7.0), scratch(pt.scratch.size(), -7.0), obs(obs1.size(), -7.0);
    std::vector<double> table(table1.size(), -7.0);
    std::vector<double> losses(size_t(size), -7.0);
    std::vector<double> hot(size_t(sz.n_hot), NAN);
    fs::StepContext ctx;
    if (!tables && size % 2 == 1) ctx.hot = hot.data();  // one thread, 3 and 13 with the copy; the rest without
    fs::test::run_team(size, [&](const fs::test::ThreadTeam& team) {
      losses[size_t(team.rank())] =
          Cooccurrence::loss_grad(team, pt.cfg, ctx, pt.idata.data(), (const double*)nullptr, pt.theta.data(),
                                  pt.fixed.data(), grad.data(), scratch.data());
      Cooccurrence::observe(team, pt.cfg, pt.idata.data(), (const double*)nullptr, pt.theta.data(), pt.fixed.data(),
                            scratch.data(), obs.data());
      Cooccurrence::attention_table(team, pt.cfg, pt.idata.data(), (const double*)nullptr, pt.theta.data(),
                                    pt.fixed.data(), table.data());
    });
    INFO((tables ? "word tables" : "no word tables")
         << ", team size " << size << (ctx.hot ? ", hot parameters copied" : ""));
    if (ctx.hot) REQUIRE(hot == std::vector<double>(pt.theta.begin() + long(pt.cfg.m1) * pt.cfg.m, pt.theta.end()));
    for (double l : losses) REQUIRE(l == loss1);  // every member sees the loss
    REQUIRE(grad == pt.grad);                     // members split the features: same order, same bits
    REQUIRE(obs == obs1);
    for (size_t k = 0; k < table.size(); ++k)  // bit for bit, NaN where one thread wrote NaN
      REQUIRE(std::memcmp(&table[k], &table1[k], sizeof(double)) == 0);
  }
}

TEST_CASE("cooccurrence: the hot parameters' copy is what a step reads, and only without word tables",
          "[cooccurrence]") {
  for (const bool tables : {false, true}) {
    Point pt = random_point(tables ? params_for(10, 5, 24, 7, 5) : params_for(20, 3, 12, 7, 5), 4, 0.7);
    REQUIRE(Cooccurrence::word_tables(pt.cfg) == tables);
    std::vector<double> hot(3 * 20 * 7, NAN);
    fs::StepContext ctx;
    ctx.hot = hot.data();
    const auto v = Cooccurrence::hot_view(fs::HostTeam{}, pt.cfg, ctx, pt.theta.data());
    const auto far = Cooccurrence::view(pt.cfg, pt.theta.data());
    CHECK(v.W == far.W);
    if (tables) {
      CHECK(v.Q == far.Q);
      CHECK(std::isnan(hot[0]));  // nothing copied
    } else {
      const long dm = 20 * 7;
      CHECK(v.Q == hot.data());
      CHECK(v.K == hot.data() + dm);
      CHECK(v.V == hot.data() + 2 * dm);
      for (long i = 0; i < 3 * dm; ++i) REQUIRE(hot[size_t(i)] == far.Q[i]);
    }
  }
}

TEST_CASE("cooccurrence: the training set has the paper's composition", "[cooccurrence][data]") {
  for (int d : {4, 8, 64})
    for (int L : {3, 5, 9}) {
      auto cfg = Cooccurrence::configure(params_for(d, L, 60, 4, 4));
      auto sz = Cooccurrence::sizes(cfg);
      std::vector<int> idata(size_t(sz.n_idata));
      fs::Stream rng(11, uint32_t(d * 100 + L), fs::kStreamData);
      Cooccurrence::make_data<double>(cfg, rng, idata.data(), nullptr);
      const int* tok = idata.data();
      const int* y = tok + 60 * L;
      const int* type = y + 60;
      int per_type[4] = {0, 0, 0, 0};
      for (int i = 0; i < 60; ++i) {
        int c1 = 0, c2 = 0, c3 = 0;
        for (int l = 0; l < L; ++l) {
          const int w = tok[i * L + l];
          REQUIRE(w >= 0);
          REQUIRE(w < d);
          c1 += w == 0, c2 += w == 1, c3 += w == 2;
        }
        per_type[type[i]]++;
        CHECK(c3 == 1);
        CHECK(c1 == (type[i] == 0 || type[i] == 1 ? 1 : 0));
        CHECK(c2 == (type[i] == 0 || type[i] == 2 ? 1 : 0));
        CHECK(y[i] == (type[i] == 0 ? 1 : -1));
      }
      CHECK(per_type[0] == 30);
      CHECK(per_type[1] == 10);
      CHECK(per_type[2] == 10);
      CHECK(per_type[3] == 10);
    }
}

TEST_CASE("cooccurrence: each word pair's list holds its terms of dloss/dscore, in the backward's order",
          "[cooccurrence][data]") {
  // Against an enumeration of every (query position, key) pair in sample order: each term once, under the
  // words at its two positions, ordered by query word position list then key.
  for (int L : {3, 5}) {
    const int d = 9, n = 24;
    auto cfg = Cooccurrence::configure(params_for(d, L, n, 4, 4));
    REQUIRE(Cooccurrence::word_tables(cfg));
    auto sz = Cooccurrence::sizes(cfg);
    std::vector<int> idata(size_t(sz.n_idata), -7);
    fs::Stream rng(3, uint32_t(L), fs::kStreamData);
    Cooccurrence::make_data<double>(cfg, rng, idata.data(), nullptr);
    const int* tok = idata.data();
    const int* start = tok + n * L + 2 * n;
    const int* pos = start + d + 1;
    const int* pair_start = pos + n * L;
    const int* pair_term = pair_start + d * d + 1;
    const int* longest = pair_term + n * L * L;
    REQUIRE(longest + d * d + d == idata.data() + idata.size());
    REQUIRE(pair_start[0] == 0);
    REQUIRE(pair_start[d * d] == n * L * L);
    std::vector<int> seen(size_t(n * L * L), 0);
    for (int a = 0; a < d; ++a)
      for (int b = 0; b < d; ++b) {
        std::vector<int> expect;  // query positions of word a in increasing order, then keys in order
        for (int il = 0; il < n * L; ++il)
          if (tok[il] == a)
            for (int k = 0; k < L; ++k)
              if (tok[il - il % L + k] == b) expect.push_back(il * L + k);
        const int e = a * d + b;
        INFO("L=" << L << " pair (" << a << ", " << b << ")");
        REQUIRE(pair_start[e + 1] - pair_start[e] == int(expect.size()));
        REQUIRE(std::equal(expect.begin(), expect.end(), pair_term + pair_start[e]));
        for (int t : expect) seen[size_t(t)]++;
      }
    for (int c : seen) REQUIRE(c == 1);
    // The order members deal entries out in: every entry of D and cV once, by decreasing count of terms.
    const auto terms = [&](int e) {
      return e < d * d ? pair_start[e + 1] - pair_start[e] : start[e - d * d + 1] - start[e - d * d];
    };
    std::vector<int> order(longest, longest + d * d + d);
    for (size_t j = 1; j < order.size(); ++j) REQUIRE(terms(order[j - 1]) >= terms(order[j]));
    std::sort(order.begin(), order.end());
    for (int e = 0; e < d * d + d; ++e) REQUIRE(order[size_t(e)] == e);
    CHECK(terms(longest[0]) > terms(longest[d * d + d - 1]));  // not all equal: the order is tested
  }
}

TEST_CASE("cooccurrence: word positions and random words are uniform", "[cooccurrence][data]") {
  // Over many draws the common word sits at each of L positions with frequency 1/L and random words
  // cover 4..d evenly (5-sigma bands).
  const int d = 10, L = 5, n = 600;
  auto cfg = Cooccurrence::configure(params_for(d, L, n, 4, 4));
  auto sz = Cooccurrence::sizes(cfg);
  std::vector<int> idata(size_t(sz.n_idata));
  fs::Stream rng(5, 5, fs::kStreamData);
  Cooccurrence::make_data<double>(cfg, rng, idata.data(), nullptr);
  std::vector<long> pos3(L, 0), word(d, 0);
  long n_random = 0;
  for (int i = 0; i < n; ++i)
    for (int l = 0; l < L; ++l) {
      const int w = idata[size_t(i * L + l)];
      if (w == 2) pos3[size_t(l)]++;
      if (w >= 3) word[size_t(w)]++, n_random++;
    }
  for (long c : pos3) CHECK(std::fabs(c - n / double(L)) < 5 * std::sqrt(n * (1.0 / L) * (1 - 1.0 / L)));
  const double pw = 1.0 / (d - 3);
  for (int w = 3; w < d; ++w)
    CHECK(std::fabs(word[size_t(w)] - n_random * pw) < 5 * std::sqrt(n_random * pw * (1 - pw)));
}

TEST_CASE("cooccurrence: initial scales follow the init rule", "[cooccurrence][init]") {
  for (const char* init : {"kaiming", "theory"}) {
    const int d = 40, L = 5, m = 64, m1 = 80;
    const double scale = 0.5;
    auto cfg = Cooccurrence::configure(params_for(d, L, 6, m, m1, init, scale));
    auto sz = Cooccurrence::sizes(cfg);
    std::vector<double> theta(size_t(sz.n_theta)), fixed(size_t(sz.n_fixed));
    fs::Stream rng(1, 1, fs::kStreamInit);
    Cooccurrence::init<double>(cfg, rng, nullptr, nullptr, theta.data(), fixed.data());
    const bool kaiming = std::string(init) == "kaiming";
    const double s_mlp = scale * (kaiming ? std::sqrt(2.0 / m) : 1 / std::sqrt(double(m1)));
    const double s_att = scale * (kaiming ? std::sqrt(2.0 / d) : 1 / std::sqrt(double(L * m)));
    auto rms = [&](long a, long b) {
      double s = 0;
      for (long i = a; i < b; ++i) s += theta[size_t(i)] * theta[size_t(i)];
      return std::sqrt(s / double(b - a));
    };
    const long nw = long(m1) * m, dm = long(d) * m;
    INFO(init);
    CHECK(rms(0, nw) == Approx(s_mlp).epsilon(0.03));
    CHECK(rms(nw, nw + 3 * dm) == Approx(s_att).epsilon(0.03));
    for (int j = 0; j < m1; ++j) REQUIRE(std::fabs(fixed[size_t(j)]) == 1.0);
  }
}

TEST_CASE("cooccurrence: detectors on hand-made series", "[cooccurrence][detect]") {
  using fs::Cooccurrence;
  // One detection sample per row: the model's observables, then share_mlp, share_scores, share_values.
  const int n_obs = Cooccurrence::kNumObs + 3;
  // margin crosses zero at sample 3; share_scores passes 0.5 at sample 6 (and already at sample 1, before
  // phase 1 ends, which does not count); loss < 0.05 at sample 8. S drifts linearly all along.
  const double margin[] = {-1, -0.5, -0.1, 0.2, 0.5, 1, 2, 3, 4, 5};
  const double share[] = {0.1, 0.6, 0.2, 0.2, 0.3, 0.4, 0.55, 0.7, 0.8, 0.9};
  const double loss[] = {0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.06, 0.04, 0.01};
  auto feed = [&](const Cooccurrence::Config& c, bool drift_only) {
    Cooccurrence::DetectState ds{};
    std::vector<long> fired(fs::kMaxDetectors, -1);
    for (int r = 0; r < 10; ++r) {
      std::vector<double> row(size_t(n_obs), 0.0);
      row[Cooccurrence::kMargin] = margin[r];
      row[Cooccurrence::kLoss] = loss[r];
      row[Cooccurrence::kS21] = 0.01 * r;  // the drift the old max|S| ratio fired on
      row[Cooccurrence::kS31] = -0.01 * r;
      row[Cooccurrence::kShareScores] = drift_only ? 0.01 : share[r];
      Cooccurrence::detect<double>(c, nullptr, row.data(), 10L * r, ds, fired.data());
    }
    return fired;
  };
  Cooccurrence::Config c{};
  c.phase2_share = 0.5;
  c.loss_threshold = 0.05;
  auto det = feed(c, false);
  CHECK(det[0] == 30);
  CHECK(det[1] == 60);
  CHECK(det[2] == 80);
  // S drifting linearly while the scores carry 1% of the learning: no phase 2.
  det = feed(c, true);
  CHECK(det[0] == 30);
  CHECK(det[1] == -1);
  c.phase2_share = 0.95;
  c.loss_threshold = 0.001;
  det = feed(c, false);
  CHECK(det[0] == 30);
  CHECK(det[1] == -1);
  CHECK(det[2] == -1);
}
