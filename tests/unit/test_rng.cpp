#include <catch2/catch.hpp>
#include <cmath>
#include <set>

#include "kernels/rng.h"

using fs::Stream;

TEST_CASE("a stream is a pure function of its key and counter", "[rng]") {
  Stream a(7, 3, fs::kStreamData), b(7, 3, fs::kStreamData);
  for (int i = 0; i < 100; ++i) REQUIRE(a.uniform() == b.uniform());
  Stream c(7, 3, fs::kStreamData, 50);  // jumping ahead lands where 50 draws land
  Stream d(7, 3, fs::kStreamData);
  for (int i = 0; i < 50; ++i) d.next4();
  REQUIRE(c.next4() == d.next4());
}

TEST_CASE("streams of different seeds or purposes differ", "[rng]") {
  std::set<double> firsts;
  for (uint32_t sweep = 0; sweep < 3; ++sweep)
    for (uint32_t run = 0; run < 3; ++run)
      for (uint32_t s : {1u, 2u, 3u}) firsts.insert(Stream(sweep, run, s).uniform());
  REQUIRE(firsts.size() == 27);
}

TEST_CASE("uniform, normal and below have the right moments", "[rng]") {
  Stream s(1, 2, 3);
  const int n = 200000;
  double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
  long counts[7] = {0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < n; ++i) {
    const double u = s.uniform();
    REQUIRE(u > 0.0);
    REQUIRE(u <= 1.0);
    su += u, su2 += u * u;
    const double z = s.normal();
    sn += z, sn2 += z * z, sn4 += z * z * z * z;
    counts[s.below(7)]++;
  }
  // 5-sigma bands of the sample moments.
  CHECK(std::fabs(su / n - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
  CHECK(std::fabs(su2 / n - 1.0 / 3) < 5 * std::sqrt(4.0 / 45 / n));
  CHECK(std::fabs(sn / n) < 5 / std::sqrt(double(n)));
  CHECK(std::fabs(sn2 / n - 1) < 5 * std::sqrt(2.0 / n));
  CHECK(std::fabs(sn4 / n - 3) < 5 * std::sqrt(96.0 / n));
  for (long c : counts) CHECK(std::fabs(double(c) - n / 7.0) < 5 * std::sqrt(n * (1 / 7.0) * (6 / 7.0)));
}
