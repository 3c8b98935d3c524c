#include <catch2/catch.hpp>
#include <string>

#include "host/grid.h"
#include "host/spec.h"
#include "host/util.h"

using Catch::Matchers::Contains;

namespace {

const char* kGood = R"(name = "t"
model = "cooccurrence"
seed = 3

[params]
d = 16
m1 = 8

[train]
lr = 0.05
steps = 100

[grid]
seed = { range = [0, 3] }
m = [4, 8]
lr_ratio = { geomspace = [0.1, 10, 3] }
)";

std::string error_of(const std::string& text, std::vector<std::string> sets = {}) {
  try {
    auto spec = fs::parse_spec(text, "bad.toml", sets);
    fs::expand_grid(spec);
  } catch (const fs::InputError& e) {
    return e.what();
  }
  return "";
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto pos = s.find(from);
  REQUIRE(pos != std::string::npos);
  return s.replace(pos, from.size(), to);
}

}  // namespace

TEST_CASE("a good spec resolves every key", "[spec]") {
  auto spec = fs::parse_spec(kGood, "good.toml");
  CHECK(spec.model == "cooccurrence");
  CHECK(spec.sweep_seed == 3);
  CHECK(spec.base.integer("d") == 16);
  CHECK(spec.base.integer("L") == 5);  // default
  CHECK(spec.base.real("lr") == 0.05);
  CHECK(spec.base.choice("optimizer") == "gd");
  REQUIRE(spec.axes.size() == 3);
  CHECK(spec.axes[0].name == "seed");  // file order
  CHECK(spec.axes[1].name == "m");
  CHECK(spec.axes[2].name == "lr_ratio");
  CHECK(spec.axes[2].values[1].num == Approx(1.0).epsilon(1e-15));
  CHECK(spec.axes[2].values[2].num == 10.0);
  CHECK(spec.where.at("m") == "good.toml:15");
}

TEST_CASE("the spec hash ignores comments and layout but not content", "[spec]") {
  auto a = fs::parse_spec(kGood, "a.toml");
  auto b = fs::parse_spec(std::string("# a comment\n\n") + kGood, "b.toml");
  auto c = fs::parse_spec(replace(kGood, "lr = 0.05", "lr = 0.06"), "c.toml");
  CHECK(a.hash() == b.hash());
  CHECK(a.hash() != c.hash());
  // and it stays what earlier versions computed: a sweep's journal, checkpoints and shards name it
  CHECK(a.hash() == "bcf4f7017b0798fc");
}

TEST_CASE("a range axis is its values without holding them, and hashes as the list of them", "[spec]") {
  // 10^7 seeds: values, grid and hash without 480 MB of them
  const auto big =
      fs::parse_spec(replace(kGood, "seed = { range = [0, 3] }", "seed = { range = [7, 30000007, 3] }"), "big.toml");
  const fs::AxisValues& v = big.axes[0].values;
  REQUIRE(v.size() == 10000000);
  CHECK(v.front().num == 7);
  CHECK(v[1234567].num == 7 + 3 * 1234567.0);
  CHECK(v.back().num == 30000004);
  CHECK(fs::Grid(big).size() == 60000000);
  // A range and the list of its values are one sweep.
  const auto range =
      fs::parse_spec(replace(kGood, "seed = { range = [0, 3] }", "seed = { range = [5, 18, 4] }"), "r.toml");
  const auto list = fs::parse_spec(replace(kGood, "seed = { range = [0, 3] }", "seed = [5, 9, 13, 17]"), "l.toml");
  REQUIRE(range.axes[0].values.size() == 4);
  for (size_t k = 0; k < 4; ++k) CHECK(range.axes[0].values[k].to_string() == list.axes[0].values[k].to_string());
  CHECK(range.canonical() == list.canonical());
  CHECK(range.hash() == list.hash());
  CHECK(range.hash() == fs::hex64(fs::fnv1a64(range.canonical())));
  // A spec changed after parsing hashes what it now holds.
  auto changed = range;
  changed.base.set("lr", fs::Value::number(0.07));
  changed.parsed_hash.clear();
  CHECK(changed.hash() == fs::hex64(fs::fnv1a64(changed.canonical())));
  CHECK(changed.hash() != range.hash());
}

TEST_CASE("overrides (--set) fixed keys, replaces axes and names itself in errors", "[spec]") {
  auto s = fs::parse_spec(kGood, "good.toml", {"train.lr=0.2", "m=6", "init=theory", "grid.seed=[5]"});
  CHECK(s.base.real("lr") == 0.2);
  CHECK(s.base.integer("m") == 6);
  CHECK(s.base.choice("init") == "theory");
  REQUIRE(s.axes.size() == 2);  // m is no longer swept
  CHECK(s.axes[0].name == "seed");
  CHECK(s.axes[0].values.size() == 1);
  CHECK_THAT(error_of(kGood, {"lr=-1"}), Contains("--set lr=-1") && Contains("train.lr"));
  CHECK_THAT(error_of(kGood, {"bogus=1"}), Contains("bogus") && Contains("unknown key"));
  CHECK_THAT(error_of(kGood, {"novalue"}), Contains("KEY=VALUE"));
}

TEST_CASE("an axis --set replaces keeps its place in the grid; a new one comes after the file's", "[spec]") {
  auto names = [](const fs::Spec& s) {
    std::string out;
    for (const auto& a : s.axes) out += (out.empty() ? "" : " ") + a.name;
    return out;
  };
  // The file's order is seed, m, lr_ratio; toml++ keeps a table's keys sorted, and an overriding value's
  // own line is its --set text's, so neither can give the order.
  CHECK(names(fs::parse_spec(kGood, "g.toml", {"grid.m=[8, 16]"})) == "seed m lr_ratio");
  CHECK(names(fs::parse_spec(kGood, "g.toml", {"grid.lr_ratio=[1]", "grid.seed=[0]", "grid.m=[2]"})) ==
        "seed m lr_ratio");
  CHECK(names(fs::parse_spec(kGood, "g.toml", {"grid.m1=[8]", "grid.d=[4, 8]", "grid.m=[2]"})) ==
        "seed m lr_ratio m1 d");
  CHECK(names(fs::parse_spec(kGood, "g.toml", {"grid.d=[4]", "grid.d=[4, 8]", "grid.m1=[8]"})) ==
        "seed m lr_ratio d m1");
  CHECK(names(fs::parse_spec(kGood, "g.toml", {"m=4", "grid.m=[4, 8]"})) == "seed lr_ratio m");
}

TEST_CASE("bad specs are errors that name the file, line and key", "[spec]") {
  struct Bad {
    std::string text, where, key, what;
  };
  const std::vector<Bad> cases = {
      {replace(kGood, "m1 = 8", "m1 = 8\nwidth = 3"), "bad.toml:8", "params.width", "unknown key"},
      {replace(kGood, "lr = 0.05", "lr = -0.05"), "bad.toml:10", "train.lr", "greater than 0"},
      {replace(kGood, "d = 16", "d = 2"), "bad.toml:6", "params.d", "below the minimum 4"},
      {replace(kGood, "d = 16", "d = 16.5"), "bad.toml:6", "params.d", "integer"},
      {replace(kGood, "d = 16", "d = \"big\""), "bad.toml:6", "params.d", "integer"},
      {replace(kGood, "steps = 100", "steps = 100\noptimizer = \"sgd\""), "bad.toml:12", "train.optimizer",
       "not one of"},
      {replace(kGood, "m = [4, 8]", "m = []"), "bad.toml:15", "grid.m", "at least one value"},
      {replace(kGood, "m = [4, 8]", "m = [4, 0]"), "bad.toml:15", "grid.m", "below the minimum 1"},
      {replace(kGood, "m = [4, 8]", "mm = [4, 8]"), "bad.toml:15", "grid.mm", "unknown key"},
      {replace(kGood, "m = [4, 8]", "m = { range = [4] }"), "bad.toml:15", "grid.m", "range takes"},
      // a range names the first of its values out of bounds, as a list would
      {replace(kGood, "m = [4, 8]", "m = { range = [0, 3] }"), "bad.toml:15", "grid.m", "value 0 is below"},
      {replace(kGood, "seed = { range = [0, 3] }", "seed = { range = [4294967000, 4294967400, 7] }"), "bad.toml:14",
       "grid.seed", "value 4294967301 is above the maximum 4294967295"},
      {replace(kGood, "m = [4, 8]", "m = { linspace = [1, 2, 3] }"), "bad.toml:15", "grid.m", "non-integer"},
      {replace(kGood, "m = [4, 8]", "m = { steps = [4, 8] }"), "bad.toml:15", "grid.m", "unknown axis form"},
      {replace(kGood, "m = [4, 8]", "d = [8, 12]"), "bad.toml:15", "grid.d", "also fixed in [params]"},
      {replace(kGood, "[params]", "[parms]"), "bad.toml:5", "parms", "unknown key"},
      {replace(kGood, "seed = 3", "seed = -1"), "bad.toml:3", "seed", "below the minimum"},
      {replace(kGood, "model = \"cooccurrence\"", "model = \"transformer\""), "bad.toml:2", "model", "unknown model"},
      {replace(kGood, "m1 = 8", "m1 = 8\nn = 61"), "bad.toml:8", "params.n", "multiple of 6"},
      {replace(kGood, "m1 = 8", "m1 = 8\nn = 132\nL = 4096"), "bad.toml:8", "params.n", "n L^2 must be below"},
      {replace(kGood, "steps = 100", "steps = 100\nprecision = fp16"), "bad.toml:12", "", "bad.toml"},
  };
  for (const auto& c : cases) {
    const std::string err = error_of(c.text);
    INFO(c.text);
    CHECK_THAT(err, Contains(c.where + ":") && Contains(c.what));
    if (!c.key.empty()) CHECK_THAT(err, Contains("key '" + c.key + "'"));
  }
  // A cross-key check names where the offending key was set, and the grid point.
  const std::string err = error_of(replace(kGood, "m = [4, 8]", "m = [4, 8]\nn = [12, 13]"));
  CHECK_THAT(err, Contains("bad.toml:16") && Contains("params.n") && Contains("n=13"));
}

TEST_CASE("an unknown key or model names the one it most likely misspells", "[spec]") {
  CHECK(fs::nearest_name("optimiser", {"optimizer", "lr", "steps"}) == "optimizer");
  CHECK(fs::nearest_name("lr_ratoi", {"lr", "lr_ratio"}) == "lr_ratio");  // two neighbours swapped
  CHECK(fs::nearest_name("stesp", {"steps", "seed"}) == "steps");
  CHECK(fs::nearest_name("l", {"L", "n", "d"}) == "L");  // a one-letter name: only its other case
  CHECK(fs::nearest_name("x", {"L", "n", "d"}).empty());
  CHECK(fs::nearest_name("width", {"d", "m", "m1", "init"}).empty());
  CHECK(fs::nearest_name("ab", {"abcd"}).empty());  // two edits: beyond a short name's reach
  CHECK(fs::nearest_name("recrods", {"records", "record"}) == "records");

  const std::vector<std::pair<std::string, std::string>> cases = {
      {replace(kGood, "steps = 100", "steps = 100\noptimiser = \"adam\""), "(did you mean 'optimizer'?)"},
      {replace(kGood, "m1 = 8", "m1 = 8\nlr_ratio = 3"), "(it is a key of [train])"},
      {replace(kGood, "name = \"t\"", "name = \"t\"\nsteps = 10"), "(it is a key of [train])"},
      {replace(kGood, "m1 = 8", "m1 = 8\nlr_ratoi = 3"), "(did you mean 'lr_ratio', a key of [train]?)"},
      {replace(kGood, "name = \"t\"", "name = \"t\"\nstesp = 10"), "(did you mean 'steps', a key of [train]?)"},
      {replace(kGood, "[params]", "[parms]"), "(did you mean 'params'?)"},
      {replace(kGood, "m = [4, 8]", "mm1 = [4, 8]"), "(did you mean 'm1'?)"},
      {replace(kGood, "lr_ratio = {", "lr_ration = {"), "(did you mean 'lr_ratio'?)"},
      {replace(kGood, "model = \"cooccurrence\"", "model = \"cooccurence\""), "(did you mean 'cooccurrence'?)"},
  };
  for (const auto& [text, hint] : cases) {
    INFO(text);
    CHECK_THAT(error_of(text), Contains("unknown") && Contains(hint));
  }
  CHECK_THAT(error_of(kGood, {"lr_ration=3"}), Contains("(did you mean 'lr_ratio'?)"));
  CHECK_THAT(error_of(kGood, {"trian.lr=3"}), Contains("(did you mean 'train'?)"));
  CHECK_THAT(error_of(replace(kGood, "m1 = 8", "m1 = 8\nwidth = 3")), !Contains("did you mean"));
}

TEST_CASE("a missing spec file is an input error naming it", "[spec]") {
  CHECK_THROWS_WITH(fs::load_spec("/nonexistent/sweep.toml"), Contains("/nonexistent/sweep.toml"));
  CHECK_THROWS_AS(fs::load_spec("/nonexistent/sweep.toml"), fs::InputError);
}
