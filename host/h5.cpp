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

// A dataset of shape (R, ...) written a block of runs at a time: created whole, chunked along the run
// dimension, each block a hyperslab.
class BlockDataset {
 public:
  // Chunks of `chunk_rows` runs: a block written whole is whole chunks, each written once.
  BlockDataset(hid_t loc, const std::string& name, hid_t file_type, std::vector<hsize_t> dims, hsize_t chunk_rows)
      : name_(name), dims_(std::move(dims)) {
    Handle space(H5Screate_simple(int(dims_.size()), dims_.data(), nullptr), H5Sclose, "dataspace of " + name);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "properties of " + name);
    bool empty = false;
    for (hsize_t d : dims_) empty |= d == 0;
    if (!empty) {
      std::vector<hsize_t> chunk = dims_;
      chunk[0] = std::max<hsize_t>(1, std::min<hsize_t>(dims_[0], chunk_rows));
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

  // Rows [first, first + n) from `data` (n rows of the dataset's row shape).
  void write(hsize_t first, hsize_t n, hid_t mem, const void* data) {
    if (n == 0) return;
    std::vector<hsize_t> start(dims_.size(), 0), count = dims_;
    start[0] = first, count[0] = n;
    Handle file_space(H5Dget_space(id_), H5Sclose, "dataspace of " + name_);
    check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
          "select " + name_);
    Handle mem_space(H5Screate_simple(int(count.size()), count.data(), nullptr), H5Sclose, "memory space of " + name_);
    check(H5Dwrite(id_, mem, mem_space, file_space, H5P_DEFAULT, data), "write " + name_);
  }

 private:
  std::string name_;
  std::vector<hsize_t> dims_;
  hid_t id_ = -1;
};

hid_t utf8_strings() {
  const hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

}  // namespace

struct TrajectoriesH5::Impl {
  const Spec& spec;
  const ModelInfo& info;
  std::string path, tmp;
  hsize_t R, K, rows, F;
  bool save_params;
  hsize_t written = 0;  // runs written
  hsize_t block;        // runs per block
  Handle file;
  Handle str_type;
  std::unique_ptr<BlockDataset> run_dim, rec_dim;
  struct Numeric {
    std::unique_ptr<BlockDataset> ds;
    std::vector<double> buf;
  };
  struct Strings {
    std::unique_ptr<BlockDataset> ds;
    std::vector<std::string> buf;
  };
  Strings ids, status;
  std::vector<Strings> str_axes;
  std::vector<Numeric> num_axes;  // one per axis; unused where the axis is strings
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
        F(s.entry->info.final_table.size()),
        save_params(save),
        file((H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr), create_file(tmp)), H5Fclose, tmp),
        str_type(utf8_strings(), H5Tclose, "string type") {
    // Blocks of runs whose records make chunks of about 1 MB per variable.
    block = std::max<hsize_t>(1, std::min<hsize_t>(1 << 16, (hsize_t(1) << 17) / std::max<hsize_t>(1, K)));
    attr_string(file, "model", spec.model);
    attr_string(file, "spec", spec.text);
    attr_string(file, "spec_hash", spec.hash());
    attr_string(file, "flowsweep_version", FLOWSWEEP_VERSION);
    attr_string(file, "paper", info.paper);

    ids.ds = std::make_unique<BlockDataset>(file, "run", str_type, std::vector<hsize_t>{R}, block);
    check(H5DSset_scale(*ids.ds, "run"), "dimension scale run");
    {
      std::vector<long> rec(K);
      for (hsize_t k = 0; k < K; ++k) rec[k] = long(k);
      Handle d(write_array<long>(file, "record", {K}, rec), H5Dclose, "record");
      check(H5DSset_scale(d, "record"), "dimension scale record");
      rec_id = H5Dopen2(file, "record", H5P_DEFAULT);
    }
    auto per_run = [&](Numeric& n, const std::string& name, const std::string& doc) {
      n.ds = std::make_unique<BlockDataset>(file, name, H5T_IEEE_F64LE, std::vector<hsize_t>{R}, block);
      check(H5DSattach_scale(*n.ds, *ids.ds, 0), "attach run to " + name);
      if (!doc.empty()) attr_string(*n.ds, "long_name", doc);
    };
    str_axes.resize(spec.axes.size());
    num_axes.resize(spec.axes.size());
    for (size_t a = 0; a < spec.axes.size(); ++a) {
      const auto& ax = spec.axes[a];
      if (!ax.values.empty() && ax.values[0].is_str) {
        str_axes[a].ds =
            std::make_unique<BlockDataset>(file, "axis_" + ax.name, str_type, std::vector<hsize_t>{R}, block);
        check(H5DSattach_scale(*str_axes[a].ds, *ids.ds, 0), "attach run to " + ax.name);
      } else {
        per_run(num_axes[a], "axis_" + ax.name, "grid axis " + ax.name + " (" + ax.kind + ")");
      }
    }
    status.ds = std::make_unique<BlockDataset>(file, "status", str_type, std::vector<hsize_t>{R}, block);
    check(H5DSattach_scale(*status.ds, *ids.ds, 0), "attach run to status");
    per_run(steps, "steps", "optimiser steps taken");
    per_run(t_final, "t_final", "flow time reached");
    per_run(n_records, "n_records", "records of the run (the rest of its row is NaN)");
    t_det.resize(info.detectors.size());
    for (size_t d = 0; d < info.detectors.size(); ++d)
      per_run(t_det[d], "t_" + info.detectors[d].name, info.detectors[d].doc + " (flow time; NaN: never)");
    finals.resize(info.final_columns.size());
    for (size_t c = 0; c < info.final_columns.size(); ++c)
      per_run(finals[c], info.final_columns[c].name, info.final_columns[c].doc);
    series.resize(info.observables.size() + 2);
    auto per_record = [&](Numeric& n, const std::string& name, const std::string& doc, const std::string& units) {
      n.ds = std::make_unique<BlockDataset>(file, name, H5T_IEEE_F64LE, std::vector<hsize_t>{R, K}, block);
      check(H5DSattach_scale(*n.ds, *ids.ds, 0), "attach run to " + name);
      check(H5DSattach_scale(*n.ds, rec_id, 1), "attach record to " + name);
      if (!doc.empty()) attr_string(*n.ds, "long_name", doc);
      if (!units.empty()) attr_string(*n.ds, "units", units);
    };
    per_record(series[0], "step", "optimiser step of the record", "steps");
    per_record(series[1], "t", "flow time of the record", "flow time (sum of the base learning rate over steps)");
    for (size_t o = 0; o < info.observables.size(); ++o)
      per_record(series[o + 2], info.observables[o].name, info.observables[o].doc, "");
    if (F > 0) {
      final_table.ds =
          std::make_unique<BlockDataset>(file, "final_table", H5T_IEEE_F64LE, std::vector<hsize_t>{R, rows, F}, block);
      check(H5DSattach_scale(*final_table.ds, *ids.ds, 0), "attach run to final_table");
      // Every dimension labelled, as xarray needs: the row within a run, and the field by name.
      std::vector<long> row_index(rows);
      for (hsize_t q = 0; q < rows; ++q) row_index[q] = long(q);
      Handle row_scale(write_array<long>(file, "final_row", {rows}, row_index), H5Dclose, "final_row");
      check(H5DSset_scale(row_scale, "final_row"), "dimension scale final_row");
      check(H5DSattach_scale(*final_table.ds, row_scale, 1), "attach final_row to final_table");
      std::vector<std::string> names;
      for (const auto& c : info.final_table) names.push_back(c.name);
      Handle field_scale(write_strings(file, "final_field", str_type, names), H5Dclose, "final_field");
      check(H5DSset_scale(field_scale, "final_field"), "dimension scale final_field");
      check(H5DSattach_scale(*final_table.ds, field_scale, 2), "attach final_field to final_table");
      std::string fields;
      for (const auto& c : info.final_table) fields += (fields.empty() ? "" : ",") + c.name;
      attr_string(*final_table.ds, "fields", fields);
      attr_string(*final_table.ds, "long_name",
                  "final configuration: final_config.csv's rows of each run, "
                  "NaN past a run's last row");
    }
    if (save_params) {
      params_group = std::make_unique<Handle>(H5Gcreate2(file, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                              H5Gclose, "group params");
      attr_string(*params_group, "layout", "flat vectors in the model's own layout; see kernels/<model>.h");
    }
  }
  ~Impl() {
    if (rec_id >= 0) H5Dclose(rec_id);
  }
  hid_t rec_id = -1;

  void add(const RunPoint& p, const RunResult& r) {
    ids.buf.push_back(p.id);
    for (size_t a = 0; a < spec.axes.size(); ++a) {
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
    for (auto& a : str_axes)
      if (a.ds) strings(a);
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
