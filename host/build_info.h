// How this binary was built, for the manifest's provenance: the commit (and whether the tree had
// uncommitted changes), the build type, compiler and flags (the default build targets the building
// machine's SIMD), and the CUDA architectures.
#pragma once

namespace fs {

struct BuildInfo {
  const char* commit;  // "unknown" outside a git checkout
  bool dirty;          // tracked files differed from the commit
  const char* build_type;
  const char* compiler;
  const char* cxx_flags;
  const char* cuda_architectures;  // empty without CUDA
};

const BuildInfo& build_info();

}  // namespace fs
