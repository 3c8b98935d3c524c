// The team reductions of kernels/team.h: one order, the lane tree, on every team; each item evaluated
// once, by a member that may index a workspace by its rank.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "kernels/team.h"
#include "tests/unit/thread_team.h"

namespace {

// Values over twelve orders of magnitude, so that a sum's bits depend on its order.
std::vector<double> spread_values(long n, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0), e(-6.0, 6.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(gen) * std::pow(10.0, e(gen));
  return v;
}

// The documented order, written out: 32 lanes from the identity, lane l folding items l, l + 32, ... in
// turn, then lane l with lane l + h for h = 16, 8, 4, 2, 1, every fold done (no shortcut for lanes that
// hold only the identity).
template <typename T, typename Item, typename Op>
T lane_tree(long n, const Item& item, const Op& op, T identity) {
  T lane[32];
  for (int l = 0; l < 32; ++l) {
    lane[l] = identity;
    for (long k = l; k < n; k += 32) lane[l] = op(lane[l], item(k));
  }
  for (int h = 16; h >= 1; h /= 2)
    for (int l = 0; l < h; ++l) lane[l] = op(lane[l], lane[l + h]);
  return lane[0];
}
double lane_tree_sum(const std::vector<double>& v) {
  return lane_tree(
      long(v.size()), [&](long k) { return v[size_t(k)]; }, fs::SumOp<double>(), 0.0);
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("team: a sum follows the lane tree on the host", "[team]") {
  bool order_matters = false;
  for (long n : {0L, 1L, 5L, 31L, 32L, 33L, 100L, 1000L, 4099L}) {
    const auto v = spread_values(n, unsigned(n) + 7);
    const double got = fs::team_sum(fs::HostTeam{}, n, [&](long k) { return v[size_t(k)]; });
    INFO("count " << n);
    REQUIRE(same_bits(got, lane_tree_sum(v)));
    double seq = 0;
    for (double x : v) seq += x;
    order_matters |= !same_bits(got, seq);
  }
  // A check that cannot tell the lane tree from a plain loop would pass a wrong order.
  REQUIRE(order_matters);
}

TEST_CASE("team: one thread with its lanes in registers gives the lane tree's bits", "[team]") {
  using Pair = std::pair<double, long>;  // a first-largest search, as value_softmax's winner
  auto first_largest = [](const Pair& a, const Pair& b) {
    return b.first > a.first || (b.first == a.first && b.second < a.second) ? b : a;
  };
  // thread_reduce_lanes alone (a GPU thread's), and the host team, which takes it below 32 items
  auto check = [&](const char* what, auto&& reduce) {
    for (long n = 0; n <= 140; ++n) {
      INFO(what << ", count " << n);
      const auto v = spread_values(n, 500 + unsigned(n));
      auto item = [&](long k) { return v[size_t(k)]; };
      REQUIRE(same_bits(reduce(n, item, fs::SumOp<double>(), 0.0), lane_tree_sum(v)));
      const double lowest = -double(INFINITY);
      REQUIRE(same_bits(reduce(n, item, fs::MaxOp<double>(), lowest), lane_tree(n, item, fs::MaxOp<double>(), lowest)));
      // Negative zeros: +0 + -0 is +0, so where the identity is folded in shows in the sign.
      auto zero = [&](long k) { return k % 3 == 0 ? -0.0 : -v[size_t(k)] * 0.0; };
      REQUIRE(same_bits(reduce(n, zero, fs::SumOp<double>(), 0.0), lane_tree(n, zero, fs::SumOp<double>(), 0.0)));
      auto pair = [&](long k) { return Pair{std::round(v[size_t(k)] * 0.0 + double(k % 7)), k}; };
      const Pair got = reduce(n, pair, first_largest, Pair{-INFINITY, n});
      const Pair want = lane_tree(n, pair, first_largest, Pair{-INFINITY, n});
      REQUIRE(same_bits(got.first, want.first));
      REQUIRE(got.second == want.second);
      if (n > 0) {
        std::vector<double> w = v;
        w[size_t(n / 2)] = NAN;
        REQUIRE(std::isnan(reduce(
            n, [&](long k) { return w[size_t(k)]; }, fs::MaxOp<double>(), lowest)));
      }
    }
  };
  check("thread_reduce_lanes",
        [](long n, const auto& item, const auto& op, auto id) { return fs::thread_reduce_lanes(n, item, op, id); });
  check("host team", [](long n, const auto& item, const auto& op, auto id) {
    return fs::team_reduce(fs::HostTeam{}, n, item, op, id);
  });
}

TEST_CASE("team: one thread with its lanes in registers evaluates each item once", "[team]") {
  for (long n : {0L, 1L, 4L, 31L, 32L, 33L, 517L}) {
    std::vector<int> calls(static_cast<size_t>(n));
    fs::thread_reduce_lanes(
        n,
        [&](long k) {
          ++calls[size_t(k)];
          return 1.0;
        },
        fs::SumOp<double>(), 0.0);
    INFO("count " << n);
    for (long k = 0; k < n; ++k) REQUIRE(calls[size_t(k)] == 1);
  }
}

TEST_CASE("team: every team size reduces to the same bits", "[team]") {
  for (long n : {0L, 1L, 31L, 33L, 1000L}) {
    const auto v = spread_values(n, 100 + unsigned(n));
    auto item = [&](long k) { return v[size_t(k)]; };
    const double sum1 = fs::team_sum(fs::HostTeam{}, n, item);
    const double max1 = fs::team_max(fs::HostTeam{}, n, item);
    const double min1 = fs::team_min(fs::HostTeam{}, n, item);
    using Three = fs::Sums<double, 3>;
    auto three = [&](long k) {
      Three t;
      t[0] = v[size_t(k)], t[1] = v[size_t(k)] * v[size_t(k)], t[2] = 1.0;
      return t;
    };
    const Three t1 = fs::team_sum(fs::HostTeam{}, n, three);
    REQUIRE(t1[2] == double(n));
    if (n > 0) {
      REQUIRE(max1 == *std::max_element(v.begin(), v.end()));
      REQUIRE(min1 == *std::min_element(v.begin(), v.end()));
    }
    for (int size : {1, 2, 3, 8, 13, 32, 64}) {
      const size_t members = static_cast<size_t>(size);
      std::vector<double> sums(members), maxs(members), mins(members);
      std::vector<Three> threes(members);
      fs::test::run_team(size, [&](const fs::test::ThreadTeam& team) {
        const size_t r = size_t(team.rank());
        sums[r] = fs::team_sum(team, n, item);
        maxs[r] = fs::team_max(team, n, item);
        mins[r] = fs::team_min(team, n, item);
        threes[r] = fs::team_sum(team, n, three);
      });
      INFO("count " << n << ", team size " << size);
      for (int r = 0; r < size; ++r) {  // every member holds the result
        REQUIRE(same_bits(sums[size_t(r)], sum1));
        REQUIRE(same_bits(maxs[size_t(r)], max1));
        REQUIRE(same_bits(mins[size_t(r)], min1));
        for (int i = 0; i < 3; ++i) REQUIRE(same_bits(threes[size_t(r)][i], t1[i]));
      }
    }
  }
}

TEST_CASE("team: each item is evaluated once, by a member below kTeamLanes", "[team]") {
  const long n = 517;
  for (int size : {1, 5, 32, 64}) {
    std::vector<std::atomic<int>> calls(static_cast<size_t>(n));
    std::atomic<int> high_rank{0};
    fs::test::run_team(size, [&](const fs::test::ThreadTeam& team) {
      fs::team_sum(team, n, [&](long k) {
        calls[size_t(k)]++;
        if (team.rank() >= fs::kTeamLanes) high_rank++;
        return 1.0;
      });
    });
    INFO("team size " << size);
    for (long k = 0; k < n; ++k) REQUIRE(calls[size_t(k)] == 1);
    REQUIRE(high_rank == 0);
  }
}

TEST_CASE("team: NaN items make the maximum and minimum NaN", "[team]") {
  for (size_t at = 0; at < 4; ++at) {
    std::vector<double> w = {1.0, 2.0, 3.0, 4.0};
    w[at] = NAN;
    auto item = [&](long k) { return w[size_t(k)]; };
    CHECK(std::isnan(fs::team_max(fs::HostTeam{}, 4, item)));
    CHECK(std::isnan(fs::team_min(fs::HostTeam{}, 4, item)));
  }
}

TEST_CASE("team: softmax by the team matches the formula and every team size", "[team]") {
  const int n = 45;
  const auto z = spread_values(n, 3);
  std::vector<double> z_small(z.size());
  for (size_t i = 0; i < z.size(); ++i) z_small[i] = std::tanh(z[i]) * 20.0;  // logits up to 20
  std::vector<double> s1(static_cast<size_t>(n));
  fs::team_softmax(fs::HostTeam{}, z_small.data(), n, s1.data());
  double mx = -INFINITY, tot = 0, sum = 0;
  for (double x : z_small) mx = std::max(mx, x);
  for (double x : z_small) tot += std::exp(x - mx);
  for (int i = 0; i < n; ++i) {
    CHECK(std::fabs(s1[size_t(i)] - std::exp(z_small[size_t(i)] - mx) / tot) <= 1e-15);
    sum += s1[size_t(i)];
  }
  CHECK(std::fabs(sum - 1.0) < 1e-14);
  for (int size : {3, 32}) {
    std::vector<double> s = z_small;  // in place, as attention tables use it
    fs::test::run_team(size, [&](const fs::test::ThreadTeam& team) { fs::team_softmax(team, s.data(), n, s.data()); });
    INFO("team size " << size);
    for (int i = 0; i < n; ++i) REQUIRE(same_bits(s[size_t(i)], s1[size_t(i)]));
  }
}
