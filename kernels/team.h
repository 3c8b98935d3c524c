// The threads that share one run form a team. Model code is written against it: loops strided by
// rank and size, a barrier between phases that read what other members wrote, and the reductions below.
// On the host a team is one thread, so every loop is a plain loop and the barrier is free;
// kernels/cuda/team_cuda.cuh gives the CUDA teams (a warp, a thread block or one thread per run).
//
// Reductions have one order, whatever the team: kTeamLanes lanes, lane l folding items l, l + 32,
// l + 64, ... in turn from the identity, then the lanes folded pairwise, lane l with lane l + h for
// h = 16, 8, 4, 2, 1, the result lane 0's. That is a warp's shuffle-down tree, so a warp computes it in
// registers, a block with its first warp, one thread (the host, or a GPU thread per run) with the tree unrolled
// in registers and, on the host, a 32-wide SIMD loop for long reductions; a run gives the same bits
// on a team of any size: a team-size choice made for speed never changes a result. (CUB's warp reductions
// do not promise an order, which is why these are written out.)
#pragma once

#include "kernels/common.h"

namespace fs {

constexpr int kTeamLanes = 32;

struct HostTeam {
  static constexpr int rank() { return 0; }
  static constexpr int size() { return 1; }
  static constexpr bool leader() { return true; }
  FS_HD void sync() const {}
};

template <typename T>
struct SumOp {
  FS_HD T operator()(const T& a, const T& b) const { return a + b; }
};
template <typename T>
struct MaxOp {  // NaN-propagating: a NaN item makes the maximum NaN
  FS_HD T operator()(const T& a, const T& b) const { return a > b || a != a ? a : b; }
};
template <typename T>
struct MinOp {
  FS_HD T operator()(const T& a, const T& b) const { return a < b || a != a ? a : b; }
};

// op over item(k), k < count, in the order above, returned to every member. item(k) is called once for
// each k, by a member of rank below kTeamLanes, one call at a time per member: it may use a workspace
// indexed by the member's rank. Every member's item calls are over when it returns, so what the items
// read may be overwritten at once. The identity must absorb: op(identity, identity) == identity and
// op(op(x, identity), identity) == op(x, identity), bit for bit (true of +0 for sums, of -inf for maxima).
//
// One thread with its lane partials in registers (a thread per run on the GPU, where team_reduce's
// array, indexed at run time, lives in local memory): the lane tree unrolled at compile time, each node
// lane L folded with lane L + H after the tree's larger steps, each leaf lane L's items L, L + 32, ...
// Lanes from `count` on hold the identity, so a node whose right lane is one of them folds its left with
// the identity once, which by the absorption above is every such fold: the same bits as team_reduce on
// any team. `item` is inlined once per lane: 32 copies in the code.
namespace detail {
// A count known at compile time: the tree's tests on it fold away, leaving straight-line code.
template <long N>
struct FixedCount {
  FS_HD constexpr operator long() const { return N; }
};
template <typename T>
struct LaneFold {
  T v;
  bool padded;  // folded with the identity since its last fold with an item
};
template <int L, int H, typename T, typename Count, typename Item, typename Op>
FS_HD FS_INLINE LaneFold<T> lane_subtree(Count count, const Item& item, const Op& op, const T& identity) {
  if constexpr (H == kTeamLanes) {
    T acc = identity;
    for (long k = L; k < long(count); k += kTeamLanes) acc = op(acc, item(k));
    return {acc, false};
  } else {
    LaneFold<T> left = lane_subtree<L, 2 * H>(count, item, op, identity);  // L < count: the caller checked
    if (L + H >= long(count)) {
      if (!left.padded) left.v = op(left.v, identity), left.padded = true;
      return left;
    }
    const LaneFold<T> right = lane_subtree<L + H, 2 * H>(count, item, op, identity);
    return {op(left.v, right.v), false};
  }
}
}  // namespace detail

// f(n), with n passed as a detail::FixedCount<N> where it is one of Ns (on the host), else as it is. A model
// whose runs are tiny compiles its step for the shapes its sweeps use: the same code, its loops unrolled and
// its short reductions straight-line code. The arithmetic must not depend on the form (fused multiply-adds
// written out, see madd); a model's test holds each shape to the run-time form. A GPU thread keeps one
// form, whose code size is its cost there.
template <typename Int, typename F>
FS_HD auto with_count(Int n, const F& f) {
  return f(n);
}
template <long N, long... Ns, typename Int, typename F>
FS_HD auto with_count(Int n, const F& f) {
#if !defined(__CUDA_ARCH__)
  if (n == N) return f(detail::FixedCount<N>{});
#endif
  return with_count<Ns...>(n, f);
}

// The host's short reductions, most of a small model's step (value_softmax at d = n = 4: eight a step),
// take the tree for their count compiled as straight-line code (with_count): the same operations in the
// same order, without the tree's tests on the count. Up to 8 items: a few dozen items' code a reduction.
template <typename T, typename Item, typename Op>
FS_HD T thread_reduce_lanes(long count, const Item& item, const Op& op, T identity) {
#if defined(__CUDA_ARCH__)
  return count > 0 ? detail::lane_subtree<0, 1>(count, item, op, identity).v : identity;
#else
  return with_count<1, 2, 3, 4, 5, 6, 7, 8>(
      count, [&](auto n) { return long(n) > 0 ? detail::lane_subtree<0, 1>(n, item, op, identity).v : identity; });
#endif
}

// One thread: below kTeamLanes items, thread_reduce_lanes' tree in registers. From kTeamLanes items on,
// every lane holds an item, so the partials fold in a SIMD loop and the tree needs no identity. (The
// array for short reductions too, written item by item and read back by the tree's SIMD loads, cost
// value_softmax's step at d = n = 4 two fifths of its time on the CPU: 4.7 M run-steps/s against 7.7 M.)
template <typename T, typename Item, typename Op>
FS_HD T team_reduce(const HostTeam&, long count, const Item& item, const Op& op, T identity) {
  if (count < kTeamLanes) return thread_reduce_lanes(count, item, op, identity);
  T part[kTeamLanes];
  for (int l = 0; l < kTeamLanes; ++l) part[l] = identity;
  long k0 = 0;
  for (; k0 + kTeamLanes <= count; k0 += kTeamLanes) {
    FS_SIMD
    for (int l = 0; l < kTeamLanes; ++l) part[l] = op(part[l], item(k0 + l));
  }
  for (int l = 0; k0 + l < count; ++l) part[l] = op(part[l], item(k0 + l));
  for (int h = kTeamLanes / 2; h > 0; h /= 2)
    for (int l = 0; l < h; ++l) part[l] = op(part[l], part[l + h]);
  return part[0];
}

// Any other team that offers a shared buffer of kTeamLanes * sizeof(T) bytes (the real multi-thread team
// of the tests): members take lanes rank, rank + size, ..., then fold them in the shared buffer.
template <typename Team, typename T, typename Item, typename Op>
FS_HD T team_reduce(const Team& team, long count, const Item& item, const Op& op, T identity) {
  T* part = static_cast<T*>(team.reduce_buffer(sizeof(T) * kTeamLanes));
  for (int l = team.rank(); l < kTeamLanes; l += team.size()) {
    T acc = identity;
    for (long k = l; k < count; k += kTeamLanes) acc = op(acc, item(k));
    part[l] = acc;
  }
  team.sync();
  for (int h = kTeamLanes / 2; h > 0; h /= 2) {
    for (int l = team.rank(); l < h; l += team.size()) part[l] = op(part[l], part[l + h]);
    team.sync();
  }
  const T out = part[0];
  team.sync();  // the buffer is free for the next reduction only once every member has read it
  return out;
}

template <typename Team, typename Item>
FS_HD auto team_sum(const Team& team, long count, const Item& item) -> decltype(item(0L)) {
  using T = decltype(item(0L));
  return team_reduce(team, count, item, SumOp<T>(), T(0));
}
template <typename Team, typename Item>
FS_HD auto team_max(const Team& team, long count, const Item& item) -> decltype(item(0L)) {
  using T = decltype(item(0L));
  return team_reduce(team, count, item, MaxOp<T>(), T(-INFINITY));
}
template <typename Team, typename Item>
FS_HD auto team_min(const Team& team, long count, const Item& item) -> decltype(item(0L)) {
  using T = decltype(item(0L));
  return team_reduce(team, count, item, MinOp<T>(), T(INFINITY));
}

// How many items (a model's points, say) a team's per-item words are tiled by, word-major within a tile:
// the largest power of two up to its size and kTeamLanes. A warp's members, each on its own item, then
// touch consecutive words; one thread (the host, a GPU thread per run) has tiles of one item, the plain
// item-major layout.
template <typename Team>
FS_HD int team_tile(const Team& team) {
  int t = 1;
  while (2 * t <= team.size() && 2 * t <= kTeamLanes) t *= 2;
  return t;
}

// A small vector of sums reduced at once by team_sum (the per-type losses of a batch, say); it starts at
// zero, which is also Sums(0), the sum's identity.
template <typename Real, int N>
struct Sums {
  Real v[N];
  FS_HD Sums() : Sums(Real(0)) {}
  FS_HD explicit Sums(Real x) {
    for (int i = 0; i < N; ++i) v[i] = x;
  }
  FS_HD Real& operator[](int i) { return v[i]; }
  FS_HD const Real& operator[](int i) const { return v[i]; }
  FS_HD Sums operator+(const Sums& o) const {
    Sums s;
    for (int i = 0; i < N; ++i) s.v[i] = v[i] + o.v[i];
    return s;
  }
};

// s = softmax(z) over n entries, the maximum and the normaliser reduced by the team; s may be z. Members
// read only their own entries of s when it returns: a barrier comes before the team reads all of it.
template <typename Team, typename Real, typename Count>
FS_HD void team_softmax(const Team& team, const Real* z, Count n, Real* s) {
  const Real mx = team_max(team, n, [&](long i) { return z[i]; });
  for (int i = team.rank(); i < n; i += team.size()) s[i] = exp(z[i] - mx);
  team.sync();
  const Real tot = team_sum(team, n, [&](long i) { return s[i]; });
  for (int i = team.rank(); i < n; i += team.size()) s[i] /= tot;
}

// The mean of values[k * stride], k < count, returned to every member; the leader also leaves it in
// *slot (a model's loss, which its observe reads).
template <typename Team, typename Real>
FS_HD Real team_mean(const Team& team, const Real* values, long stride, long count, Real* slot) {
  const Real mean = team_sum(team, count, [&](long k) { return values[k * stride]; }) / Real(count);
  if (team.leader()) *slot = mean;
  return mean;
}

}  // namespace fs
