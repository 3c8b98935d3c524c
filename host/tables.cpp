#include "host/tables.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "host/util.h"

namespace fs {

namespace {

void append_csv_field(std::string& out, const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) {
    out += s;
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// Numbers are appended in place: a row of a sweep of a million runs should not cost a string per field.
void append_num(std::string& out, double x) {  // empty for NaN, else format_double's text
  if (!std::isnan(x)) append_double(out, x);
}
std::string num(double x) {
  std::string s;
  append_num(s, x);
  return s;
}

// Flow time is steps * lr; 15 digits hide the rounding of that product (70 * 0.01 -> 0.7).
void append_flow_time(std::string& out, double t) {
  if (std::isnan(t)) return;
  char buf[32];  // as printf's %.15g
  const auto res = std::to_chars(buf, buf + sizeof buf, t, std::chars_format::general, 15);
  out.append(buf, res.ptr);
}
std::string flow_time(double t) {
  std::string s;
  append_flow_time(s, t);
  return s;
}

void append_int(std::string& out, long v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void row(std::string& out, const std::vector<std::string>& fields) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    append_csv_field(out, fields[i]);
  }
  out += '\n';
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

// --- runs.csv -------------------------------------------------------------------------------------

RunsCsv::RunsCsv(const Spec& spec) : spec_(spec) {
  const ModelInfo& info = spec.entry->info;
  std::vector<std::string> head = {"run_id"};
  for (const auto& a : spec.axes) head.push_back(a.name);
  for (const char* h : {"status", "steps", "t_final", "final_loss"}) head.push_back(h);
  for (const auto& d : info.detectors) head.push_back("t_" + d.name);
  for (const auto& d : info.detectors) head.push_back("step_" + d.name);
  for (size_t o = 0; o < info.observables.size(); ++o)
    if (std::find(head.begin(), head.end(), "final_" + info.observables[o].name) == head.end()) {
      head.push_back("final_" + info.observables[o].name);
      final_obs_.push_back(o);
    }
  for (const auto& c : info.final_columns) head.push_back(c.name);
  fs::row(header_, head);
}

void RunsCsv::row(std::string& out, const RunPoint& p, const RunResult& r) const {
  const ModelInfo& info = spec_.entry->info;
  append_csv_field(out, p.id);
  for (const auto& c : p.coords) out += ',', append_csv_field(out, c.to_string());
  out += ',', out += status_name(r.status);
  out += ',', append_int(out, r.steps);
  out += ',', append_flow_time(out, r.t_final);
  out += ',';
  if (r.status == RunResult::kOk)
    append_num(out, r.final_loss);
  else
    append_double(out, r.final_loss);  // a diverged run's loss says "nan" or "inf"
  for (size_t d = 0; d < info.detectors.size(); ++d) out += ',', append_flow_time(out, r.detected_time(d));
  for (size_t d = 0; d < info.detectors.size(); ++d) {
    out += ',';
    if (r.detected_step(d) >= 0) append_int(out, r.detected_step(d));
  }
  for (size_t o : final_obs_) {
    out += ',';
    if (o < r.final_obs.size()) append_num(out, r.final_obs[o]);
  }
  for (size_t c = 0; c < info.final_columns.size(); ++c) {
    out += ',';
    if (c < r.final_config.size()) append_num(out, r.final_config[c]);
  }
  out += '\n';
}

// --- phase_diagram.csv ----------------------------------------------------------------------------

PhaseDiagram::PhaseDiagram(const Spec& spec)
    : spec_(spec), n_det_(spec.entry->info.detectors.size()), n_final_(spec.entry->info.final_columns.size()) {
  const ModelInfo& info = spec.entry->info;
  for (size_t a = 0; a < spec.axes.size(); ++a)
    if (spec.axes[a].name != "seed") cell_axes_.push_back(a);
  // A comparison across one axis: the run of the base value with the same seed and other coordinates.
  const auto& cmp = info.comparison;
  for (size_t a = 0; a < spec.axes.size(); ++a)
    if (!cmp.axis.empty() && spec.axes[a].name == cmp.axis) cmp_axis_ = long(a);
  for (size_t d = 0; d < info.detectors.size(); ++d)
    if (info.detectors[d].name == cmp.detector) cmp_det_ = long(d);
  if (cmp_det_ < 0) cmp_axis_ = -1;
}

void PhaseDiagram::add(const RunPoint& p, const RunResult& r) {
  const size_t i = status_.size();
  std::vector<std::string> key;
  std::string k;
  for (size_t a : cell_axes_) {
    key.push_back(p.coords[a].to_string());
    k += key.back() + "\x1f";
  }
  auto [it, fresh] = cell_of_.emplace(k, members_.size());
  if (fresh) {
    members_.emplace_back();
    keys_.push_back(key);
  }
  members_[it->second].push_back(i);
  status_.push_back((unsigned char)r.status);
  for (size_t d = 0; d < n_det_; ++d) t_det_.push_back(r.detected_step(d) >= 0 ? r.detected_time(d) : NAN);
  final_loss_.push_back(r.final_loss);
  for (size_t c = 0; c < n_final_; ++c) finals_.push_back(c < r.final_config.size() ? r.final_config[c] : NAN);
  if (cmp_axis_ >= 0) {
    std::string kw;
    for (size_t a = 0; a < spec_.axes.size(); ++a)
      if (long(a) != cmp_axis_) kw += p.coords[a].to_string() + "\x1f";
    if (p.coords[size_t(cmp_axis_)].to_string() == spec_.entry->info.comparison.base) base_of_[kw] = i;
    cmp_key_.push_back(std::move(kw));
  }
}

std::string PhaseDiagram::csv() const {
  const ModelInfo& info = spec_.entry->info;
  std::string out;
  std::vector<std::string> head;
  for (size_t a : cell_axes_) head.push_back(spec_.axes[a].name);
  for (const char* h : {"n_runs", "n_diverged", "n_failed"}) head.push_back(h);
  for (const auto& d : info.detectors)
    for (const char* h : {"frac_", "t_q25_", "t_median_", "t_q75_"}) head.push_back(h + d.name);
  if (cmp_axis_ >= 0) head.push_back("speedup_" + info.comparison.detector + "_vs_" + info.comparison.base);
  head.push_back("median_final_loss");
  for (const auto& col : info.final_columns)
    if (col.cell != FinalColumn::kNone)
      head.push_back((col.cell == FinalColumn::kFraction ? "frac_" : "median_") + col.name);
  row(out, head);
  // The median over a cell's runs that finished with a finite value.
  auto median_of = [&](size_t c, auto value) {
    std::vector<double> xs;
    for (size_t i : members_[c]) {
      if (status_[i] != RunResult::kOk) continue;
      const double x = value(i);
      if (std::isfinite(x)) xs.push_back(x);
    }
    return num(quantile(xs, 0.5));
  };
  // The share of a cell's finished runs, with the column known, where it is 1.
  auto fraction_of = [&](size_t c, auto value) {
    long ones = 0, known = 0;
    for (size_t i : members_[c]) {
      if (status_[i] != RunResult::kOk) continue;
      const double x = value(i);
      if (std::isnan(x)) continue;
      ++known;
      ones += x == 1.0;
    }
    return known ? num(double(ones) / double(known)) : std::string();
  };
  for (size_t c = 0; c < members_.size(); ++c) {
    std::vector<std::string> f = keys_[c];
    long div = 0, failed = 0;
    for (size_t i : members_[c]) {
      div += status_[i] == RunResult::kDiverged;
      failed += status_[i] == RunResult::kFailed;
    }
    f.push_back(std::to_string(members_[c].size()));
    f.push_back(std::to_string(div));
    f.push_back(std::to_string(failed));
    for (size_t d = 0; d < n_det_; ++d) {
      std::vector<double> ts;
      for (size_t i : members_[c])
        if (!std::isnan(t_det_[i * n_det_ + d])) ts.push_back(t_det_[i * n_det_ + d]);
      f.push_back(num(double(ts.size()) / double(members_[c].size())));
      f.push_back(flow_time(quantile(ts, 0.25)));
      f.push_back(flow_time(quantile(ts, 0.5)));
      f.push_back(flow_time(quantile(ts, 0.75)));
    }
    if (cmp_axis_ >= 0) {
      std::vector<double> ratios;
      for (size_t i : members_[c]) {
        auto it = base_of_.find(cmp_key_[i]);
        if (it == base_of_.end()) continue;
        const double tb = t_det_[it->second * n_det_ + size_t(cmp_det_)];
        const double tr = t_det_[i * n_det_ + size_t(cmp_det_)];
        if (std::isfinite(tb) && std::isfinite(tr) && tr > 0) ratios.push_back(tb / tr);
      }
      f.push_back(num(quantile(ratios, 0.5)));
    }
    f.push_back(median_of(c, [&](size_t i) { return final_loss_[i]; }));
    for (size_t k = 0; k < n_final_; ++k) {
      const auto column = [&](size_t i) { return finals_[i * n_final_ + k]; };
      switch (info.final_columns[k].cell) {
        case FinalColumn::kMedian:
          f.push_back(median_of(c, column));
          break;
        case FinalColumn::kFraction:
          f.push_back(fraction_of(c, column));
          break;
        case FinalColumn::kNone:
          break;
      }
    }
    row(out, f);
  }
  return out;
}

// --- series and final configurations --------------------------------------------------------------

std::string trajectories_header(const Spec& spec) {
  std::string out;
  std::vector<std::string> head = {"run_id", "step", "t"};
  for (const auto& o : spec.entry->info.observables) head.push_back(o.name);
  row(out, head);
  return out;
}

void trajectory_rows(std::string& out, const RunPoint& p, const RunResult& r) {
  const Series& s = r.series;
  for (long k = 0; k < s.size(); ++k) {
    out += p.id;
    out += ',';
    append_int(out, s.step[size_t(k)]);
    out += ',';
    append_flow_time(out, s.t[size_t(k)]);
    for (int o = 0; o < s.n_obs; ++o) {
      out += ',';
      append_num(out, s.at(k, o));
    }
    out += '\n';
  }
}

std::string final_config_header(const Spec& spec) {
  const ModelInfo& info = spec.entry->info;
  if (info.final_table.empty()) return "";
  std::string out;
  std::vector<std::string> head = {"run_id"};
  for (const auto& c : final_table_columns(info)) head.push_back(c.name);
  row(out, head);
  return out;
}

void final_config_rows(std::string& out, const RunPoint& p, const RunResult& r) {
  for (const auto& fr : r.final_rows) {
    out += p.id;
    for (double x : fr) {
      out += ',';
      append_num(out, x);
    }
    out += '\n';
  }
}

// --- whole tables ---------------------------------------------------------------------------------

std::string runs_csv(const Spec& spec, const std::vector<RunPoint>& runs, const std::vector<RunResult>& results) {
  const RunsCsv t(spec);
  std::string out = t.header();
  for (size_t i = 0; i < runs.size(); ++i) t.row(out, runs[i], results[i]);
  return out;
}

std::string phase_diagram_csv(const Spec& spec, const std::vector<RunPoint>& runs,
                              const std::vector<RunResult>& results) {
  PhaseDiagram pd(spec);
  for (size_t i = 0; i < runs.size(); ++i) pd.add(runs[i], results[i]);
  return pd.csv();
}

std::string trajectories_csv(const Spec& spec, const std::vector<RunPoint>& runs,
                             const std::vector<RunResult>& results) {
  std::string out = trajectories_header(spec);
  for (size_t i = 0; i < runs.size(); ++i) trajectory_rows(out, runs[i], results[i]);
  return out;
}

std::string final_config_csv(const Spec& spec, const std::vector<RunPoint>& runs,
                             const std::vector<RunResult>& results) {
  std::string out = final_config_header(spec);
  if (out.empty()) return out;
  for (size_t i = 0; i < runs.size(); ++i) final_config_rows(out, runs[i], results[i]);
  return out;
}

}  // namespace fs
