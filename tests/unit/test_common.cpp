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

namespace {

// Values over several orders of magnitude and both signs, some exactly zero, so that a sum's order shows in
// its last bits.
template <typename Real>
std::vector<Real> spread_values(size_t n, unsigned seed) {
  std::vector<Real> v(n);
  unsigned x = seed * 2654435761u + 12345u;
  for (auto& e : v) {
    x = x * 1664525u + 1013904223u;
    const double u = double(x >> 8) / double(1u << 24);
    e = (x & 7u) == 0 ? Real(0) : Real((u - 0.5) * std::pow(10.0, double((x >> 4) % 7) - 3.0));
  }
  return v;
}

}  // namespace

TEMPLATE_TEST_CASE("add_rows_nonzero adds the rows of nonzero weight in turn and leaves the others out", "[common]",
                   float, double) {
  using Real = TestType;
  for (int n : {1, 7, 8, 17, 64}) {
    INFO("n " << n);
    auto rows = spread_values<Real>(size_t(4 * n), unsigned(n + 3));
    rows[size_t(n)] = std::numeric_limits<Real>::infinity();       // rows of zero weight that an added row would
    rows[size_t(3 * n)] = std::numeric_limits<Real>::quiet_NaN();  // turn to NaN
    const Real* r[4] = {rows.data(), rows.data() + n, rows.data() + 2 * n, rows.data() + 3 * n};
    const auto start = spread_values<Real>(size_t(n), unsigned(n + 11));
    const Real weights[][4] = {{Real(0.75), Real(0), Real(-1.5), Real(0)},
                               {Real(0), Real(0), Real(0), Real(0)},
                               {Real(2), Real(-0.0), Real(1), Real(0)}};
    for (const auto& w : weights) {
      std::vector<Real> four = start, one = start, ref = start;
      fs::add_rows_nonzero<4>(four.data(), n, r, w);
      for (int q = 0; q < 4; ++q) {
        fs::add_rows_nonzero<1>(one.data(), n, r + q, w + q);
        if (w[q] != Real(0)) fs::add_row_strided(ref.data(), 1, n, r[q], 1, w[q]);  // the rows in turn
      }
      for (int f = 0; f < n; ++f) {
        REQUIRE(std::isfinite(ref[size_t(f)]));
        REQUIRE(same_bits(four[size_t(f)], ref[size_t(f)]));
        REQUIRE(same_bits(one[size_t(f)], ref[size_t(f)]));
      }
    }
  }
}

TEMPLATE_TEST_CASE("the host's grouped products give the bits of the row and dot forms they replace", "[common]", float,
                   double) {
  using Real = TestType;
  for (int n : {1, 5, 8, 15, 16, 20, 33, 64})
    for (long stride : {1L, 3L}) {
      INFO("n " << n << ", stride " << stride);
      // dot4x4_strided against dot4_strided, point by point
      const auto w = spread_values<Real>(size_t(4 * n + 3), unsigned(n));
      const auto xs = spread_values<Real>(size_t(4 * n * stride), unsigned(n + 100));
      const Real* x[4] = {xs.data(), xs.data() + n * stride, xs.data() + 2 * n * stride, xs.data() + 3 * n * stride};
      Real grouped[16], one[4];
      fs::dot4x4_strided(w.data(), n + 1, x, stride, n, grouped);
      for (int q = 0; q < 4; ++q) {
        const Real* w0 = w.data();
        fs::dot4_strided(w0, w0 + n + 1, w0 + 2 * (n + 1), w0 + 3 * (n + 1), x[q], stride, n, one);
        for (int r = 0; r < 4; ++r) REQUIRE(same_bits(grouped[4 * q + r], one[r]));
      }
      for (int nk : {1, 3, 4, 7, 64, 65}) {
        INFO("rows " << nk);
        // rows_combined4 against add_rows4_strided and add_row_strided from zero, a vector at a time
        const auto r = spread_values<Real>(size_t(nk * n), unsigned(nk + n));
        const auto cs = spread_values<Real>(size_t(4 * nk * stride), unsigned(nk + 7));
        const Real* c[4] = {cs.data(), cs.data() + nk * stride, cs.data() + 2 * nk * stride,
                            cs.data() + 3 * nk * stride};
        std::vector<Real> out(size_t(4 * n * stride), Real(-7));
        Real* o[4] = {out.data(), out.data() + n * stride, out.data() + 2 * n * stride, out.data() + 3 * n * stride};
        fs::rows_combined4(r.data(), n, nk, c, stride, n, o, stride);
        for (int q = 0; q < 4; ++q) {
          std::vector<Real> ref(size_t(n * stride), Real(0));
          int k = 0;
          for (; k + 4 <= nk; k += 4)
            fs::add_rows4_strided(ref.data(), stride, n, r.data() + k * n, r.data() + (k + 1) * n,
                                  r.data() + (k + 2) * n, r.data() + (k + 3) * n, 1, c[q][k * stride],
                                  c[q][(k + 1) * stride], c[q][(k + 2) * stride], c[q][(k + 3) * stride]);
          for (; k < nk; ++k) fs::add_row_strided(ref.data(), stride, n, r.data() + k * n, 1, c[q][k * stride]);
          for (int f = 0; f < n; ++f) REQUIRE(same_bits(o[q][f * stride], ref[size_t(f * stride)]));
        }
      }
    }
}
