// The staging check of test_slices.cpp, compiled in build parts as the models' code is
// (host/build_parts.h): a (model, precision) pair's check instantiates that pair's whole flow, and every
// pair in one file was the longest compile of the sanitizer builds. Part K holds the pairs u with
// u % kBuildParts == K (staging_check_part.h); CMakeLists.txt writes the parts' files.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "host/build_parts.h"
#include "host/executor.h"

namespace fs::test {

template <int K>
void check_staging_in_part(int pair, const std::vector<RunInput>& in);

// Runs of one model and one precision staged and finished as a device executor does (staging_check_part.h).
inline void check_staging(const std::string& model, const std::vector<RunInput>& in) {
  REQUIRE_FALSE(in.empty());
  const bool fp64 = in[0].params.choice("precision") == "fp64";
#define FS_CHECK(M)                                                            \
  if (model == M::kName) {                                                     \
    constexpr int f32 = model_pair<M, float>(), f64 = model_pair<M, double>(); \
    if (fp64) return check_staging_in_part<f64 % kBuildParts>(f64, in);        \
    return check_staging_in_part<f32 % kBuildParts>(f32, in);                  \
  }
  FLOWSWEEP_MODELS(FS_CHECK)
#undef FS_CHECK
  FAIL("no model " << model);
}

}  // namespace fs::test
