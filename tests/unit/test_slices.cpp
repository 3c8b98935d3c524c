// Sliced execution on the CPU: a flow cut into slices, saved and restored into a fresh run, takes the
// same steps as an uncut one, for every model and optimiser; checkpoints of another shape are refused;
// the journal's records read back exactly and a damaged record is found.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "host/executor_cpu.h"
#include "host/grid.h"
#include "host/journal.h"
#include "host/outputs.h"
#include "host/registry.h"
#include "kernels/models.h"
#include "restart_check.h"
#include "staging_check.h"

namespace {

// A small sweep of every model, each with a minibatch, momentum or Adam somewhere.
std::vector<std::pair<std::string, std::vector<std::string>>> small_sweeps() {
  return {
      {"cooccurrence",
       {"d=10", "m=8", "m1=12", "steps=240", "record_every=7", "optimizer=momentum", "grid.seed=[0,1,2]"}},
      // no word tables (d^2 above n L^2): a copy of W_Q, W_K and W_V where a device gives one (Sizes::n_hot)
      {"cooccurrence", {"d=24", "L=3", "n=24", "m=8", "m1=12", "steps=150", "record_every=7", "grid.seed=[0,1,2]"}},
      {"scan_snap",
       {"mode=minibatch", "T=16", "batch=8", "num_common=3", "init=uniform", "steps=200", "record_every=9", "lr=0.1",
        "grid.seed=[0,1,2]"}},
      {"joma_toy", {"K=8", "steps=300", "record=log", "records=20", "grid.seed=[0,1,2]"}},
      {"joma",
       {"C=4", "n_distinct=3", "n_common=2", "hidden=6", "phi=silu", "optimizer=adam", "lr=0.01", "steps=200",
        "record_every=11", "grid.seed=[0,1,2]"}},
      // logits that swap order: the crossing count is state carried from step to step (Sizes::n_carry)
      {"value_softmax",
       {"d=4", "n=4", "N=6", "a_init=random", "lr=0.5", "steps=300", "record=log", "records=25", "grid.seed=[0,1,2]"}},
      {"pathcond",
       {"depth=2", "width=6", "points=30", "rescale=pathcond", "steps=200", "record_every=13", "grid.seed=[0,1,2]"}},
  };
}

std::vector<fs::RunInput> inputs_of(const std::string& model, const std::vector<std::string>& sets) {
  auto spec = fs::parse_spec("model = \"" + model + "\"\n", "t.toml", sets);
  auto in = fs::grid_inputs(spec);
  for (auto& r : in) r.id = fs::run_id(spec.model, spec.sweep_seed, r.params);
  return in;
}

}  // namespace

// A model added to kernels/models.h without a sweep here would go untested by every case below.
TEST_CASE("every registered model has a small sweep here", "[slices][registry]") {
  std::set<std::string> swept;
  for (const auto& [model, sets] : small_sweeps()) swept.insert(model);
  for (const auto& entry : fs::models()) {
    INFO(entry.info.name);
    CHECK(swept.count(entry.info.name) == 1);
  }
  CHECK(swept.size() == fs::models().size());
}

TEST_CASE("runs staged and finished on a pool, as a device executor does, give the CPU's bits", "[slices]") {
  for (const auto& [model, sets] : small_sweeps())
    for (const char* precision : {"precision=fp64", "precision=fp32"}) {
      auto s = sets;
      s.push_back(precision);
      fs::test::check_staging(model, inputs_of(model, s));
    }
}

TEST_CASE("a flow stopped, saved and restored into a fresh run goes on bit for bit (every model)", "[slices]") {
  for (const auto& [model, sets] : small_sweeps()) {
    for (const char* precision : {"precision=fp64", "precision=fp32"}) {
      INFO(model << " " << precision);
      auto s = sets;
      s.push_back(precision);
      const auto in = inputs_of(model, s);
      const auto& entry = *fs::find_model(model);
      const auto whole = fs::execute_cpu(entry, in, 1);
      // Chunks start at one step and double: a few zero-length slices leave runs a few steps in.
      auto cut = fs::test::run_with_restart([&] { return fs::make_cpu_executor(entry, 2); }, in, 4, 0.0);
      REQUIRE(cut.saved.size() == 2);
      for (size_t i = 0; i < in.size(); ++i) fs::test::require_identical(whole[i], cut.results[i]);
    }
  }
}

TEST_CASE("a checkpoint carries the attention taken when a detector answered before it", "[slices]") {
  const auto in = inputs_of("cooccurrence", {"d=10", "m=8", "m1=12", "steps=240", "record_every=7", "lr=0.05",
                                             "lr_ratio=10", "grid.seed=[0]"});
  const auto& entry = *fs::find_model("cooccurrence");
  auto whole = entry.start(in[0]);
  whole->advance(1000);
  const fs::RunResult a = whole->finish();
  REQUIRE(a.detected[0].has_value());  // phase1_end
  const long cut = *a.detected[0] + 5;
  REQUIRE(cut < 240);
  auto first = entry.start(in[0]);
  first->advance(cut);
  const std::string blob = first->save();
  auto second = entry.start(in[0]);
  second->restore(blob);
  second->advance(1000);
  const fs::RunResult b = second->finish();
  fs::test::require_identical(a, b);
  const auto cols = fs::final_table_columns(entry.info);
  const size_t at = size_t(std::find_if(cols.begin(), cols.end(),
                                        [](const fs::NamedDoc& c) { return c.name == "attention_at_phase1_end"; }) -
                           cols.begin());
  REQUIRE(at < cols.size());
  long numbers = 0;
  for (const auto& row : b.final_rows) numbers += !std::isnan(row[at]);
  CHECK(numbers >= 24);  // every (type, query) present has its four keys
}

TEST_CASE("a run advanced one step at a time equals one advanced in a single call", "[slices]") {
  const auto in = inputs_of("cooccurrence", {"d=8", "m=4", "m1=6", "steps=57", "record_every=5", "optimizer=adam"});
  const auto& entry = *fs::find_model("cooccurrence");
  auto a = entry.start(in[0]);
  long calls = 0;
  while (!a->advance(1)) ++calls;
  CHECK(calls == 57);
  auto b = entry.start(in[0]);
  CHECK(b->advance(1000));
  fs::test::require_identical(a->finish(), b->finish());
}

TEST_CASE("a checkpoint is refused by a run of another shape or precision", "[slices]") {
  const auto& entry = *fs::find_model("cooccurrence");
  const auto small = inputs_of("cooccurrence", {"d=8", "m=4", "m1=6", "steps=50"});
  const auto wider = inputs_of("cooccurrence", {"d=8", "m=5", "m1=6", "steps=50"});
  const auto fp32 = inputs_of("cooccurrence", {"d=8", "m=4", "m1=6", "steps=50", "precision=fp32"});
  auto a = entry.start(small[0]);
  a->advance(10);
  const std::string cp = a->save();
  auto b = entry.start(wider[0]);
  CHECK_THROWS_WITH(b->restore(cp), Catch::Matchers::Contains("checkpoint does not fit"));
  auto c = entry.start(fp32[0]);
  CHECK_THROWS_WITH(c->restore(cp), Catch::Matchers::Contains("precision"));
  CHECK_THROWS(entry.start(small[0])->restore(cp.substr(0, cp.size() - 3)));
  auto d = entry.start(small[0]);
  d->restore(cp);
  CHECK(d->step() == 10);
}

TEST_CASE("journal records encoded on the executor's threads are the loop's own encoding", "[slices][journal]") {
  const auto& entry = *fs::find_model("value_softmax");
  const auto in = inputs_of("value_softmax", {"d=3", "n=3", "steps=30", "record_every=7", "grid.seed=[0,1,2,3,4,5]"});
  auto ex = fs::make_cpu_executor(entry, 3);
  std::atomic<long> calls{0};
  ex->encode = [&](const fs::FinishedRun& f) {
    ++calls;
    return fs::journal_record(f.key, f.id, f.result);
  };
  fs::VectorSource source(in);
  std::vector<fs::FinishedRun> done;
  while (ex->advance(1.0, source, done)) {
  }
  REQUIRE(done.size() == in.size());
  CHECK(calls == long(in.size()));
  const auto alone = fs::execute_cpu(entry, in, 1);
  for (const auto& f : done) {
    REQUIRE_FALSE(f.record.empty());
    CHECK(f.record == fs::journal_record(f.key, in[size_t(f.key)].id, alone[size_t(f.key)]));
  }
}

TEST_CASE("journal: records read back exactly; a flipped byte and a torn tail are found", "[slices][journal]") {
  const auto& entry = *fs::find_model("value_softmax");
  const auto in =
      inputs_of("value_softmax", {"d=3", "n=3", "N=4", "steps=40", "record_every=8", "grid.seed=[0,1,2,3]"});
  const auto res = fs::execute_cpu(entry, in, 2);
  const std::string dir = std::filesystem::temp_directory_path() / ("fs-journal-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    fs::JournalWriter w(dir, "0123456789abcdef");
    for (size_t i = 0; i < in.size(); ++i) w.append_result(long(i) * 3, in[i].id, res[i]);
    w.sync();
  }
  const std::string path = fs::journal_path(dir);
  auto scan = fs::scan_journal(path, "0123456789abcdef");
  REQUIRE(scan.problem.empty());
  REQUIRE(scan.entries.size() == in.size());
  std::FILE* f = std::fopen(path.c_str(), "rb");
  for (size_t i = 0; i < in.size(); ++i) {
    CHECK(scan.entries[i].index == long(i) * 3);
    fs::test::require_identical(res[i], fs::read_result(f, path, scan.entries[i], in[i].id, entry.info));
    CHECK_THROWS_WITH(fs::read_result(f, path, scan.entries[i], "someone-else", entry.info),
                      Catch::Matchers::Contains("another run"));
  }
  std::fclose(f);
  CHECK_THROWS_WITH(fs::scan_journal(path, "fedcba9876543210"), Catch::Matchers::Contains("another sweep"));

  // A record of another version of the model (one more final column) is named as such.
  fs::RunResult other = res[0];
  other.final_config.push_back(0);
  CHECK_THROWS_WITH(fs::decode_result(fs::encode_result(in[0].id, other), "x", in[0].id, entry.info),
                    Catch::Matchers::Contains("another version"));

  std::string bytes;
  {
    std::ifstream is(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(is), {});
  }
  auto write = [&](const std::string& b) { std::ofstream(path, std::ios::binary | std::ios::trunc) << b; };
  // A flipped bit in the third record's payload: the first two stand, the scan stops there.
  std::string flipped = bytes;
  flipped[size_t(scan.entries[2].offset + scan.entries[2].bytes / 2)] ^= 0x04;
  write(flipped);
  auto s2 = fs::scan_journal(path, "0123456789abcdef");
  CHECK(s2.entries.size() == 2);
  CHECK_THAT(s2.problem, Catch::Matchers::Contains("checksum"));
  CHECK(s2.valid_bytes == scan.entries[2].offset - 40);
  // The file cut inside the last record: a torn tail, the others intact.
  write(bytes.substr(0, size_t(scan.entries[3].offset + 5)));
  auto s3 = fs::scan_journal(path, "0123456789abcdef");
  CHECK(s3.entries.size() == 3);
  CHECK_THAT(s3.problem, Catch::Matchers::Contains("torn"));
  // A writer opened at the valid end truncates the tail and appends after it.
  {
    fs::JournalWriter w(dir, "0123456789abcdef", s3.valid_bytes);
    w.append_result(9, in[3].id, res[3]);
    w.sync();
  }
  auto s4 = fs::scan_journal(path, "0123456789abcdef");
  CHECK(s4.problem.empty());
  CHECK(s4.entries.size() == 4);
  std::filesystem::remove_all(dir);
}

TEST_CASE("journal: a block of records read at once gives what each read alone gives", "[slices][journal]") {
  const auto spec = fs::parse_spec("model = \"value_softmax\"\n", "t.toml",
                                   {"d=3", "n=3", "steps=40", "record_every=8", "grid.seed={range=[0, 8]}"});
  const fs::Grid grid(spec);
  const auto& entry = *spec.entry;
  std::vector<fs::RunInput> in;
  for (long i = 0; i < grid.size(); ++i) in.push_back({grid.point(i).params, spec.sweep_seed});
  const auto res = fs::execute_cpu(entry, in, 2);
  const std::string dir = std::filesystem::temp_directory_path() / ("fs-window-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  // Runs 0-3, then over a megabyte of records of run 4 (its last copy counts), then runs 5-7: a block of
  // runs 0-3 lies together, a block of all eight does not.
  {
    fs::JournalWriter w(dir, spec.hash());
    for (long i = 0; i < 4; ++i) w.append_result(i, grid.id(i), res[size_t(i)]);
    for (int copy = 0; copy < 2000; ++copy) w.append_result(4, grid.id(4), res[4]);
    for (long i = 5; i < 8; ++i) w.append_result(i, grid.id(i), res[size_t(i)]);
    w.sync();
  }
  fs::ResultStore store({dir}, grid);
  REQUIRE(store.problems().empty());
  std::vector<long> rows(8);
  for (long i = 0; i < 8; ++i) rows[size_t(i)] = i;
  for (long i = 0; i < 8; ++i) fs::test::require_identical(res[size_t(i)], store.fetch(grid.point(i)));
  const auto scan = fs::scan_journal(fs::journal_path(dir), spec.hash());
  auto clobber = [&](long offset, long bytes) {  // zeros over a payload, on disk
    std::fstream f(fs::journal_path(dir), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(offset);
    f << std::string(size_t(bytes), '\0');
  };
  // Runs 0-3 read as one block: a record changed on disk after it is read still reads as it was, so
  // fetch took it from memory; with the next block loaded it is read from the file, and is found damaged.
  store.load(rows, 0, 4);
  clobber(scan.entries[1].offset, scan.entries[1].bytes);
  for (long i = 0; i < 8; ++i) fs::test::require_identical(res[size_t(i)], store.fetch(grid.point(i)));
  store.load(rows, 0, 8);  // runs spread over the journal: each read alone
  CHECK_THROWS_WITH(store.fetch(grid.point(1)), Catch::Matchers::Contains("record at byte"));
  for (long i = 2; i < 8; ++i) fs::test::require_identical(res[size_t(i)], store.fetch(grid.point(i)));
  std::filesystem::remove_all(dir);
}

TEST_CASE("journal: a store finds each run's last record, whether its records cover the grid or a few runs of it",
          "[slices][journal]") {
  const auto spec = fs::parse_spec("model = \"value_softmax\"\n", "t.toml",
                                   {"d=3", "n=3", "steps=20", "record_every=10", "grid.seed={range=[0, 64]}"});
  const fs::Grid grid(spec);
  std::vector<fs::RunInput> in;
  for (long i = 0; i < grid.size(); ++i) in.push_back({grid.point(i).params, spec.sweep_seed});
  const auto res = fs::execute_cpu(*spec.entry, in, 2);
  // A few runs (a shard's share of a large grid: found by run), and every run (a merge: a table)
  for (const std::vector<long>& runs : {std::vector<long>{40, 3, 63, 7}, std::vector<long>{}}) {
    std::vector<long> written = runs;
    if (written.empty())
      for (long i = grid.size() - 1; i >= 0; --i) written.push_back(i);
    const std::string dir = std::filesystem::temp_directory_path() / ("fs-store-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    {
      fs::JournalWriter w(dir, spec.hash());
      w.append_result(40, grid.id(40), res[41]);  // a record of run 40 that a later one replaces
      for (long i : written) w.append_result(i, grid.id(i), res[size_t(i)]);
      w.sync();
    }
    const fs::ResultStore store({dir}, grid);
    REQUIRE(store.problems().empty());
    const std::set<long> present(written.begin(), written.end());
    for (long i = 0; i < grid.size(); ++i) {
      INFO("run " << i << " of " << written.size() << " written");
      REQUIRE(store.has(i) == (present.count(i) == 1));
      if (store.has(i)) fs::test::require_identical(res[size_t(i)], store.fetch(grid.point(i)));
    }
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("grid: its totals are the sums and extremes of every run's steps, records and sizes", "[slices][grid]") {
  // Steps set by steps or by flow_time over lr, both schedules, and sizes that change across cells.
  const auto spec = fs::parse_spec(
      "model = \"cooccurrence\"\n[params]\nn = 12\nm1 = 8\n[train]\nrecord_every = 3\nrecords = 7\n"
      "[grid]\nseed = { range = [0, 3] }\nd = [8, 11]\nm = [4, 6]\nlr = [0.1, 0.04]\nflow_time = [0, 0.9]\n"
      "record = [\"linear\", \"log\"]\n",
      "totals.toml");
  const fs::Grid g(spec);
  double steps = 0, records = 0, rows = 0, theta = 0, fixed = 0, rdata = 0, idata = 0;
  long lo = std::numeric_limits<long>::max(), hi = 0, max_records = 0, max_rows = 0;
  for (const auto& r : fs::expand_grid(spec)) {
    const auto tc = fs::train_config(r.params, spec.sweep_seed, spec.entry->info);
    const long n = long(fs::record_schedule(tc).size());
    const fs::Sizes sz = spec.entry->shape(r.params).sizes;
    lo = std::min(lo, tc.steps), hi = std::max(hi, tc.steps), steps += double(tc.steps);
    records += double(n), max_records = std::max(max_records, n);
    rows += double(sz.n_table_rows), max_rows = std::max(max_rows, sz.n_table_rows);
    theta += double(sz.n_theta), fixed += double(sz.n_fixed), rdata += double(sz.n_rdata), idata += double(sz.n_idata);
  }
  REQUIRE(lo < hi);  // the axes do change what is summed
  REQUIRE(double(max_records) * double(g.size()) > records);
  const auto& t = g.totals();
  CHECK(t.min_steps == lo);
  CHECK(t.max_steps == hi);
  CHECK(t.steps == steps);
  CHECK(t.records == records);
  CHECK(t.max_records == max_records);
  CHECK(t.table_rows == rows);
  CHECK(t.max_table_rows == max_rows);
  CHECK(t.theta == theta);
  CHECK(t.fixed == fixed);
  CHECK(t.rdata == rdata);
  CHECK(t.idata == idata);
}

TEST_CASE("grid: counted before it is expanded; too large a grid names its axes", "[slices][grid]") {
  auto spec = fs::parse_spec(
      "model = \"value_softmax\"\n[grid]\nseed = { range = [0, 1000000] }\n"
      "d = { range = [2, 50002] }\n",
      "big.toml");
  CHECK_THROWS_WITH(fs::Grid(spec),
                    Catch::Matchers::Contains("big.toml") && Catch::Matchers::Contains("seed 1000000") &&
                        Catch::Matchers::Contains("d 50000") && Catch::Matchers::Contains("more than the 100000000"));
  auto ok = fs::parse_spec(
      "model = \"value_softmax\"\n[train]\nsteps = 7\n[grid]\nseed = { range = [0, 1000000] }\n"
      "n = [2, 3]\n",
      "ok.toml");
  const fs::Grid g(ok);
  CHECK(g.size() == 2000000);
  CHECK(g.n_cells() == 2);
  CHECK(g.totals().steps == 2000000.0 * 7);
  const auto p = g.point(1234567);
  CHECK(p.params.integer("seed") == 1234567 / 2);
  CHECK(p.params.integer("n") == 3);
  CHECK(g.cell(1234567) == 1);
}
