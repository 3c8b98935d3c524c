#include "host/grid.h"

#include <algorithm>
#include <limits>

#include "host/util.h"

namespace fs {

std::string run_id(const std::string& model, uint32_t sweep_seed, const Params& p) {
  std::string s = "model=" + model + ";sweep_seed=" + std::to_string(sweep_seed) + ";";
  for (const auto& [k, v] : p.all()) s += k + "=" + v.to_string() + ";";
  return hex64(fnv1a64(s));
}

Grid::Grid(const Spec& spec) : spec_(spec), base_(spec.base.shared()) {
  // Count first: a grid too large to run says so at once, naming its axes.
  double n = 1;
  std::string shape;
  for (size_t a = 0; a < spec.axes.size(); ++a) {
    n *= double(spec.axes[a].values.size());
    shape += (a ? " x " : "") + spec.axes[a].name + " " + std::to_string(spec.axes[a].values.size());
    if (spec.axes[a].name == "seed") seed_axis_ = long(a), seed_count_ = long(spec.axes[a].values.size());
  }
  if (n > double(kMaxGridRuns))
    throw InputError(spec.path + ": the grid has " + format_double(n) + " runs (" + shape + "), more than the " +
                     std::to_string(kMaxGridRuns) + " one sweep can hold; split it into several sweeps");
  size_ = long(n);
  // Without a seed axis a cell is a run, and every cell one block.
  seed_stride_ = 1;
  for (size_t a = size_t(seed_axis_ + 1); a < spec.axes.size(); ++a) seed_stride_ *= long(spec.axes[a].values.size());
  seed_stride_ = std::max(seed_stride_, 1L);

  // Check every cell once: a model's parameters are checked without its seed, so the seed axis need
  // not be walked; nor need it be for the totals, as a run's seed changes none of its shape.
  const long cells = n_cells();
  const double seeds = double(seed_count_);
  Totals& t = totals_;
  t.min_steps = cells > 0 ? std::numeric_limits<long>::max() : 0;
  for (long c = 0; c < cells; ++c) {
    const auto co = coords(first_of_cell(c));
    RunShape s;
    try {
      s = spec.entry->shape(params(co));
    } catch (const ParamError& e) {
      auto it = spec.where.find(e.key);
      const std::string where = it != spec.where.end() ? it->second : spec.path;
      std::string at;
      for (size_t a = 0; a < spec.axes.size(); ++a)
        if (long(a) != seed_axis_) at += (at.empty() ? "" : ", ") + spec.axes[a].name + "=" + co[a].to_string();
      throw InputError(where + ": key '" + spec.section_of(e.key) + "." + e.key + "': " + e.what() +
                       (at.empty() ? "" : " (at grid point " + at + ")"));
    }
    t.min_steps = std::min(t.min_steps, s.steps), t.max_steps = std::max(t.max_steps, s.steps);
    t.max_records = std::max(t.max_records, s.records);
    t.max_table_rows = std::max(t.max_table_rows, s.sizes.n_table_rows);
    t.steps += double(s.steps) * seeds, t.records += double(s.records) * seeds;
    t.table_rows += double(s.sizes.n_table_rows) * seeds;
    t.theta += double(s.sizes.n_theta) * seeds, t.fixed += double(s.sizes.n_fixed) * seeds;
    t.rdata += double(s.sizes.n_rdata) * seeds, t.idata += double(s.sizes.n_idata) * seeds;
  }

  // The pieces of run_id's text: every resolved key in order, the swept ones filled in per run.
  Params keys = spec.base;
  for (const auto& a : spec.axes) keys.set(a.name, a.values.front());
  id_pieces_.push_back({"model=" + spec.model + ";sweep_seed=" + std::to_string(spec.sweep_seed) + ";", -1});
  for (const auto& [k, v] : keys.all()) {
    long axis = -1;
    for (size_t a = 0; a < spec.axes.size(); ++a)
      if (spec.axes[a].name == k) axis = long(a);
    if (axis >= 0) {
      id_pieces_.push_back({k + "=", axis});
    } else if (id_pieces_.back().axis < 0) {
      id_pieces_.back().text += k + "=" + v.to_string() + ";";
    } else {
      id_pieces_.push_back({k + "=" + v.to_string() + ";", -1});
    }
  }
  id_basis_ = fnv1a64(id_pieces_.front().text);  // model and sweep seed, and the keys before the first axis
}

std::string Grid::id(long index) const { return id_of(coords(index)); }

// run_id's hash over its text piece by piece: the fixed keys' text once made, the axes' values filled
// in. The hash runs over the text in order, so the piece before the first axis is hashed once, here.
std::string Grid::id_of(const std::vector<Value>& coords) const {
  uint64_t h = id_basis_;
  for (size_t k = 1; k < id_pieces_.size(); ++k) {
    const IdPiece& p = id_pieces_[k];
    h = fnv1a64(p.text, h);
    if (p.axis >= 0) h = fnv1a64(coords[size_t(p.axis)].to_string() + ';', h);
  }
  return hex64(h);
}

RunPoint Grid::label(long index) const {
  RunPoint rp;
  rp.index = index;
  rp.coords = coords(index);
  rp.id = id_of(rp.coords);
  return rp;
}

std::vector<Value> Grid::coords(long index) const {
  std::vector<Value> out(spec_.axes.size());
  for (long a = long(spec_.axes.size()) - 1; a >= 0; --a) {
    const auto& ax = spec_.axes[size_t(a)];
    out[size_t(a)] = ax.values[size_t(index % long(ax.values.size()))];
    index /= long(ax.values.size());
  }
  return out;
}

long Grid::cell(long index) const {
  // index = (block * seeds + k) * stride + within, and cell = block * stride + within (run_of)
  return index / (seed_count_ * seed_stride_) * seed_stride_ + index % seed_stride_;
}

Params Grid::params(const std::vector<Value>& coords) const {
  Params p = base_;
  for (size_t a = 0; a < spec_.axes.size(); ++a) p.set(spec_.axes[a].name, coords[a]);
  return p;
}

RunPoint Grid::point(long index) const {
  RunPoint rp = label(index);  // its id is run_id of the parameters, without formatting every fixed key again
  rp.params = params(rp.coords);
  return rp;
}

std::vector<RunPoint> expand_grid(const Spec& spec) {
  const Grid grid(spec);
  std::vector<RunPoint> runs;
  runs.reserve(size_t(grid.size()));
  for (long i = 0; i < grid.size(); ++i) runs.push_back(grid.point(i));
  return runs;
}

std::vector<RunInput> grid_inputs(const Spec& spec) {
  std::vector<RunInput> in;
  for (const auto& r : expand_grid(spec)) in.push_back({r.params, spec.sweep_seed});
  return in;
}

std::string Grid::name(long index) const {
  const RunPoint p = label(index);
  std::string s = p.id + " (";
  for (size_t a = 0; a < spec_.axes.size(); ++a)
    s += (a ? ", " : "") + spec_.axes[a].name + "=" + p.coords[a].to_string();
  return s + ")";
}

}  // namespace fs
