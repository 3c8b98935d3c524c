#include "host/journal.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "host/util.h"

namespace fs {

namespace {

using json = nlohmann::json;

// Doubles keep NaN and infinities (JSON numbers cannot).
json enc(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  return x;
}
double dec(const json& j) {
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    return s == "nan" ? NAN : s == "inf" ? INFINITY : -INFINITY;
  }
  return j.get<double>();
}
json enc(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(enc(x));
  return a;
}
std::vector<double> dec_vec(const json& j) {
  std::vector<double> v;
  for (const auto& x : j) v.push_back(dec(x));
  return v;
}

}  // namespace

std::string journal_dir(const std::string& out_dir) { return out_dir + "/runs"; }
std::string journal_path(const std::string& out_dir, const std::string& run_id) {
  return journal_dir(out_dir) + "/" + run_id + ".json";
}

void write_journal_entry(const std::string& out_dir, const std::string& run_id, long index, const RunResult& r) {
  json e;
  e["run_id"] = run_id;
  e["index"] = index;
  e["status"] = int(r.status);
  e["steps"] = r.steps;
  e["t_final"] = enc(r.t_final);
  e["final_loss"] = enc(r.final_loss);
  e["message"] = r.message;
  e["n_obs"] = r.series.n_obs;
  e["step"] = r.series.step;
  e["t"] = enc(r.series.t);
  e["values"] = enc(r.series.values);
  json det = json::array();
  for (const auto& d : r.detected) det.push_back(d ? json(*d) : json(nullptr));
  e["detected"] = det;
  e["final_obs"] = enc(r.final_obs);
  e["final_config"] = enc(r.final_config);
  json rows = json::array();
  for (const auto& row : r.final_rows) rows.push_back(enc(row));
  e["final_rows"] = rows;
  if (!r.saved.theta.empty()) {
    e["saved"] = {{"theta0", enc(r.saved.theta0)}, {"theta", enc(r.saved.theta)}, {"fixed", enc(r.saved.fixed)},
                  {"rdata", enc(r.saved.rdata)}, {"idata", r.saved.idata}};
  }
  const std::string body = e.dump();
  json wrapped = {{"checksum", hex64(fnv1a64(body))}, {"entry", body}};
  write_file_atomic(journal_path(out_dir, run_id), wrapped.dump() + "\n");
}

std::optional<RunResult> read_journal_entry(const std::string& out_dir, const std::string& run_id,
                                           const ModelInfo& info) {
  const std::string path = journal_path(out_dir, run_id);
  if (!std::filesystem::exists(path)) return std::nullopt;
  RunResult r;
  try {
    const json wrapped = json::parse(read_file(path));
    const std::string body = wrapped.at("entry").get<std::string>();
    if (hex64(fnv1a64(body)) != wrapped.at("checksum").get<std::string>())
      throw RuntimeError(path + ": checksum mismatch (corrupt run record)");
    const json e = json::parse(body);
    if (e.at("run_id").get<std::string>() != run_id) throw RuntimeError(path + ": holds another run");
    r.status = RunResult::Status(e.at("status").get<int>());
    r.steps = e.at("steps").get<long>();
    r.t_final = dec(e.at("t_final"));
    r.final_loss = dec(e.at("final_loss"));
    r.message = e.at("message").get<std::string>();
    r.series.n_obs = e.at("n_obs").get<int>();
    r.series.step = e.at("step").get<std::vector<long>>();
    r.series.t = dec_vec(e.at("t"));
    r.series.values = dec_vec(e.at("values"));
    for (const auto& d : e.at("detected")) r.detected.push_back(d.is_null() ? std::nullopt : std::optional<long>(d.get<long>()));
    r.final_obs = dec_vec(e.at("final_obs"));
    r.final_config = dec_vec(e.at("final_config"));
    for (const auto& row : e.at("final_rows")) r.final_rows.push_back(dec_vec(row));
    if (e.contains("saved")) {
      const auto& s = e.at("saved");
      r.saved.theta0 = dec_vec(s.at("theta0"));
      r.saved.theta = dec_vec(s.at("theta"));
      r.saved.fixed = dec_vec(s.at("fixed"));
      r.saved.rdata = dec_vec(s.at("rdata"));
      r.saved.idata = s.at("idata").get<std::vector<int>>();
    }
  } catch (const RuntimeError&) {
    throw;
  } catch (const std::exception& ex) {
    throw RuntimeError(path + ": corrupt or truncated run record (" + ex.what() + ")");
  }
  // A record written by a version of the model with other outputs cannot stand beside this one's.
  auto shape = [&](const char* what, size_t got, size_t want) {
    if (got != want)
      throw RuntimeError(path + ": a run record of another version of " + info.name + " (" + std::to_string(got) +
                         " " + what + ", " + std::to_string(want) + " now)");
  };
  shape("observables", size_t(r.series.n_obs), info.observables.size());
  shape("detectors", r.detected.size(), info.detectors.size());
  if (!r.final_config.empty()) shape("final-configuration columns", r.final_config.size(), info.final_columns.size());
  return r;
}

}  // namespace fs
