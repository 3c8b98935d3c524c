#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/common.h"

namespace {

template <typename Real>
bool same_bits(Real a, Real b) {
  return std::memcmp(&a, &b, sizeof(Real)) == 0;
}

// Arguments a logistic loss meets: both signs, zeros, the ranges where exp(-|x|) is near 1, near 0 and
// below the smallest normal, the infinities and NaN.
template <typename Real>
std::vector<Real> logistic_points() {
  std::vector<Real> xs = {Real(0),
                          -Real(0),
                          Real(1e-30),
                          Real(-1e-30),
                          Real(0.3),
                          Real(-0.3),
                          Real(1),
                          Real(-1),
                          Real(17.25),
                          Real(-17.25),
                          Real(80),
                          Real(-80),
                          Real(750),
                          Real(-750),
                          std::numeric_limits<Real>::infinity(),
                          -std::numeric_limits<Real>::infinity(),
                          std::numeric_limits<Real>::quiet_NaN()};
  for (int k = -400; k <= 400; ++k) xs.push_back(Real(k) * Real(0.0371));
  return xs;
}

}  // namespace

TEMPLATE_TEST_CASE("softplus_sigmoid gives softplus' and sigmoid's bits from one exponential", "[common]", float,
                   double) {
  for (TestType x : logistic_points<TestType>()) {
    const auto lg = fs::softplus_sigmoid(x);
    INFO("x = " << x);
    if (std::isnan(x)) {  // NaN in, NaN out, its sign bit not kept
      CHECK(std::isnan(lg.softplus));
      CHECK(std::isnan(lg.sigmoid));
      continue;
    }
    CHECK(same_bits(lg.softplus, fs::softplus(x)));
    CHECK(same_bits(lg.sigmoid, fs::sigmoid(x)));
  }
  // And they are the functions: log(1 + e^x) and 1 / (1 + e^-x) in long double where those do not
  // overflow, to a few ulps.
  for (TestType x : {TestType(-20), TestType(-2.5), TestType(0.1), TestType(3), TestType(20)}) {
    const auto lg = fs::softplus_sigmoid(x);
    const long double xl = x;
    const long double eps = std::numeric_limits<TestType>::epsilon();
    CHECK(std::fabs(double(lg.softplus - std::log1p(std::exp(xl)))) <= 4 * eps * std::log1p(std::exp(xl)));
    CHECK(std::fabs(double(lg.sigmoid - 1 / (1 + std::exp(-xl)))) <= 4 * eps / (1 + std::exp(-xl)));
  }
}
