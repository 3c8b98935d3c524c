// The models' runs on the host, compiled in the files that CMakeLists.txt writes: part K holds the
// (model, precision) pairs u with u % kBuildParts == K (host/build_parts.h).
#pragma once

#include <stdexcept>

#include "host/executor_cpu.h"
#include "host/host_run_parts.h"

namespace fs {

template <int K>
std::unique_ptr<LiveRun> start_host_run_in_part(int pair, const RunInput& in, const ModelInfo& info) {
#define FS_START(M, R)                                                                    \
  if constexpr (model_pair<M, R>() % kBuildParts == K) {                                  \
    if (pair == model_pair<M, R>()) return std::make_unique<HostLiveRun<M, R>>(in, info); \
  }
#define FS_START_BOTH(M) FS_START(M, float) FS_START(M, double)
  FLOWSWEEP_MODELS(FS_START_BOTH)
#undef FS_START_BOTH
#undef FS_START
  throw std::logic_error("build part " + std::to_string(K) + " holds no pair " + std::to_string(pair));
}

template <int K>
std::string dump_flow_in_part(int pair, const RunInput& in, const ModelInfo& info, long steps) {
#define FS_DUMP(M)                                                             \
  if constexpr (model_pair<M, double>() % kBuildParts == K) {                  \
    if (pair == model_pair<M, double>()) return dump_flow<M>(in, info, steps); \
  }
  FLOWSWEEP_MODELS(FS_DUMP)
#undef FS_DUMP
  throw std::logic_error("build part " + std::to_string(K) + " holds no pair " + std::to_string(pair));
}

}  // namespace fs
