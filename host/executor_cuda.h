// The CUDA executor seen from the host: only host types cross this header, so every .cpp file builds
// without nvcc. In a build without a CUDA toolkit the probe says so and execute_cuda refuses.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "host/executor.h"
#include "host/registry.h"

namespace fs {

struct CudaDeviceInfo {
  bool available = false;
  std::string reason;  // why not, when not available
  std::string name;
  int device = 0;
  int sm_count = 0;
  int cc_major = 0, cc_minor = 0;
  size_t global_mem = 0;
  int smem_per_block_optin = 0;
};

// Who works on one run: a warp (several runs to a block), a whole thread block, or one thread. auto gives a
// thread to a run of fewer parameters than a warp's 32 lanes; otherwise, where the runs of a block's warps
// fit in shared memory, a warp per run while a slice's runs fill the device's resident warps and a block
// below that, and a block where they do not fit.
enum class CudaTeam { kAuto, kWarp, kBlock, kThread };
inline constexpr const char* kCudaTeamNames[] = {"auto", "warp", "block", "thread"};  // in CudaTeam's order

// Where a run's state lives during a slice (kernels/cuda/slot_layout.h), the most on chip that a block's
// runs fit: auto, all of it in shared memory; else (hot) its data, fixed state and scratch, with the
// parameters, optimiser state and gradient in global memory, and a copy in shared memory of the parameters
// its model reads most at each step, for a model that names them (Sizes::n_hot); else (work) the same
// without the copy; else (global) none of it. Each name allows no more than itself on chip.
enum class CudaPlacement { kAuto, kHot, kWork, kGlobal };
inline constexpr const char* kCudaPlacementNames[] = {"auto", "hot", "work", "global"};  // CudaPlacement's order

struct CudaOptions {
  int device = 0;
  CudaTeam team = CudaTeam::kAuto;
  long max_slots = 0;            // runs resident at once per shape (0: twice the warps the device holds)
  long max_steps_per_slice = 0;  // steps of a run per slice launch (0: sized from the measured rate)
  CudaPlacement placement = CudaPlacement::kAuto;
  int host_threads = 0;  // threads that stage and finish runs on the host (0: one per CPU)
};

bool cuda_compiled();
CudaDeviceInfo cuda_probe(int device = 0);

// Runs in flight on the GPU, advanced a slice at a time with their state resident on the device.
std::unique_ptr<Executor> make_cuda_executor(const ModelEntry& entry, const CudaOptions& opt);

// Runs every input on the GPU; results in input order. Throws RuntimeError naming the CUDA call that
// failed; a run whose loss stops being finite is marked diverged and the others go on.
std::vector<RunResult> execute_cuda(const ModelEntry& entry, const std::vector<RunInput>& inputs,
                                    const CudaOptions& opt,
                                    const std::function<void(long index, const RunResult&)>& on_done = {});

}  // namespace fs
