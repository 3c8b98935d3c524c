// The build spreads the code that the models instantiate over FS_BUILD_PARTS translation units, so that a
// parallel build compiles several models at once: each model's flow, compiled for two precisions on the
// host and for two precisions and three team shapes on the device, is most of what the compilers do, and
// in one file it kept one core busy while the others waited. The unit is a (model, precision) pair,
// numbered 2 m + (fp64 ? 1 : 0) for model m of FLOWSWEEP_MODELS, so that a model whose code is large
// (value_softmax's compiled-in sizes) is spread over two; pair u goes to part u % kBuildParts.
// CMakeLists.txt writes the parts' files (flowsweep_build_parts): on the host the pair's runs
// (host/host_run_part.h), on the device its batches and kernels (host/executor_cuda_batch.cuh).
#pragma once

#include <type_traits>

#include "kernels/models.h"

namespace fs {

inline constexpr int kBuildParts = FS_BUILD_PARTS;

// A model's place in FLOWSWEEP_MODELS, or -1.
template <typename Model>
constexpr int model_index() {
#define FS_IS_MODEL(M) std::is_same<Model, M>::value,
  constexpr bool is[] = {FLOWSWEEP_MODELS(FS_IS_MODEL)};
#undef FS_IS_MODEL
  for (int i = 0; i < int(sizeof is / sizeof is[0]); ++i)
    if (is[i]) return i;
  return -1;
}

template <typename Model, typename Real>
constexpr int model_pair() {
  static_assert(model_index<Model>() >= 0, "a model the engine runs is listed in FLOWSWEEP_MODELS");
  return 2 * model_index<Model>() + (std::is_same<Real, double>::value ? 1 : 0);
}

}  // namespace fs
