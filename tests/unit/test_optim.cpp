#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "kernels/optim.h"
#include "kernels/team.h"

namespace {

fs::OptConfig two_groups(fs::Optimizer kind) {
  fs::OptConfig c;
  c.kind = kind;
  c.n_groups = 2;
  c.group_end[0] = 2;
  c.group_end[1] = 5;
  c.lr[0] = 0.1;
  c.lr[1] = 0.03;
  return c;
}

}  // namespace

// With a constant gradient each optimiser has a closed form; each group moves at its own rate.
TEST_CASE("optimisers follow their closed forms under a constant gradient", "[optim]") {
  const std::vector<double> g = {1.0, -2.0, 0.5, 4.0, -0.25};
  const double lr[5] = {0.1, 0.1, 0.03, 0.03, 0.03};
  const int steps = 7;

  SECTION("gradient descent") {
    auto c = two_groups(fs::Optimizer::kGD);
    std::vector<double> th(5, 1.0);
    for (int k = 0; k < steps; ++k) fs::opt_step(fs::HostTeam{}, c, k, th.data(), g.data(), (double*)nullptr);
    for (int i = 0; i < 5; ++i) CHECK(th[size_t(i)] == Approx(1.0 - steps * lr[i] * g[size_t(i)]).epsilon(1e-14));
  }
  SECTION("heavy ball: velocity sums the geometric series") {
    auto c = two_groups(fs::Optimizer::kMomentum);
    c.momentum = 0.8;
    std::vector<double> th(5, 1.0), state(5, 0.0);
    for (int k = 0; k < steps; ++k) fs::opt_step(fs::HostTeam{}, c, k, th.data(), g.data(), state.data());
    double total = 0;  // sum over steps k of (1 - mu^(k+1)) / (1 - mu)
    for (int k = 0; k < steps; ++k) total += (1 - std::pow(0.8, k + 1)) / (1 - 0.8);
    for (int i = 0; i < 5; ++i) CHECK(th[size_t(i)] == Approx(1.0 - lr[i] * total * g[size_t(i)]).epsilon(1e-13));
  }
  SECTION("Adam: bias-corrected steps of size lr * g / (|g| + eps)") {
    auto c = two_groups(fs::Optimizer::kAdam);
    c.eps = 1e-3;
    std::vector<double> th(5, 1.0), state(10, 0.0);
    for (int k = 0; k < steps; ++k) fs::opt_step(fs::HostTeam{}, c, k, th.data(), g.data(), state.data());
    for (int i = 0; i < 5; ++i) {
      const double gi = g[size_t(i)];
      CHECK(th[size_t(i)] == Approx(1.0 - steps * lr[i] * gi / (std::fabs(gi) + 1e-3)).epsilon(1e-12));
    }
  }
}

// pick and put stand in for a[i] with an index known only at run time (kernels/common.h): every element
// is reached, and a write touches only its own.
TEST_CASE("pick and put reach exactly the element named", "[optim]") {
  const double lr[fs::kMaxGroups] = {0.5, -1.25, 3.0, 7.5};
  for (int i = 0; i < fs::kMaxGroups; ++i) CHECK(fs::pick(lr, i) == lr[i]);
  for (int i = 0; i < 8; ++i) {
    long fired[8] = {10, 11, 12, 13, 14, 15, 16, 17};
    fs::put(fired, i, -1L);
    for (int k = 0; k < 8; ++k) CHECK(fired[k] == (k == i ? -1 : 10 + k));
  }
}
