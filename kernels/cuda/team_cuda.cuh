// The teams of the CUDA kernels. A run is worked on by a warp (WarpTeam: the 32 lanes of one warp, several
// runs to a block), by a whole thread block (BlockTeam), or by one thread (SoloTeam: the host's team on the
// device, for the smallest runs), chosen per shape by the executor; the model code is the same for all.
// Reductions follow kernels/team.h's lane order exactly (a warp: lane l's partial in a register, then the
// shuffle-down tree), so every team and the host agree bit for bit.
#pragma once

#include <cstring>

#include "kernels/team.h"

namespace fs {

constexpr unsigned kFullWarp = 0xffffffffu;

struct WarpTeam {
  // Which of its block's teams this is, and how many a block holds.
  __device__ static int index() { return int(threadIdx.x) / kTeamLanes; }
  __device__ static int per_block() { return int(blockDim.x) / kTeamLanes; }
  __device__ int rank() const { return int(threadIdx.x) & (kTeamLanes - 1); }
  __device__ static constexpr int size() { return kTeamLanes; }
  __device__ bool leader() const { return rank() == 0; }
  // Orders the warp's shared-memory writes before its later reads, as a block barrier would.
  __device__ void sync() const { __syncwarp(); }
};

struct BlockTeam {
  __device__ static int index() { return 0; }
  __device__ static int per_block() { return 1; }
  __device__ int rank() const { return int(threadIdx.x); }
  __device__ int size() const { return int(blockDim.x); }
  __device__ bool leader() const { return threadIdx.x == 0; }
  __device__ void sync() const { __syncthreads(); }
};

struct SoloTeam : HostTeam {
  __device__ static int index() { return int(threadIdx.x); }
  __device__ static int per_block() { return int(blockDim.x); }
};

// Any trivially copyable T through a warp shuffle, 32 bits at a time: shfl(word) is one 32-bit shuffle.
template <typename T, typename Shfl>
__device__ T warp_shuffle_words(const T& v, const Shfl& shfl) {
  static_assert(sizeof(T) % 4 == 0, "a shuffled value is whole 32-bit words");
  int w[sizeof(T) / 4];
  memcpy(w, &v, sizeof(T));
  for (int i = 0; i < int(sizeof(T) / 4); ++i) w[i] = shfl(w[i]);
  T out;
  memcpy(&out, w, sizeof(T));
  return out;
}

// Lane l + h's value for lane l.
template <typename T>
__device__ T warp_shfl_down(const T& v, int h) {
  return warp_shuffle_words(v, [h](int x) { return __shfl_down_sync(kFullWarp, x, h); });
}

// Lane 0's value for every lane.
template <typename T>
__device__ T warp_broadcast(const T& v) {
  return warp_shuffle_words(v, [](int x) { return __shfl_sync(kFullWarp, x, 0); });
}

// The lane order of kernels/team.h on one whole warp; lane 0 holds the result. Lanes l >= h fold values
// nothing reads, which keeps every lane in the shuffle.
template <typename T, typename Item, typename Op>
__device__ T warp_reduce_lanes(int lane, long count, const Item& item, const Op& op, T identity) {
  T acc = identity;
  for (long k = lane; k < count; k += kTeamLanes) acc = op(acc, item(k));
  for (int h = kTeamLanes / 2; h > 0; h /= 2) {
    const T other = warp_shfl_down(acc, h);
    if (lane < h) acc = op(acc, other);
  }
  return acc;
}

template <typename T, typename Item, typename Op>
__device__ T team_reduce(const WarpTeam& team, long count, const Item& item, const Op& op, T identity) {
  return warp_broadcast(warp_reduce_lanes(team.rank(), count, item, op, identity));
}

// One thread: the lane tree with its partials in registers (the host's loop keeps them in an array that
// a GPU thread could only hold in local memory).
template <typename T, typename Item, typename Op>
__device__ T team_reduce(const SoloTeam&, long count, const Item& item, const Op& op, T identity) {
  return thread_reduce_lanes(count, item, op, identity);
}

// The shared slot through which every block reduction hands its result to the block. A __shared__
// variable in a function template exists once per instantiation, and each reduction's lambda makes its
// own, so the slot lives in a plain function: one slot per block, however many reductions a kernel has.
__device__ inline unsigned char* block_result_slot() {
  __shared__ __align__(16) unsigned char s_result[256];
  return s_result;
}

// A block: its first warp reduces, the result goes to every thread through shared memory.
template <typename T, typename Item, typename Op>
__device__ T team_reduce(const BlockTeam& team, long count, const Item& item, const Op& op, T identity) {
  static_assert(sizeof(T) <= 256, "a block reduction's result fits its shared slot");
  unsigned char* s_result = block_result_slot();
  if (team.rank() < kTeamLanes) {
    const T r = warp_reduce_lanes(team.rank(), count, item, op, identity);
    if (team.rank() == 0) memcpy(s_result, &r, sizeof(T));
  }
  team.sync();
  T out;
  memcpy(&out, s_result, sizeof(T));
  team.sync();  // the slot is reused by the next reduction
  return out;
}

}  // namespace fs
