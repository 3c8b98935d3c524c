// A model's runs on the host, started through the build part that holds its (model, precision) pair
// (host/build_parts.h, host/host_run_part.h): the registry's entries reach them through these.
#pragma once

#include <memory>
#include <string>

#include "host/build_parts.h"
#include "host/host_run.h"

namespace fs {

// A run of pair `pair` at its first step, and (a fp64 pair) the flow dump of fs_dump; part K holds them.
template <int K>
std::unique_ptr<LiveRun> start_host_run_in_part(int pair, const RunInput& in, const ModelInfo& info);
template <int K>
std::string dump_flow_in_part(int pair, const RunInput& in, const ModelInfo& info, long steps);

template <typename Model>
std::unique_ptr<LiveRun> start_host_run_of(const RunInput& in, const ModelInfo& info) {
  constexpr int fp32 = model_pair<Model, float>(), fp64 = model_pair<Model, double>();
  if (in.params.choice("precision") == "fp64") return start_host_run_in_part<fp64 % kBuildParts>(fp64, in, info);
  return start_host_run_in_part<fp32 % kBuildParts>(fp32, in, info);
}

// Loss and gradient at the initial point, then `steps` optimiser steps, in fp64, as JSON (dump_flow,
// host/executor_cpu.h).
template <typename Model>
std::string dump_flow_of(const RunInput& in, const ModelInfo& info, long steps) {
  constexpr int fp64 = model_pair<Model, double>();
  return dump_flow_in_part<fp64 % kBuildParts>(fp64, in, info, steps);
}

}  // namespace fs
