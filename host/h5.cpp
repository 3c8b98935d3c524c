#include "host/h5.h"

#include <fcntl.h>

#include <hdf5.h>
#include <hdf5_hl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <memory>

#include "host/util.h"

namespace fs {

namespace {

// HDF5 closes its open files when the process exits. After a failed write (a full disk) a file it could
// not flush stays open inside the library, and 1.10's closing of it at exit crashes; the process needs
// none of that work, since a failed file is removed and a good one was closed before it was renamed.
const bool kNoCloseAtExit = (H5dont_atexit(), true);

// Closes an HDF5 handle when it leaves scope.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t), const std::string& what) : id_(id), close_(close) {
    if (id < 0) throw RuntimeError("HDF5: cannot create " + what);
  }
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  operator hid_t() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

void check(herr_t rc, const std::string& what) {
  if (rc < 0) throw RuntimeError("HDF5: " + what + " failed");
}

void attr_string(hid_t obj, const char* name, const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
  check(H5Tset_size(type, value.empty() ? 1 : value.size()), "set string size");
  check(H5Tset_cset(type, H5T_CSET_UTF8), "set charset");
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, "scalar space");
  Handle a(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, std::string("attribute ") + name);
  check(H5Awrite(a, type, value.empty() ? "" : value.c_str()), std::string("write attribute ") + name);
}

// A file whose attributes live in dense storage (HDF5 1.8 format and later): the spec is an attribute,
// and a compact attribute holds at most 64 KB.
hid_t create_file(const std::string& path) {
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose, "file creation properties");
  check(H5Pset_attr_phase_change(fcpl, 0, 0), "dense attribute storage");
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "file access properties");
  check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST), "file format bounds");
  return H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, fapl);
}

template <typename T>
hid_t mem_type();
template <>
hid_t mem_type<double>() {
  return H5T_NATIVE_DOUBLE;
}
template <>
hid_t mem_type<long>() {
  return H5T_NATIVE_LONG;
}
template <>
hid_t mem_type<int>() {
  return H5T_NATIVE_INT;
}

// A dataset of the given shape; returns its id (caller closes).
template <typename T>
hid_t write_array(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, const std::vector<T>& data) {
  Handle space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose, "dataspace of " + name);
  const hid_t file_type = std::is_same<T, double>::value ? H5T_IEEE_F64LE
                          : std::is_same<T, long>::value ? H5T_STD_I64LE
                                                         : H5T_STD_I32LE;
  const hid_t ds = H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (ds < 0) throw RuntimeError("HDF5: cannot create dataset " + name);
  if (!data.empty()) check(H5Dwrite(ds, mem_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), "write " + name);
  return ds;
}

// A dataset of UTF-8 strings; returns its id (caller closes).
hid_t write_strings(hid_t loc, const std::string& name, hid_t str_type, const std::vector<std::string>& data) {
  const hsize_t n = data.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose, "dataspace of " + name);
  const hid_t ds = H5Dcreate2(loc, name.c_str(), str_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (ds < 0) throw RuntimeError("HDF5: cannot create dataset " + name);
  std::vector<const char*> ptrs;
  for (const auto& x : data) ptrs.push_back(x.c_str());
  if (n > 0) check(H5Dwrite(ds, str_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "write " + name);
  return ds;
}

// The runs [first, first + n) of a dataset of shape (lead..., rest...), in C order over the lead
// dimensions, as at most 2 * lead.size() hyperslabs (start, count), each as large as the range's alignment
// allows, in the order of the runs: each is a run of consecutive elements of the memory buffer.
struct Hyperslab {
  std::vector<hsize_t> start, count;
};
std::vector<Hyperslab> run_hyperslabs(const std::vector<hsize_t>& dims, size_t n_lead, hsize_t first, hsize_t n) {
  std::vector<Hyperslab> out;
  std::vector<hsize_t> stride(n_lead + 1, 1);  // stride[j]: runs per step of lead dimension j - 1
  for (size_t j = n_lead; j-- > 0;) stride[j] = stride[j + 1] * dims[j];
  const hsize_t end = first + n;
  for (hsize_t pos = first; pos < end;) {
    for (size_t j = 0; j < n_lead; ++j) {
      const hsize_t inner = stride[j + 1];  // runs in one step of dimension j
      if (pos % inner != 0) continue;
      const hsize_t at = (pos / inner) % dims[j];
      const hsize_t steps = std::min(dims[j] - at, (end - pos) / inner);
      if (steps == 0) continue;
      Hyperslab h{std::vector<hsize_t>(dims.size(), 0), dims};
      for (size_t i = 0; i < n_lead; ++i) {
        h.start[i] = (pos / stride[i + 1]) % dims[i];
        h.count[i] = i < j ? 1 : i == j ? steps : dims[i];
      }
      out.push_back(std::move(h));
      pos += steps * inner;
      break;
    }
  }
  return out;
}

// A dataset of shape (lead..., rest...) written a block of runs at a time, the runs in C order over the
// lead dimensions (the grid's axes, or one `run` dimension): created whole, chunked to about `chunk_runs`
// runs, each block a union of hyperslabs.
class BlockDataset {
 public:
  BlockDataset(hid_t loc, const std::string& name, hid_t file_type, const std::vector<hsize_t>& lead,
               const std::vector<hsize_t>& rest, hsize_t chunk_runs)
      : name_(name), n_lead_(lead.size()) {
    dims_ = lead;
    dims_.insert(dims_.end(), rest.begin(), rest.end());
    Handle space(H5Screate_simple(int(dims_.size()), dims_.data(), nullptr), H5Sclose, "dataspace of " + name);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "properties of " + name);
    bool empty = false;
    for (hsize_t d : dims_) empty |= d == 0;
    if (!empty) {
      // Whole trailing lead dimensions while they fit, then part of the next: a block of consecutive runs
      // falls into few chunks.
      std::vector<hsize_t> chunk = dims_;
      hsize_t runs = 1;
      for (size_t j = n_lead_; j-- > 0;) {
        chunk[j] = std::max<hsize_t>(1, std::min<hsize_t>(dims_[j], chunk_runs / runs));
        runs *= chunk[j];
      }
      check(H5Pset_chunk(dcpl, int(chunk.size()), chunk.data()), "chunk " + name);
      // Every chunk of numbers carries its own checksum, which HDF5 checks on every read.
      if (H5Tget_class(file_type) != H5T_STRING) check(H5Pset_fletcher32(dcpl), "checksum " + name);
    }
    id_ = H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (id_ < 0) throw RuntimeError("HDF5: cannot create dataset " + name);
  }
  ~BlockDataset() {
    if (id_ >= 0) H5Dclose(id_);
  }
  BlockDataset(const BlockDataset&) = delete;
  BlockDataset& operator=(const BlockDataset&) = delete;
  operator hid_t() const { return id_; }

  // Runs [first, first + n) from `data` (n runs of the dataset's per-run shape), one write per hyperslab
  // through a memory space of the hyperslab's own shape: HDF5 then maps whole chunks at once, where a
  // memory space of another shape has it visit every element.
  void write(hsize_t first, hsize_t n, hid_t mem, const void* data) {
    if (n == 0) return;
    Handle file_space(H5Dget_space(id_), H5Sclose, "dataspace of " + name_);
    const size_t word = H5Tget_size(mem);
    const char* at = static_cast<const char*>(data);
    for (const Hyperslab& h : run_hyperslabs(dims_, n_lead_, first, n)) {
      check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, h.start.data(), nullptr, h.count.data(), nullptr),
            "select runs of " + name_);
      Handle mem_space(H5Screate_simple(int(h.count.size()), h.count.data(), nullptr), H5Sclose,
                       "memory space of " + name_);
      check(H5Dwrite(id_, mem, mem_space, file_space, H5P_DEFAULT, at), "write " + name_);
      hsize_t elements = 1;
      for (hsize_t c : h.count) elements *= c;
      at += elements * word;
    }
  }

 private:
  std::string name_;
  size_t n_lead_;
  std::vector<hsize_t> dims_;
  hid_t id_ = -1;
};

hid_t utf8_strings() {
  const hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

std::string axis_doc(const Axis& a) { return "grid axis " + a.name + " (" + a.kind + ", [" + a.section + "])"; }

// An axis whose values are all whole numbers is stored as integers (m = 16, not 16.0).
bool integral(const Axis& a) {
  for (const auto& v : a.values)
    if (v.is_str || !(std::fabs(v.num) <= 9007199254740992.0) || v.num != std::floor(v.num)) return false;
  return !a.values.empty();
}

}  // namespace

struct TrajectoriesH5::Impl {
  const Spec& spec;
  const ModelInfo& info;
  std::string path, tmp;
  hsize_t R, K, rows, F;
  bool save_params;
  bool grid_layout;           // lead dimensions: the grid's axes (else one `run` dimension)
  std::vector<hsize_t> lead;  // the lead dimensions' sizes
  hsize_t written = 0;        // runs written
  hsize_t block;              // runs per block
  Handle file;
  Handle str_type;
  std::vector<hid_t> scales;  // (lead.size()): the lead dimensions' scales
  hid_t rec_id = -1;
  struct Numeric {
    std::unique_ptr<BlockDataset> ds;
    std::vector<double> buf;
  };
  struct Strings {
    std::unique_ptr<BlockDataset> ds;
    std::vector<std::string> buf;
  };
  Strings ids, status;
  std::vector<Strings> str_axes;  // runs layout: the axes as coordinates over `run`
  std::vector<Numeric> num_axes;
  Numeric steps, t_final, n_records, final_table;
  std::vector<Numeric> t_det, finals, series;  // series: step, t, then each observable
  std::unique_ptr<Handle> params_group;

  Impl(const std::string& p, const Spec& s, long n_runs, long n_rec, long n_rows, bool save)
      : spec(s),
        info(s.entry->info),
        path(p),
        tmp(p + ".tmp." + std::to_string(::getpid())),
        R(hsize_t(n_runs)),
        K(hsize_t(n_rec)),
        rows(hsize_t(n_rows)),
        F(final_table_columns(s.entry->info).size()),
        save_params(save),
        file((H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr), create_file(tmp)), H5Fclose, tmp),
        str_type(utf8_strings(), H5Tclose, "string type") {
    hsize_t grid_runs = 1;
    for (const auto& a : spec.axes) grid_runs *= hsize_t(a.values.size());
    grid_layout = !spec.axes.empty() && grid_runs == R;
    // Blocks of runs whose records make chunks of about 1 MB per variable.
    block = std::max<hsize_t>(1, std::min<hsize_t>(1 << 16, (hsize_t(1) << 17) / std::max<hsize_t>(1, K)));
    attr_string(file, "model", spec.model);
    attr_string(file, "spec", spec.text);
    attr_string(file, "spec_hash", spec.hash());
    attr_string(file, "flowsweep_version", FLOWSWEEP_VERSION);
    attr_string(file, "paper", info.paper);
    attr_string(file, "layout", grid_layout ? "grid" : "runs");
    std::string axis_names;
    for (const auto& a : spec.axes) axis_names += (axis_names.empty() ? "" : " ") + dim_of(a.name);
    attr_string(file, "grid_axes", axis_names);

    if (grid_layout) {
      for (const auto& a : spec.axes) {
        lead.push_back(hsize_t(a.values.size()));
        hid_t d;
        if (a.values[0].is_str) {
          std::vector<std::string> v;
          for (const auto& x : a.values) v.push_back(x.str);
          d = write_strings(file, dim_of(a.name), str_type, v);
        } else if (integral(a)) {
          std::vector<long> v;
          for (const auto& x : a.values) v.push_back(long(x.num));
          d = write_array<long>(file, dim_of(a.name), {lead.back()}, v);
        } else {
          std::vector<double> v;
          for (const auto& x : a.values) v.push_back(x.num);
          d = write_array<double>(file, dim_of(a.name), {lead.back()}, v);
        }
        scales.push_back(d);
        check(H5DSset_scale(d, dim_of(a.name).c_str()), "dimension scale " + a.name);
        attr_string(d, "long_name", axis_doc(a));
      }
      ids.ds = lead_dataset("run_id", str_type, {});
      attr_string(*ids.ds, "long_name", "the run's id (runs.csv's run_id)");
    } else {
      lead = {R};
      ids.ds = std::make_unique<BlockDataset>(file, "run", str_type, lead, std::vector<hsize_t>{}, block);
      check(H5DSset_scale(*ids.ds, "run"), "dimension scale run");
      scales.push_back(H5Dopen2(file, "run", H5P_DEFAULT));
    }
    {
      std::vector<long> rec(K);
      for (hsize_t k = 0; k < K; ++k) rec[k] = long(k);
      Handle d(write_array<long>(file, "record", {K}, rec), H5Dclose, "record");
      check(H5DSset_scale(d, "record"), "dimension scale record");
      rec_id = H5Dopen2(file, "record", H5P_DEFAULT);
    }
    // A number per run, or with `series` a number per record of each run.
    auto variable = [&](Numeric& n, const std::string& name, const std::string& doc, const std::string& units,
                        bool series = false) {
      n.ds = lead_dataset(name, H5T_IEEE_F64LE, series ? std::vector<hsize_t>{K} : std::vector<hsize_t>{});
      if (series) check(H5DSattach_scale(*n.ds, rec_id, unsigned(lead.size())), "attach record to " + name);
      if (!doc.empty()) attr_string(*n.ds, "long_name", doc);
      if (!units.empty()) attr_string(*n.ds, "units", units);
    };
    if (!grid_layout) {  // the axes as coordinates over `run`, which a reader may unstack into the grid
      str_axes.resize(spec.axes.size());
      num_axes.resize(spec.axes.size());
      for (size_t a = 0; a < spec.axes.size(); ++a) {
        const auto& ax = spec.axes[a];
        if (ax.values[0].is_str)
          str_axes[a].ds = lead_dataset(dim_of(ax.name), str_type, {}, false);
        else
          num_axes[a].ds = lead_dataset(dim_of(ax.name), integral(ax) ? H5T_STD_I64LE : H5T_IEEE_F64LE, {}, false);
        attr_string(ax.values[0].is_str ? *str_axes[a].ds : *num_axes[a].ds, "long_name", axis_doc(ax));
      }
    }
    status.ds = lead_dataset(name_of("status"), str_type, {});
    attr_string(*status.ds, "long_name", "ok | diverged | failed | missing | cancelled");
    variable(steps, name_of("steps"), "optimiser steps taken", "steps");
    variable(t_final, name_of("t_final"), "flow time reached", kFlowTime);
    variable(n_records, name_of("n_records"), "records of the run (the rest of its series is NaN)", "");
    t_det.resize(info.detectors.size());
    for (size_t d = 0; d < info.detectors.size(); ++d)
      variable(t_det[d], name_of("t_" + info.detectors[d].name), info.detectors[d].doc + " (NaN: never)", kFlowTime);
    finals.resize(info.final_columns.size());
    for (size_t c = 0; c < info.final_columns.size(); ++c)
      variable(finals[c], name_of(info.final_columns[c].name), info.final_columns[c].doc, "");
    series.resize(info.observables.size() + 2);
    variable(series[0], name_of("step"), "optimiser step of the record", "steps", true);
    variable(series[1], name_of("t"), "flow time of the record", kFlowTime, true);
    for (size_t o = 0; o < info.observables.size(); ++o)
      variable(series[o + 2], name_of(info.observables[o].name), info.observables[o].doc, "", true);
    if (F > 0) {
      final_table.ds = lead_dataset(name_of("final_table"), H5T_IEEE_F64LE, {rows, F});
      // Every dimension labelled, as xarray needs: the row within a run, and the field by name.
      std::vector<long> row_index(rows);
      for (hsize_t q = 0; q < rows; ++q) row_index[q] = long(q);
      Handle row_scale(write_array<long>(file, "final_row", {rows}, row_index), H5Dclose, "final_row");
      check(H5DSset_scale(row_scale, "final_row"), "dimension scale final_row");
      check(H5DSattach_scale(*final_table.ds, row_scale, unsigned(lead.size())), "attach final_row to final_table");
      std::vector<std::string> names;
      const std::vector<NamedDoc> columns = final_table_columns(info);
      for (const auto& c : columns) names.push_back(c.name);
      Handle field_scale(write_strings(file, "final_field", str_type, names), H5Dclose, "final_field");
      check(H5DSset_scale(field_scale, "final_field"), "dimension scale final_field");
      check(H5DSattach_scale(*final_table.ds, field_scale, unsigned(lead.size()) + 1),
            "attach final_field to final_table");
      std::string fields;
      for (const auto& c : columns) fields += (fields.empty() ? "" : ",") + c.name;
      attr_string(*final_table.ds, "fields", fields);
      attr_string(*final_table.ds, "long_name",
                  "attention configuration: final_config.csv's rows of each run (the final table, "
                  "then the weight at each detector's answer and its step), NaN past a run's last row");
    }
    if (save_params) {
      params_group = std::make_unique<Handle>(H5Gcreate2(file, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                              H5Gclose, "group params");
      attr_string(*params_group, "layout", "flat vectors in the model's own layout; see kernels/<model>.h");
    }
  }
  ~Impl() {
    if (rec_id >= 0) H5Dclose(rec_id);
    for (hid_t s : scales) H5Dclose(s);
  }

  static constexpr const char* kFlowTime = "flow time (sum of the base learning rate over steps)";

  // An axis' dimension: its key, unless the file's own dimensions have that name (a sweep over `record`,
  // the recording schedule): then `<key>_axis`.
  static std::string dim_of(const std::string& key) {
    for (const char* own : {"run", "run_id", "record", "final_row", "final_field"})
      if (key == own) return key + "_axis";
    return key;
  }

  // A variable's name, unless a grid axis has it (a sweep over `steps`): then `<name>_of_run`.
  std::string name_of(const std::string& name) const {
    for (const auto& a : spec.axes)
      if (dim_of(a.name) == name) return name + "_of_run";
    return name;
  }

  // A variable over the lead dimensions and then `rest`, its lead dimensions labelled.
  // In the runs layout a variable names the axes as its coordinates, so that they travel with it.
  std::unique_ptr<BlockDataset> lead_dataset(const std::string& name, hid_t type, const std::vector<hsize_t>& rest,
                                             bool with_coordinates = true) {
    auto ds = std::make_unique<BlockDataset>(file, name, type, lead, rest, block);
    for (size_t j = 0; j < scales.size(); ++j)
      check(H5DSattach_scale(*ds, scales[j], unsigned(j)), "attach a dimension to " + name);
    if (!grid_layout && !spec.axes.empty() && with_coordinates) {
      std::string coords;
      for (const auto& a : spec.axes) coords += (coords.empty() ? "" : " ") + dim_of(a.name);
      attr_string(*ds, "coordinates", coords);
    }
    return ds;
  }

  void add(const RunPoint& p, const RunResult& r) {
    ids.buf.push_back(p.id);
    for (size_t a = 0; a < str_axes.size(); ++a) {
      if (str_axes[a].ds)
        str_axes[a].buf.push_back(p.coords[a].str);
      else
        num_axes[a].buf.push_back(p.coords[a].num);
    }
    status.buf.push_back(status_name(r.status));
    steps.buf.push_back(double(r.steps));
    t_final.buf.push_back(r.t_final);
    n_records.buf.push_back(double(r.series.size()));
    for (size_t d = 0; d < t_det.size(); ++d) t_det[d].buf.push_back(r.detected_time(d));
    for (size_t c = 0; c < finals.size(); ++c)
      finals[c].buf.push_back(c < r.final_config.size() ? r.final_config[c] : NAN);
    for (auto& s : series) s.buf.resize(s.buf.size() + K, NAN);
    const size_t base = series[0].buf.size() - K;
    for (long k = 0; k < r.series.size() && hsize_t(k) < K; ++k) {
      series[0].buf[base + size_t(k)] = double(r.series.step[size_t(k)]);
      series[1].buf[base + size_t(k)] = r.series.t[size_t(k)];
      for (int o = 0; o < r.series.n_obs && size_t(o) + 2 < series.size(); ++o)
        series[size_t(o) + 2].buf[base + size_t(k)] = r.series.at(k, o);
    }
    if (F > 0) {
      const size_t fb = final_table.buf.size();
      final_table.buf.resize(fb + rows * F, NAN);
      for (size_t q = 0; q < r.final_rows.size() && q < rows; ++q)
        for (size_t f = 0; f < F && f < r.final_rows[q].size(); ++f)
          final_table.buf[fb + q * F + f] = r.final_rows[q][f];
    }
    if (save_params) {
      Handle g(H5Gcreate2(*params_group, p.id.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
               "group params/" + p.id);
      H5Dclose(write_array<double>(g, "theta_initial", {hsize_t(r.saved.theta0.size())}, r.saved.theta0));
      H5Dclose(write_array<double>(g, "theta_final", {hsize_t(r.saved.theta.size())}, r.saved.theta));
      H5Dclose(write_array<double>(g, "fixed", {hsize_t(r.saved.fixed.size())}, r.saved.fixed));
      H5Dclose(write_array<int>(g, "data_int", {hsize_t(r.saved.idata.size())}, r.saved.idata));
      H5Dclose(write_array<double>(g, "data_real", {hsize_t(r.saved.rdata.size())}, r.saved.rdata));
    }
    if (ids.buf.size() >= block) flush();
  }

  void flush() {
    const hsize_t n = ids.buf.size();
    if (n == 0) return;
    if (written + n > R) throw RuntimeError("HDF5: more runs than " + path + " was made for");
    auto strings = [&](Strings& s) {
      if (!s.ds) return;
      std::vector<const char*> ptrs;
      for (const auto& v : s.buf) ptrs.push_back(v.c_str());
      s.ds->write(written, n, str_type, ptrs.data());
      s.buf.clear();
    };
    auto numbers = [&](Numeric& x) {
      if (!x.ds) return;
      x.ds->write(written, n, H5T_NATIVE_DOUBLE, x.buf.data());
      x.buf.clear();
    };
    strings(ids);
    for (auto& a : str_axes) strings(a);
    for (auto& a : num_axes) numbers(a);
    strings(status);
    numbers(steps);
    numbers(t_final);
    numbers(n_records);
    for (auto& x : t_det) numbers(x);
    for (auto& x : finals) numbers(x);
    for (auto& x : series) numbers(x);
    numbers(final_table);
    written += n;
  }
};

TrajectoriesH5::TrajectoriesH5(const std::string& path, const Spec& spec, long n_runs, long n_records,
                               long n_final_rows, bool save_params) {
  try {
    impl_ = std::make_unique<Impl>(path, spec, n_runs, n_records, n_final_rows, save_params);
  } catch (...) {
    std::remove((path + ".tmp." + std::to_string(::getpid())).c_str());
    throw;
  }
}

TrajectoriesH5::~TrajectoriesH5() {
  if (impl_) {
    const std::string tmp = impl_->tmp;
    impl_.reset();
    std::remove(tmp.c_str());
  }
}

void TrajectoriesH5::add(const RunPoint& p, const RunResult& r) { impl_->add(p, r); }

void TrajectoriesH5::commit() {
  impl_->flush();
  if (impl_->written != impl_->R)
    throw RuntimeError("HDF5: " + impl_->path + " holds " + std::to_string(impl_->written) + " of " +
                       std::to_string(impl_->R) + " runs");
  check(H5Fflush(impl_->file, H5F_SCOPE_GLOBAL), "flush " + impl_->tmp);
  const std::string tmp = impl_->tmp, path = impl_->path;
  impl_.reset();  // closes the file
  // HDF5's flush hands the data to the operating system; the file is made durable before it takes the
  // place of the previous one.
  const int fd = ::open(tmp.c_str(), O_RDONLY);
  const bool synced = fd >= 0 && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!synced) {
    std::remove(tmp.c_str());
    throw RuntimeError("cannot sync " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw RuntimeError("cannot rename " + tmp + " to " + path);
  }
  sync_dir_of(path);
}

}  // namespace fs
