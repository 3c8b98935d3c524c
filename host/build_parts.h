// The build spreads the code that the models instantiate over FS_BUILD_PARTS translation units, so that a
// parallel build compiles several models at once: each model's flow, compiled for two precisions on the
// host and for two precisions and three team shapes on the device, is most of what the compilers do, and
// in one file it kept one core busy while the others waited. CMakeLists.txt writes the parts' files
// (flowsweep_build_parts); model m's entry goes to part m % kBuildParts, and its device batches, pairs
// 2m (fp32) and 2m + 1 (fp64), to parts 2m % kBuildParts and (2m + 1) % kBuildParts.
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

}  // namespace fs
