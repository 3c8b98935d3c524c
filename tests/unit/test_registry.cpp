#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "host/registry.h"

// The tables and trajectories.h5 name their columns and datasets after a model's observables, detectors
// and final-configuration columns: two of them with one name would shadow each other in runs.csv and
// make trajectories.h5 impossible to write.
TEST_CASE("every model's output names are distinct in the tables and in trajectories.h5", "[registry]") {
  for (const auto& entry : fs::models()) {
    const auto& info = entry.info;
    INFO(info.name);
    std::set<std::string> csv = {"run_id", "status", "steps", "t_final", "final_loss"};
    std::set<std::string> h5 = {"run",       "run_id", "record", "status",      "steps",     "t_final",
                                "n_records", "step",   "t",      "final_table", "final_row", "final_field"};
    auto add = [](std::set<std::string>& names, const std::string& n) {
      INFO(n);
      CHECK(names.insert(n).second);
    };
    for (const auto& d : info.detectors) {
      add(csv, "t_" + d.name);
      add(csv, "step_" + d.name);
      add(h5, "t_" + d.name);
    }
    for (const auto& o : info.observables) {
      if (o.name != "loss") add(csv, "final_" + o.name);  // the loss's last value is final_loss itself
      add(h5, o.name);
    }
    for (const auto& c : info.final_columns) {
      add(csv, c.name);
      add(h5, c.name);
    }
  }
}
