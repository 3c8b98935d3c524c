#include "host/h5.h"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "host/util.h"

namespace fs {

namespace {

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

template <typename T>
hid_t mem_type();
template <>
hid_t mem_type<double>() { return H5T_NATIVE_DOUBLE; }
template <>
hid_t mem_type<long>() { return H5T_NATIVE_LONG; }
template <>
hid_t mem_type<int>() { return H5T_NATIVE_INT; }

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

hid_t write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
  check(H5Tset_size(type, H5T_VARIABLE), "variable strings");
  check(H5Tset_cset(type, H5T_CSET_UTF8), "set charset");
  const hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose, "dataspace of " + name);
  const hid_t ds = H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (ds < 0) throw RuntimeError("HDF5: cannot create dataset " + name);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  if (!ptrs.empty()) check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "write " + name);
  return ds;
}

}  // namespace

void write_trajectories_h5(const std::string& path, const Spec& spec, const std::vector<RunPoint>& runs,
                           const std::vector<RunResult>& results, bool save_params) {
  const ModelInfo& info = spec.entry->info;
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported by the checks, not printed
  try {
    Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose, tmp);
    const hsize_t R = runs.size();
    hsize_t K = 0;
    for (const auto& r : results) K = std::max<hsize_t>(K, hsize_t(r.series.size()));

    attr_string(file, "model", spec.model);
    attr_string(file, "spec", spec.text);
    attr_string(file, "spec_hash", spec.hash());
    attr_string(file, "flowsweep_version", FLOWSWEEP_VERSION);
    attr_string(file, "paper", info.paper);

    // Dimension scales: run (the run ids) and record.
    std::vector<std::string> ids;
    for (const auto& r : runs) ids.push_back(r.id);
    Handle run_dim(write_strings(file, "run", ids), H5Dclose, "run");
    check(H5DSset_scale(run_dim, "run"), "dimension scale run");
    std::vector<long> rec(K);
    for (hsize_t k = 0; k < K; ++k) rec[k] = long(k);
    Handle rec_dim(write_array<long>(file, "record", {K}, rec), H5Dclose, "record");
    check(H5DSset_scale(rec_dim, "record"), "dimension scale record");

    auto per_run = [&](const std::string& name, const std::vector<double>& v, const std::string& doc) {
      Handle ds(write_array<double>(file, name, {R}, v), H5Dclose, name);
      check(H5DSattach_scale(ds, run_dim, 0), "attach run to " + name);
      if (!doc.empty()) attr_string(ds, "long_name", doc);
    };
    auto per_record = [&](const std::string& name, const std::vector<double>& v, const std::string& doc,
                          const std::string& units) {
      Handle ds(write_array<double>(file, name, {R, K}, v), H5Dclose, name);
      check(H5DSattach_scale(ds, run_dim, 0), "attach run to " + name);
      check(H5DSattach_scale(ds, rec_dim, 1), "attach record to " + name);
      if (!doc.empty()) attr_string(ds, "long_name", doc);
      if (!units.empty()) attr_string(ds, "units", units);
    };

    // The axes: one coordinate-like variable per axis, numbers or strings.
    for (size_t a = 0; a < spec.axes.size(); ++a) {
      const auto& ax = spec.axes[a];
      if (!ax.values.empty() && ax.values[0].is_str) {
        std::vector<std::string> v;
        for (const auto& r : runs) v.push_back(r.coords[a].str);
        Handle ds(write_strings(file, "axis_" + ax.name, v), H5Dclose, ax.name);
        check(H5DSattach_scale(ds, run_dim, 0), "attach run to " + ax.name);
      } else {
        std::vector<double> v;
        for (const auto& r : runs) v.push_back(r.coords[a].num);
        per_run("axis_" + ax.name, v, "grid axis " + ax.name + " (" + ax.kind + ")");
      }
    }
    {
      std::vector<std::string> st;
      for (const auto& r : results) st.push_back(status_name(r.status));
      Handle ds(write_strings(file, "status", st), H5Dclose, "status");
      check(H5DSattach_scale(ds, run_dim, 0), "attach run to status");
    }
    std::vector<double> steps, t_final, n_records;
    for (const auto& r : results) {
      steps.push_back(double(r.steps));
      t_final.push_back(r.t_final);
      n_records.push_back(double(r.series.size()));
    }
    per_run("steps", steps, "optimiser steps taken");
    per_run("t_final", t_final, "flow time reached");
    per_run("n_records", n_records, "records of the run (the rest of its row is NaN)");
    for (size_t d = 0; d < info.detectors.size(); ++d) {
      std::vector<double> v;
      for (const auto& r : results)
        v.push_back(r.detected_time(d));
      per_run("t_" + info.detectors[d].name, v, info.detectors[d].doc + " (flow time; NaN: never)");
    }
    for (size_t c = 0; c < info.final_columns.size(); ++c) {
      std::vector<double> v;
      for (const auto& r : results) v.push_back(c < r.final_config.size() ? r.final_config[c] : NAN);
      per_run(info.final_columns[c].name, v, info.final_columns[c].doc);
    }

    // The series.
    std::vector<double> buf(size_t(R * K));
    auto fill = [&](auto get) {
      std::fill(buf.begin(), buf.end(), NAN);
      for (size_t i = 0; i < R; ++i)
        for (long k = 0; k < results[i].series.size(); ++k) buf[i * K + size_t(k)] = get(results[i].series, k);
    };
    fill([](const Series& s, long k) { return double(s.step[size_t(k)]); });
    per_record("step", buf, "optimiser step of the record", "steps");
    fill([](const Series& s, long k) { return s.t[size_t(k)]; });
    per_record("t", buf, "flow time of the record", "flow time (sum of the base learning rate over steps)");
    for (size_t o = 0; o < info.observables.size(); ++o) {
      fill([o](const Series& s, long k) { return s.at(k, int(o)); });
      per_record(info.observables[o].name, buf, info.observables[o].doc, "");
    }

    // A final configuration whose size depends on the run: (run, row, field), NaN-padded.
    if (!info.final_table.empty()) {
      hsize_t rows = 0;
      for (const auto& r : results) rows = std::max<hsize_t>(rows, r.final_rows.size());
      const hsize_t F = info.final_table.size();
      std::vector<double> t(size_t(R * rows * F), NAN);
      for (size_t i = 0; i < R; ++i)
        for (size_t q = 0; q < results[i].final_rows.size(); ++q)
          for (size_t f = 0; f < F && f < results[i].final_rows[q].size(); ++f)
            t[(i * rows + q) * F + f] = results[i].final_rows[q][f];
      Handle ds(write_array<double>(file, "final_table", {R, rows, F}, t), H5Dclose, "final_table");
      check(H5DSattach_scale(ds, run_dim, 0), "attach run to final_table");
      std::string fields;
      for (const auto& c : info.final_table) fields += (fields.empty() ? "" : ",") + c.name;
      attr_string(ds, "fields", fields);
    }

    if (save_params) {
      Handle group(H5Gcreate2(file, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose, "group params");
      for (size_t i = 0; i < R; ++i) {
        const RunResult& r = results[i];
        Handle g(H5Gcreate2(group, runs[i].id.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                 "group params/" + runs[i].id);
        H5Dclose(write_array<double>(g, "theta_initial", {hsize_t(r.saved.theta0.size())}, r.saved.theta0));
        H5Dclose(write_array<double>(g, "theta_final", {hsize_t(r.saved.theta.size())}, r.saved.theta));
        H5Dclose(write_array<double>(g, "fixed", {hsize_t(r.saved.fixed.size())}, r.saved.fixed));
        H5Dclose(write_array<int>(g, "data_int", {hsize_t(r.saved.idata.size())}, r.saved.idata));
        H5Dclose(write_array<double>(g, "data_real", {hsize_t(r.saved.rdata.size())}, r.saved.rdata));
      }
      attr_string(group, "layout", "flat vectors in the model's own layout; see kernels/<model>.h");
    }
    check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush " + tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw RuntimeError("cannot rename " + tmp + " to " + path);
  }
}

}  // namespace fs
