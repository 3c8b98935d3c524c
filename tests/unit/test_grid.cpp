#include <catch2/catch.hpp>
#include <cmath>
#include <set>

#include "host/grid.h"

namespace {

fs::Spec spec_with(const std::string& grid) {
  return fs::parse_spec("model = \"cooccurrence\"\n[params]\nd = 8\n[grid]\n" + grid, "g.toml");
}

std::vector<double> numbers(const fs::Axis& a) {
  std::vector<double> v;
  for (const auto& x : a.values) v.push_back(x.num);
  return v;
}

// The values of one axis over lr, written as `axis`.
std::vector<double> lr_values(const std::string& axis) { return numbers(spec_with("lr = " + axis + "\n").axes[0]); }

}  // namespace

TEST_CASE("axis forms expand to the values they name", "[grid]") {
  auto s = spec_with(
      "seed = { range = [2, 11, 3] }\nlr = { linspace = [0.1, 0.3, 3] }\nm = { geomspace = [2, 32, 5] }\n"
      "init = [\"theory\", \"kaiming\"]\n");
  REQUIRE(s.axes.size() == 4);
  CHECK(numbers(s.axes[0]) == std::vector<double>{2, 5, 8});
  CHECK(s.axes[1].values[0].num == 0.1);
  CHECK(s.axes[1].values[1].num == Approx(0.2).epsilon(1e-15));
  CHECK(s.axes[1].values[2].num == 0.3);
  CHECK(numbers(s.axes[2]) == std::vector<double>{2, 4, 8, 16, 32});
  CHECK(s.axes[3].values[0].str == "theory");
  CHECK(fs::Grid(s).size() == 3 * 3 * 5 * 2);
}

TEST_CASE("geomspace gives a decade grid's decimal values and both ends exactly", "[grid]") {
  // Each value as the spacing means it, compared exactly: natural logarithms gave 0.010000000000000004 and
  // 0.10000000000000002 for the first, decades alone 0.030000000000000013 and 7.999999999999999.
  CHECK(lr_values("{ geomspace = [0.01, 1, 3] }") == std::vector<double>{0.01, 0.1, 1});
  CHECK(lr_values("{ geomspace = [1e-5, 1e-1, 5] }") == std::vector<double>{1e-5, 1e-4, 1e-3, 1e-2, 1e-1});
  CHECK(lr_values("{ geomspace = [0.003, 0.3, 3] }") == std::vector<double>{0.003, 0.03, 0.3});
  CHECK(lr_values("{ geomspace = [2, 32, 5] }") == std::vector<double>{2, 4, 8, 16, 32});
  CHECK(lr_values("{ geomspace = [0.7, 0.7, 1] }") == std::vector<double>{0.7});
  // Values that are no short decimal keep every digit: sqrt(10) to the last bit.
  const auto r = lr_values("{ geomspace = [1, 10, 3] }");
  CHECK(r[1] == Approx(std::sqrt(10.0)).epsilon(4e-16));
  CHECK(r[1] != 3.16227766016838);  // not cut to the 12 digits a short decimal may have
  const auto r6 = lr_values("{ geomspace = [1e-6, 1e-2, 9] }");
  CHECK(r6[1] == Approx(std::sqrt(10.0) * 1e-6).epsilon(1e-15));
  CHECK(r6[2] == 1e-5);
}

TEST_CASE("linspace lands on the decimals its spacing means", "[grid]") {
  // a + (b - a) i / (n - 1) alone gives 0.30000000000000004 and 0.7000000000000001 for the first.
  CHECK(lr_values("{ linspace = [0.1, 0.9, 9] }") == std::vector<double>{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9});
  CHECK(lr_values("{ linspace = [1.1, 2.2, 12] }") ==
        std::vector<double>{1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.2});
}

TEST_CASE("the grid is the cartesian product, first axis slowest, with stable unique ids", "[grid]") {
  auto s = spec_with("seed = [0, 1, 2]\nm = [4, 8]\n");
  auto runs = fs::expand_grid(s);
  REQUIRE(runs.size() == 6);
  std::set<std::string> ids;
  for (size_t i = 0; i < runs.size(); ++i) {
    CHECK(runs[i].index == long(i));
    CHECK(runs[i].params.integer("seed") == long(i / 2));
    CHECK(runs[i].params.integer("m") == (i % 2 ? 8 : 4));
    CHECK(runs[i].params.integer("d") == 8);
    ids.insert(runs[i].id);
  }
  CHECK(ids.size() == 6);
  // The same run in another grid keeps its id; another sweep seed changes it.
  auto s2 = spec_with("m = [8, 16]\nseed = [1]\n");
  auto runs2 = fs::expand_grid(s2);
  CHECK(runs2[0].id == runs[3].id);
  auto s3 = fs::parse_spec(
      "model = \"cooccurrence\"\nseed = 9\n[params]\nd = 8\n[grid]\nseed = [0, 1, 2]\nm = [4, 8]\n", "g.toml");
  CHECK(fs::expand_grid(s3)[0].id != runs[0].id);
}

TEST_CASE("a spec with no grid is one run", "[grid]") {
  auto s = fs::parse_spec("model = \"cooccurrence\"\n", "g.toml");
  CHECK(fs::expand_grid(s).size() == 1);
}

TEST_CASE("grid: a run's id from the grid's pieces is the id of its resolved parameters", "[grid]") {
  auto s = fs::parse_spec(
      "model = \"cooccurrence\"\n[params]\nd = 9\n[train]\nlr = 0.02\n[grid]\n"
      "seed = [0, 1, 2]\nm = [4, 8]\nlr_ratio = { geomspace = [1, 10, 3] }\ninit = [\"theory\", \"kaiming\"]\n",
      "t.toml");
  const fs::Grid g(s);
  for (long i = 0; i < g.size(); ++i) {
    const auto p = g.point(i);
    REQUIRE(p.id == fs::run_id(s.model, s.sweep_seed, p.params));
    REQUIRE(g.id(i) == p.id);
    REQUIRE(g.label(i).id == p.id);
  }
}

TEST_CASE("grid: a cell's first run is that cell's run at the first seed", "[grid]") {
  auto s =
      fs::parse_spec("model = \"cooccurrence\"\n[grid]\nm = [4, 8, 16]\nseed = [3, 4]\nlr_ratio = [1, 2]\n", "t.toml");
  const fs::Grid g(s);
  REQUIRE(g.n_cells() == 6);
  for (long c = 0; c < g.n_cells(); ++c) {
    const long i = g.first_of_cell(c);
    CHECK(g.cell(i) == c);
    CHECK(g.point(i).params.integer("seed") == 3);
  }
}
