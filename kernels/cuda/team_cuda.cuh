// The team of the CUDA kernels: one thread block runs one run.
#pragma once

namespace fs {

struct BlockTeam {
  __device__ int rank() const { return int(threadIdx.x); }
  __device__ int size() const { return int(blockDim.x); }
  __device__ bool leader() const { return threadIdx.x == 0; }
  __device__ void sync() const { __syncthreads(); }
};

}  // namespace fs
