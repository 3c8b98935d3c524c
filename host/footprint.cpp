#include "host/footprint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "host/registry.h"
#include "host/tables.h"

namespace fs {

namespace {

// The tables' average text a column, its comma included, as measured on the shipped sweeps' outputs:
// 8 to 14 characters in runs.csv, 5 to 9 in final_config.csv (small integers, NaN left empty), 13 to 16 in
// trajectories.csv (a series' values, printed to their shortest round trip).
constexpr double kRunsCsvColumn = 12;
constexpr double kFinalCsvColumn = 8;
constexpr double kTrajCsvColumn = 15;
constexpr double kCsvRunId = 17;  // 16 hex digits and a comma
// trajectories.h5's headers, attributes and chunk index a dataset (3.3 to 4.3 kB on the shipped sweeps)
constexpr double kH5Dataset = 4e3;

long columns(const std::string& header) {
  return header.empty() ? 0 : long(std::count(header.begin(), header.end(), ',')) + 1;
}

}  // namespace

Footprint output_footprint(const Grid& grid) {
  const Spec& spec = grid.spec();
  const ModelInfo& info = spec.entry->info;
  const double n_obs = double(info.observables.size());
  const double n_det = double(info.detectors.size());
  const double n_final = double(info.final_columns.size());
  const double table_fields = double(final_table_columns(info).size());
  const long runs_columns = columns(RunsCsv(spec).header());
  const long final_columns = columns(final_config_header(spec));
  const long traj_columns = columns(trajectories_header(spec));

  const Grid::Totals& t = grid.totals();
  const double records = t.records, table_rows = t.table_rows;
  const double max_records = double(t.max_records), max_table_rows = double(t.max_table_rows);
  // initial and final parameters, the fixed state and the real data in doubles, the integer data in ints
  const double saved = 8 * (2 * t.theta + t.fixed + t.rdata) + 4 * t.idata;
  const double runs = double(grid.size());

  Footprint f;
  // A record's step, flow time and observables, eight bytes each; a run's detectors, last observables and
  // final configuration; its table rows; its frame (id, status, counts and lengths, checksum).
  f.journal =
      records * 8 * (2 + n_obs) + runs * 8 * (n_det + n_obs + n_final + 16) + table_rows * 8 * (table_fields + 1);
  f.params_journal = saved;
  // Datasets: run ids, status, steps, t_final, n_records, the record scale; the axes; a variable a detector,
  // final column and observable, with step and t; the table and its two scales. Then series padded to the
  // longest run; each run's scalars, id and status; its table padded likewise. Saved parameters go to a
  // group of their own a run, at their own sizes, with about 2 kB of HDF5's headers.
  const double datasets = 6 + double(spec.axes.size()) + n_det + n_final + n_obs + 2 + (table_fields > 0 ? 3 : 0);
  f.trajectories = kH5Dataset * datasets + runs * (max_records * 8 * (2 + n_obs) + 8 * (3 + n_det + n_final) + 32 +
                                                   max_table_rows * 8 * table_fields);
  f.params_h5 = saved + runs * 2048;
  f.runs_csv = runs * (kCsvRunId + kRunsCsvColumn * double(runs_columns - 1));
  f.final_config = final_columns > 0 ? table_rows * (kCsvRunId + kFinalCsvColumn * double(final_columns - 1)) : 0;
  f.csv_trajectories = records * (kCsvRunId + kTrajCsvColumn * double(traj_columns - 1));
  return f;
}

std::string short_of_room(const std::string& dir, double bytes, const std::string& what) {
  std::error_code ec;
  const auto space = std::filesystem::space(dir, ec);
  if (ec || bytes <= double(space.available)) return "";
  return dir + " has " + format_bytes(double(space.available)) + " free, and " + what;
}

std::string format_bytes(double bytes) {
  static const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (bytes >= 999.5 && u < 5) bytes /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : bytes < 9.95 ? "%.1f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

std::string describe_footprint(const Footprint& f) {
  const double total = f.total();
  std::string out = "about " + format_bytes(total);
  const std::pair<const char*, double> files[] = {{"trajectories.h5", f.trajectories},
                                                  {"journal.fsj", f.journal},
                                                  {"final_config.csv", f.final_config},
                                                  {"trajectories.csv", f.csv_trajectories},
                                                  {"runs.csv", f.runs_csv}};
  std::string parts;
  for (const auto& [name, bytes] : files)
    if (bytes > 0.01 * total) parts += std::string(parts.empty() ? "" : ", ") + name + " " + format_bytes(bytes);
  return parts.empty() ? out : out + " (" + parts + ")";
}

}  // namespace fs
