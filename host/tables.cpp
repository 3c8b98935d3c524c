#include "host/tables.h"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <map>
#include <sstream>

#include "host/util.h"

namespace fs {

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string num(double x) { return std::isnan(x) ? "" : format_double(x); }

// Flow time is steps * lr; 15 digits hide the rounding of that product (70 * 0.01 -> 0.7).
std::string flow_time(double t) {
  if (std::isnan(t)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", t);
  return buf;
}

void row(std::ostringstream& os, const std::vector<std::string>& fields) {
  for (size_t i = 0; i < fields.size(); ++i) os << (i ? "," : "") << csv_field(fields[i]);
  os << "\n";
}

}  // namespace

double quantile(std::vector<double> xs, double q) {
  if (xs.empty()) return NAN;
  std::sort(xs.begin(), xs.end());
  const double pos = q * double(xs.size() - 1);
  const size_t lo = size_t(std::floor(pos));
  const size_t hi = std::min(lo + 1, xs.size() - 1);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - double(lo));
}

std::string runs_csv(const Spec& spec, const std::vector<RunPoint>& runs, const std::vector<RunResult>& results) {
  const ModelInfo& info = spec.entry->info;
  std::ostringstream os;
  std::vector<std::string> head = {"run_id"};
  for (const auto& a : spec.axes) head.push_back(a.name);
  for (const char* h : {"status", "steps", "t_final", "final_loss"}) head.push_back(h);
  for (const auto& d : info.detectors) head.push_back("t_" + d.name);
  for (const auto& d : info.detectors) head.push_back("step_" + d.name);
  std::vector<size_t> final_obs;  // observables not already a column ("loss" is final_loss)
  for (size_t o = 0; o < info.observables.size(); ++o)
    if (std::find(head.begin(), head.end(), "final_" + info.observables[o].name) == head.end()) {
      head.push_back("final_" + info.observables[o].name);
      final_obs.push_back(o);
    }
  for (const auto& c : info.final_columns) head.push_back(c.name);
  row(os, head);
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunResult& r = results[i];
    std::vector<std::string> f = {runs[i].id};
    for (const auto& c : runs[i].coords) f.push_back(c.to_string());
    f.push_back(status_name(r.status));
    f.push_back(std::to_string(r.steps));
    f.push_back(flow_time(r.t_final));
    f.push_back(r.status == RunResult::kOk ? num(r.final_loss) : format_double(r.final_loss));
    for (size_t d = 0; d < info.detectors.size(); ++d)
      f.push_back(flow_time(r.detected_time(d)));
    for (size_t d = 0; d < info.detectors.size(); ++d)
      f.push_back(r.detected_step(d) < 0 ? "" : std::to_string(r.detected_step(d)));
    for (size_t o : final_obs) f.push_back(o < r.final_obs.size() ? num(r.final_obs[o]) : "");
    for (size_t c = 0; c < info.final_columns.size(); ++c)
      f.push_back(c < r.final_config.size() ? num(r.final_config[c]) : "");
    row(os, f);
  }
  return os.str();
}

std::string phase_diagram_csv(const Spec& spec, const std::vector<RunPoint>& runs,
                              const std::vector<RunResult>& results) {
  const ModelInfo& info = spec.entry->info;
  std::vector<size_t> cell_axes;
  for (size_t a = 0; a < spec.axes.size(); ++a)
    if (spec.axes[a].name != "seed") cell_axes.push_back(a);

  // Cells in the order the grid first meets them.
  std::map<std::string, size_t> cell_of;
  std::vector<std::vector<size_t>> members;
  std::vector<std::vector<std::string>> keys;
  for (size_t i = 0; i < runs.size(); ++i) {
    std::vector<std::string> key;
    std::string k;
    for (size_t a : cell_axes) {
      key.push_back(runs[i].coords[a].to_string());
      k += key.back() + "\x1f";
    }
    auto [it, fresh] = cell_of.emplace(k, members.size());
    if (fresh) {
      members.emplace_back();
      keys.push_back(key);
    }
    members[it->second].push_back(i);
  }

  // A comparison across one axis: the run of the base value with the same seed and other coordinates.
  const auto& cmp = info.comparison;
  long cmp_axis = -1, cmp_det = -1;
  for (size_t a = 0; a < spec.axes.size(); ++a)
    if (!cmp.axis.empty() && spec.axes[a].name == cmp.axis) cmp_axis = long(a);
  for (size_t d = 0; d < info.detectors.size(); ++d)
    if (info.detectors[d].name == cmp.detector) cmp_det = long(d);
  std::map<std::string, size_t> base_of;  // coordinates but the compared axis -> run
  auto key_without = [&](size_t i) {
    std::string k;
    for (size_t a = 0; a < spec.axes.size(); ++a)
      if (long(a) != cmp_axis) k += runs[i].coords[a].to_string() + "\x1f";
    return k;
  };
  if (cmp_axis >= 0 && cmp_det >= 0)
    for (size_t i = 0; i < runs.size(); ++i)
      if (runs[i].coords[size_t(cmp_axis)].to_string() == cmp.base) base_of[key_without(i)] = i;

  std::ostringstream os;
  std::vector<std::string> head;
  for (size_t a : cell_axes) head.push_back(spec.axes[a].name);
  for (const char* h : {"n_runs", "n_diverged", "n_failed"}) head.push_back(h);
  for (const auto& d : info.detectors)
    for (const char* h : {"frac_", "t_q25_", "t_median_", "t_q75_"}) head.push_back(h + d.name);
  if (cmp_axis >= 0 && cmp_det >= 0) head.push_back("speedup_" + cmp.detector + "_vs_" + cmp.base);
  head.push_back("median_final_loss");
  for (const auto& col : info.final_columns) head.push_back("median_" + col.name);
  row(os, head);
  // The median over a cell's runs that finished with a finite value.
  auto median_of = [&](size_t c, auto value) {
    std::vector<double> xs;
    for (size_t i : members[c]) {
      const RunResult& r = results[i];
      if (r.status != RunResult::kOk) continue;
      const double x = value(r);
      if (std::isfinite(x)) xs.push_back(x);
    }
    return num(quantile(xs, 0.5));
  };
  for (size_t c = 0; c < members.size(); ++c) {
    std::vector<std::string> f = keys[c];
    long div = 0, failed = 0;
    for (size_t i : members[c]) {
      div += results[i].status == RunResult::kDiverged;
      failed += results[i].status == RunResult::kFailed;
    }
    f.push_back(std::to_string(members[c].size()));
    f.push_back(std::to_string(div));
    f.push_back(std::to_string(failed));
    for (size_t d = 0; d < info.detectors.size(); ++d) {
      std::vector<double> ts;
      for (size_t i : members[c]) {
        const RunResult& r = results[i];
        if (r.detected_step(d) >= 0) ts.push_back(r.detected_time(d));
      }
      f.push_back(num(double(ts.size()) / double(members[c].size())));
      f.push_back(flow_time(quantile(ts, 0.25)));
      f.push_back(flow_time(quantile(ts, 0.5)));
      f.push_back(flow_time(quantile(ts, 0.75)));
    }
    if (cmp_axis >= 0 && cmp_det >= 0) {
      std::vector<double> ratios;
      for (size_t i : members[c]) {
        auto it = base_of.find(key_without(i));
        if (it == base_of.end()) continue;
        const double tb = results[it->second].detected_time(size_t(cmp_det));
        const double tr = results[i].detected_time(size_t(cmp_det));
        if (std::isfinite(tb) && std::isfinite(tr) && tr > 0) ratios.push_back(tb / tr);
      }
      f.push_back(num(quantile(ratios, 0.5)));
    }
    f.push_back(median_of(c, [](const RunResult& r) { return r.final_loss; }));
    for (size_t k = 0; k < info.final_columns.size(); ++k)
      f.push_back(median_of(c, [k](const RunResult& r) { return k < r.final_config.size() ? r.final_config[k] : NAN; }));
    row(os, f);
  }
  return os.str();
}

std::string trajectories_csv(const Spec& spec, const std::vector<RunPoint>& runs,
                             const std::vector<RunResult>& results) {
  const ModelInfo& info = spec.entry->info;
  std::ostringstream os;
  std::vector<std::string> head = {"run_id", "step", "t"};
  for (const auto& o : info.observables) head.push_back(o.name);
  row(os, head);
  for (size_t i = 0; i < runs.size(); ++i) {
    const Series& s = results[i].series;
    for (long r = 0; r < s.size(); ++r) {
      os << runs[i].id << "," << s.step[size_t(r)] << "," << flow_time(s.t[size_t(r)]);
      for (int o = 0; o < s.n_obs; ++o) os << "," << num(s.at(r, o));
      os << "\n";
    }
  }
  return os.str();
}

std::string final_config_csv(const Spec& spec, const std::vector<RunPoint>& runs,
                             const std::vector<RunResult>& results) {
  const ModelInfo& info = spec.entry->info;
  if (info.final_table.empty()) return "";
  std::ostringstream os;
  std::vector<std::string> head = {"run_id"};
  for (const auto& c : info.final_table) head.push_back(c.name);
  row(os, head);
  for (size_t i = 0; i < runs.size(); ++i)
    for (const auto& r : results[i].final_rows) {
      os << runs[i].id;
      for (double x : r) os << "," << num(x);
      os << "\n";
    }
  return os.str();
}

}  // namespace fs
