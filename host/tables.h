// The tables a sweep hands back: one row per run, one row per cell of the phase diagram, and the
// recorded series in long form. Plain CSV with a header row, numbers written shortest-exact. Each is
// built a run at a time, so a sweep's tables never need every run in memory: runs.csv, the series and
// the final configurations are rows as they come; the phase diagram keeps a few numbers per run.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "host/grid.h"
#include "host/registry.h"
#include "host/spec.h"

namespace fs {

// runs.csv: one row per run.
class RunsCsv {
 public:
  explicit RunsCsv(const Spec& spec);
  const std::string& header() const { return header_; }
  void row(std::string& out, const RunPoint& p, const RunResult& r) const;

 private:
  const Spec& spec_;
  std::string header_;
  std::vector<size_t> final_obs_;  // observables not already a column ("loss" is final_loss)
};

// phase_diagram.csv: runs pooled over seeds into cells.
class PhaseDiagram {
 public:
  explicit PhaseDiagram(const Spec& spec);
  void add(const RunPoint& p, const RunResult& r);
  std::string csv() const;

 private:
  const Spec& spec_;
  size_t n_det_, n_final_;
  std::vector<size_t> cell_axes_;
  long cmp_axis_ = -1, cmp_det_ = -1;
  std::map<std::string, size_t> cell_of_;
  std::vector<std::vector<std::string>> keys_;  // a cell's coordinates
  std::vector<std::vector<size_t>> members_;    // a cell's runs
  // Per run: status, detector times (NaN: never), final loss, final-configuration columns.
  std::vector<unsigned char> status_;
  std::vector<double> t_det_, final_loss_, finals_;
  std::map<std::string, size_t> base_of_;  // the compared axis' base run, by its other coordinates
  std::vector<std::string> cmp_key_;
};

// trajectories.csv: every record of every run in long form.
std::string trajectories_header(const Spec& spec);
void trajectory_rows(std::string& out, const RunPoint& p, const RunResult& r);

// final_config.csv: a model's variable-size final configuration in long form ("" when it has none).
std::string final_config_header(const Spec& spec);
void final_config_rows(std::string& out, const RunPoint& p, const RunResult& r);

// Whole tables of runs held in memory (tests and small tools).
std::string runs_csv(const Spec& spec, const std::vector<RunPoint>& runs, const std::vector<RunResult>& results);
std::string phase_diagram_csv(const Spec& spec, const std::vector<RunPoint>& runs,
                              const std::vector<RunResult>& results);
std::string trajectories_csv(const Spec& spec, const std::vector<RunPoint>& runs,
                             const std::vector<RunResult>& results);
std::string final_config_csv(const Spec& spec, const std::vector<RunPoint>& runs,
                             const std::vector<RunResult>& results);

// Quantile with linear interpolation between order statistics (numpy's and pandas' default).
double quantile(std::vector<double> xs, double q);

}  // namespace fs
