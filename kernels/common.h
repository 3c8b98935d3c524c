// Qualifiers and small numerics shared by every model, compiled for the host and for the device.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define FS_HD __host__ __device__
#define FS_INLINE __forceinline__
#else
#define FS_HD
#define FS_INLINE __attribute__((always_inline)) inline
#endif

// Lets a loop over contiguous vectors use SIMD lanes for its reductions on the host without
// -ffast-math for the whole program; ignored by the device compiler.
#define FS_PRAGMA(x) _Pragma(#x)
#if defined(__CUDA_ARCH__)
#define FS_SIMD_REDUCE(op, ...)
#define FS_SIMD
#else
#define FS_SIMD_REDUCE(op, ...) FS_PRAGMA(omp simd reduction(op : __VA_ARGS__))
#define FS_SIMD FS_PRAGMA(omp simd)
#endif

// A host function compiled once, not into each caller: how the vectoriser orders a SIMD reduction (above)
// can follow the code around it, so a sum that must give the same bits to every team (one thread or
// many) is computed out of line. The device's loops keep their written order and are inlined.
#if defined(__CUDA_ARCH__)
#define FS_HOST_NOINLINE
#else
#define FS_HOST_NOINLINE __attribute__((noinline))
#endif

// A loop over a short array of fixed size (a run's detectors, its parameter groups) unrolled, so that every
// index into it is a constant. A GPU thread keeps a struct in registers only while every index into it is
// known at compile time: one index known only at run time puts the whole struct (a run's flow state, its
// optimiser settings) on the thread's stack, in local memory, and every step then reads it from there.
#if defined(__CUDA_ARCH__)
#define FS_UNROLL FS_PRAGMA(unroll)
#elif defined(__CUDACC__)
#define FS_UNROLL  // the host side of a CUDA file: its front end knows neither form
#else
#define FS_UNROLL FS_PRAGMA(GCC unroll 16)
#endif

namespace fs {

// float arguments take the float overloads on the host too.
using std::exp;
using std::fabs;
using std::fma;
using std::log;
using std::log1p;
using std::pow;
using std::sqrt;

// a[i] for an index known only at run time, read with constant indices (see FS_UNROLL); i < N.
template <typename T, int N>
FS_HD FS_INLINE T pick(const T (&a)[N], int i) {
  T out = a[0];
  FS_UNROLL
  for (int k = 1; k < N; ++k)
    if (i == k) out = a[k];
  return out;
}

// a[i] = v for an index known only at run time, written with constant indices; i < N.
template <typename T, int N>
FS_HD FS_INLINE void put(T (&a)[N], int i, const T& v) {
  FS_UNROLL
  for (int k = 0; k < N; ++k)
    if (i == k) a[k] = v;
}

// Dot product of two length-n vectors. On the device, the members of a warp call it on different rows
// of shared memory at once; starting each at its own offset spreads their reads over the banks instead
// of all hitting one (rows of 32 words would otherwise conflict 32 ways). On the host it is a SIMD loop.
template <typename Real>
FS_HD inline Real dot(const Real* a, const Real* b, int n, int start) {
  Real acc = 0;
#if defined(__CUDA_ARCH__)
  int f = start % n;
  for (int c = 0; c < n; ++c) {
    acc += a[f] * b[f];
    if (++f == n) f = 0;
  }
#else
  // Long rows: sixteen partial sums, so the vector FMAs form independent chains instead of one; short
  // rows do not repay summing them.
  (void)start;
  int f = 0;
  if (n >= 64) {
    Real part[16] = {};
    for (; f + 16 <= n; f += 16) {
      FS_SIMD
      for (int j = 0; j < 16; ++j) part[j] += a[f + j] * b[f + j];
    }
    for (int j = 0; j < 16; ++j) acc += part[j];
  }
  FS_SIMD_REDUCE(+, acc)
  for (int g = f; g < n; ++g) acc += a[g] * b[g];
#endif
  return acc;
}

// a b + c, rounded once where the host has fused multiply-adds (and on the device), else twice. Where a
// sum's bits must not depend on how the loop around it is compiled, the fusing is written out: the host
// compiler fuses a product into an addition or not as its vectorised form happens to allow (one more
// product in the same addition, or a shuffle between them, and it does not).
template <typename Real>
FS_HD FS_INLINE Real madd(Real a, Real b, Real c) {
#if defined(__CUDA_ARCH__) || defined(__FMA__)
  return fma(a, b, c);
#else
  return a * b + c;
#endif
}

// Dot products of contiguous rows with a vector x whose entries are xs apart (a point's words in a tile of
// points; 1 on the host). On the host the sum has one order for every stride: kDotLanes partial sums, lane
// j taking entries j, j + kDotLanes, ... of the whole blocks of kDotLanes, the lanes then added in turn and
// the remaining entries after them. A reduction left to the vectoriser (FS_SIMD_REDUCE) would follow the
// loop versions it makes for each stride, whose widths differ. The device sums in order.
constexpr int kDotLanes = 8;

// Four rows w0..w3 against one x, each load of x feeding four sums.
template <typename Real>
FS_HD inline void dot4_strided(const Real* w0, const Real* w1, const Real* w2, const Real* w3, const Real* x, long xs,
                               int n, Real* out) {
  Real a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int i = 0;
#if !defined(__CUDA_ARCH__)
  if (n >= kDotLanes) {
    Real p0[kDotLanes] = {}, p1[kDotLanes] = {}, p2[kDotLanes] = {}, p3[kDotLanes] = {};
    for (; i + kDotLanes <= n; i += kDotLanes) {
      FS_SIMD
      for (int j = 0; j < kDotLanes; ++j) {
        const Real xi = x[(i + j) * xs];
        p0[j] = madd(w0[i + j], xi, p0[j]);
        p1[j] = madd(w1[i + j], xi, p1[j]);
        p2[j] = madd(w2[i + j], xi, p2[j]);
        p3[j] = madd(w3[i + j], xi, p3[j]);
      }
    }
    for (int j = 0; j < kDotLanes; ++j) a0 += p0[j], a1 += p1[j], a2 += p2[j], a3 += p3[j];
  }
#endif
  for (; i < n; ++i) {
    const Real xi = x[i * xs];
    a0 = madd(w0[i], xi, a0);
    a1 = madd(w1[i], xi, a1);
    a2 = madd(w2[i], xi, a2);
    a3 = madd(w3[i], xi, a3);
  }
  out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3;
}

// One row w against x.
template <typename Real>
FS_HD inline Real dot_strided(const Real* w, const Real* x, long xs, int n) {
  Real acc = 0;
  int i = 0;
#if !defined(__CUDA_ARCH__)
  if (n >= kDotLanes) {
    Real part[kDotLanes] = {};
    for (; i + kDotLanes <= n; i += kDotLanes) {
      FS_SIMD
      for (int j = 0; j < kDotLanes; ++j) part[j] = madd(w[i + j], x[(i + j) * xs], part[j]);
    }
    for (int j = 0; j < kDotLanes; ++j) acc += part[j];
  }
#endif
  for (; i < n; ++i) acc = madd(w[i], x[i * xs], acc);
  return acc;
}

// out[f os] += w0 r0[f rs], then w1 r1[f rs], w2 r2[f rs] and w3 r3[f rs], each a madd, for f < n: four
// rows per pass over strided vectors.
template <typename Real>
FS_HD inline void add_rows4_strided(Real* out, long os, int n, const Real* r0, const Real* r1, const Real* r2,
                                    const Real* r3, long rs, Real w0, Real w1, Real w2, Real w3) {
  FS_SIMD
  for (int f = 0; f < n; ++f) {
    Real o = out[f * os];
    o = madd(w0, r0[f * rs], o);
    o = madd(w1, r1[f * rs], o);
    o = madd(w2, r2[f * rs], o);
    o = madd(w3, r3[f * rs], o);
    out[f * os] = o;
  }
}

// out[f os] += w r[f rs] for f < n.
template <typename Real>
FS_HD inline void add_row_strided(Real* out, long os, int n, const Real* r, long rs, Real w) {
  FS_SIMD
  for (int f = 0; f < n; ++f) out[f * os] = madd(w, r[f * rs], out[f * os]);
}

// out[f] += w0 r0[f] + w1 r1[f] + w2 r2[f] + w3 r3[f] for f = first, first + step, ... below n: four rows
// per pass, so out is read and written a quarter as often as row by row.
template <typename Real>
FS_HD inline void add_rows4(Real* out, int first, int n, int step, const Real* r0, const Real* r1, const Real* r2,
                            const Real* r3, Real w0, Real w1, Real w2, Real w3) {
  FS_SIMD
  for (int f = first; f < n; f += step) out[f] += w0 * r0[f] + w1 * r1[f] + w2 * r2[f] + w3 * r3[f];
}

// out[f] += w r[f] for f = first, first + step, ... below n.
template <typename Real>
FS_HD inline void add_row(Real* out, int first, int n, int step, const Real* r, Real w) {
  FS_SIMD
  for (int f = first; f < n; f += step) out[f] += w * r[f];
}

template <typename Real>
FS_HD inline Real softplus(Real x) {  // log(1 + exp(x)) without overflow
  return (x > Real(0) ? x : Real(0)) + log1p(exp(-fabs(x)));
}

template <typename Real>
FS_HD inline Real sigmoid(Real x) {
  if (x >= Real(0)) return Real(1) / (Real(1) + exp(-x));
  const Real e = exp(x);
  return e / (Real(1) + e);
}

// softplus(x) and sigmoid(x) from one exponential, exp(-|x|), which both take: a logistic loss and its
// derivative at the same point, with the bits of the two functions above (a NaN's sign aside).
template <typename Real>
struct SoftplusSigmoid {
  Real softplus, sigmoid;
};
template <typename Real>
FS_HD inline SoftplusSigmoid<Real> softplus_sigmoid(Real x) {
  const Real e = exp(-fabs(x));
  return {(x > Real(0) ? x : Real(0)) + log1p(e), x >= Real(0) ? Real(1) / (Real(1) + e) : e / (Real(1) + e)};
}

template <typename Real>
FS_HD inline bool is_finite(Real x) {
  return x == x && x - x == Real(0);
}

}  // namespace fs
