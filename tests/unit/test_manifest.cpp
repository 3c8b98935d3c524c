// manifest.json as the readers take it: its own checksum, and every key they read checked, each error
// naming the file and the key (exit 2), never a crash.
#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <tuple>

#include "host/outputs.h"
#include "host/util.h"

namespace {

const char* kSweep = R"(
model = "cooccurrence"
[params]
d = 8
[grid]
seed = [0, 1, 2]
)";

std::string fresh_dir(const std::string& name) {
  const std::string dir = (std::filesystem::temp_directory_path() / ("fs_manifest_" + name)).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

nlohmann::json manifest_of(const fs::Spec& spec, long index, long count) {
  return {{"spec", fs::spec_json(spec)}, {"shard", {{"index", index}, {"count", count}, {"grid_runs", 3}}}};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const fs::InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a manifest checks itself and the shard it names", "[manifest]") {
  using Catch::Matchers::Contains;
  const fs::Spec spec = fs::parse_spec(kSweep, "t.toml");
  const fs::Grid grid(spec);
  const std::string dir = fresh_dir("shard");
  const std::string path = dir + "/manifest.json";

  fs::write_manifest(dir, manifest_of(spec, 1, 2));
  const fs::Manifest good = fs::read_manifest(dir);
  CHECK(good.shard(grid).index == 1);
  CHECK(good.shard(grid).count == 2);
  CHECK(good.spec().hash() == spec.hash());

  // Written through write_manifest, so the checksum holds and the key itself is what is refused.
  for (const auto& [index, count, key] :
       {std::tuple{0L, 0L, "'shard.count': 0 is not"}, std::tuple{0L, -1L, "'shard.count': -1 is not"},
        std::tuple{0L, 1000000000000L, "'shard.count': 1000000000000 is not"},
        std::tuple{2L, 2L, "'shard.index': 2 is not in 0..1"}, std::tuple{-1L, 2L, "'shard.index': -1"}}) {
    fs::write_manifest(dir, manifest_of(spec, index, count));
    const fs::Manifest m = fs::read_manifest(dir);
    CHECK_THAT(error_of([&] { (void)m.shard(grid); }), Contains(path) && Contains(key));
  }

  nlohmann::json j = manifest_of(spec, 0, 1);
  j["shard"]["count"] = "two";
  fs::write_manifest(dir, j);
  CHECK_THAT(error_of([&] { (void)fs::read_manifest(dir).shard(grid); }),
             Contains(path) && Contains("'shard.count': wrong type"));
  j = manifest_of(spec, 0, 1);
  j["spec"].erase("text");
  fs::write_manifest(dir, j);
  CHECK_THAT(error_of([&] { (void)fs::read_manifest(dir).spec(); }),
             Contains(path) && Contains("'spec.text': missing"));
  j = manifest_of(spec, 0, 1);
  j["spec"]["hash"] = "0123456789abcdef";
  fs::write_manifest(dir, j);
  CHECK_THAT(error_of([&] { (void)fs::read_manifest(dir).spec(); }), Contains("'spec.hash': does not match"));

  // One byte changed by hand: the checksum no longer holds.
  fs::write_manifest(dir, manifest_of(spec, 1, 2));
  std::string text = fs::read_file(path);
  text.replace(text.find("\"count\": 2"), 10, "\"count\": 3");
  fs::write_file_atomic(path, text);
  CHECK_THAT(error_of([&] { (void)fs::read_manifest(dir); }), Contains(path) && Contains("checksum mismatch"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a manifest with bytes that are not UTF-8 is written with them replaced", "[manifest]") {
  const fs::Spec spec = fs::parse_spec(kSweep, "t.toml");
  const std::string dir = fresh_dir("utf8");
  nlohmann::json j = manifest_of(spec, 0, 1);
  j["failures"] = {{{"run_id", "x"}, {"message", std::string("cannot open /data/caf\xe9.h5")}}};
  fs::write_manifest(dir, j);
  const fs::Manifest m = fs::read_manifest(dir);
  CHECK(m.json["failures"][0]["message"].get<std::string>() == "cannot open /data/caf\xef\xbf\xbd.h5");
  std::filesystem::remove_all(dir);
}
