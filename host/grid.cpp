#include "host/grid.h"

#include "host/util.h"

namespace fs {

long grid_size(const Spec& spec) {
  long n = 1;
  for (const auto& a : spec.axes) {
    if (n > (1L << 40) / long(a.values.size())) throw InputError(spec.path + ": the grid has more than 2^40 runs");
    n *= long(a.values.size());
  }
  return n;
}

std::string run_id(const std::string& model, uint32_t sweep_seed, const Params& p) {
  std::string s = "model=" + model + ";sweep_seed=" + std::to_string(sweep_seed) + ";";
  for (const auto& [k, v] : p.all()) s += k + "=" + v.to_string() + ";";
  return hex64(fnv1a64(s));
}

std::vector<RunPoint> expand_grid(const Spec& spec) {
  const long n = grid_size(spec);
  std::vector<RunPoint> runs;
  runs.reserve(size_t(n));
  for (long idx = 0; idx < n; ++idx) {
    RunPoint rp;
    rp.index = idx;
    rp.params = spec.base;
    rp.coords.resize(spec.axes.size());
    long rest = idx;
    for (long a = long(spec.axes.size()) - 1; a >= 0; --a) {
      const auto& ax = spec.axes[size_t(a)];
      const long k = rest % long(ax.values.size());
      rest /= long(ax.values.size());
      rp.coords[size_t(a)] = ax.values[size_t(k)];
      rp.params.set(ax.name, ax.values[size_t(k)]);
    }
    try {
      spec.entry->check(rp.params);
    } catch (const ParamError& e) {
      auto it = spec.where.find(e.key);
      const std::string where = it != spec.where.end() ? it->second : spec.path;
      std::string point;
      for (size_t a = 0; a < spec.axes.size(); ++a)
        point += (a ? ", " : "") + spec.axes[a].name + "=" + rp.coords[a].to_string();
      throw InputError(where + ": key '" + spec.section_of(e.key) + "." + e.key + "': " + e.what() +
                       (point.empty() ? "" : " (at grid point " + point + ")"));
    }
    rp.id = run_id(spec.model, spec.sweep_seed, rp.params);
    runs.push_back(std::move(rp));
  }
  return runs;
}

std::vector<RunInput> grid_inputs(const Spec& spec) {
  std::vector<RunInput> in;
  for (const auto& r : expand_grid(spec)) in.push_back({r.params, spec.sweep_seed});
  return in;
}

}  // namespace fs
