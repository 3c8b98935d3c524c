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

#if !defined(__CUDA_ARCH__)
// Four rows w0..w3 (ws apart) against four vectors x[0..3]: out[4 q + r] = w_r . x[q], each sum in exactly
// dot4_strided's order, so in the same bits. Every load of a row feeds four sums and every load of an x
// four, and the sixteen sums hide each other's latency: a host thread's matrix product in registers. (A GPU
// thread has no registers to spare for it; there a warp's members take a point each.)
template <typename Real, bool kUnit>
inline void dot4x4_strided_as(const Real* w, long ws, const Real* const* x, long xs, int n, Real* out) {
  const Real *w0 = w, *w1 = w + ws, *w2 = w + 2 * ws, *w3 = w + 3 * ws;
  const Real *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
  Real a[16] = {};
  int i = 0;
  if (n >= kDotLanes) {
    Real p[16][kDotLanes] = {};
    for (; i + kDotLanes <= n; i += kDotLanes) {
      FS_SIMD
      for (int j = 0; j < kDotLanes; ++j) {
        const Real r0 = w0[i + j], r1 = w1[i + j], r2 = w2[i + j], r3 = w3[i + j];
        const long at = kUnit ? i + j : (i + j) * xs;
        const Real y0 = x0[at], y1 = x1[at], y2 = x2[at], y3 = x3[at];
        p[0][j] = madd(r0, y0, p[0][j]), p[1][j] = madd(r1, y0, p[1][j]);
        p[2][j] = madd(r2, y0, p[2][j]), p[3][j] = madd(r3, y0, p[3][j]);
        p[4][j] = madd(r0, y1, p[4][j]), p[5][j] = madd(r1, y1, p[5][j]);
        p[6][j] = madd(r2, y1, p[6][j]), p[7][j] = madd(r3, y1, p[7][j]);
        p[8][j] = madd(r0, y2, p[8][j]), p[9][j] = madd(r1, y2, p[9][j]);
        p[10][j] = madd(r2, y2, p[10][j]), p[11][j] = madd(r3, y2, p[11][j]);
        p[12][j] = madd(r0, y3, p[12][j]), p[13][j] = madd(r1, y3, p[13][j]);
        p[14][j] = madd(r2, y3, p[14][j]), p[15][j] = madd(r3, y3, p[15][j]);
      }
    }
    for (int k = 0; k < 16; ++k)
      for (int j = 0; j < kDotLanes; ++j) a[k] += p[k][j];
  }
  for (; i < n; ++i)
    for (int q = 0; q < 4; ++q) {
      const Real y = x[q][i * xs];
      a[4 * q] = madd(w0[i], y, a[4 * q]), a[4 * q + 1] = madd(w1[i], y, a[4 * q + 1]);
      a[4 * q + 2] = madd(w2[i], y, a[4 * q + 2]), a[4 * q + 3] = madd(w3[i], y, a[4 * q + 3]);
    }
  for (int k = 0; k < 16; ++k) out[k] = a[k];
}
template <typename Real>
inline void dot4x4_strided(const Real* w, long ws, const Real* const* x, long xs, int n, Real* out) {
  if (xs == 1)
    dot4x4_strided_as<Real, true>(w, ws, x, xs, n, out);
  else
    dot4x4_strided_as<Real, false>(w, ws, x, xs, n, out);
}

// out[q][f os] = sum over k < nk of c[q][k cs] r[k rs + f], for f < n and four q: the rows of r (rs apart)
// weighted by four vectors of coefficients, each sum from +0 in k order, as add_rows4_strided and
// add_row_strided accumulate it row after row, so in the same bits. Here a block of f stays in registers
// over every k, and each load of a row feeds four sums.
template <typename Real>
inline void rows_combined4(const Real* r, long rs, int nk, const Real* const* c, long cs, int n, Real* const* out,
                           long os) {
  constexpr int kBlock = 2 * kDotLanes;
  int f = 0;
  for (; f + kBlock <= n; f += kBlock) {
    // four named blocks, not one array of them, which GCC keeps partly on the stack
    Real a0[kBlock] = {}, a1[kBlock] = {}, a2[kBlock] = {}, a3[kBlock] = {};
    const Real *c0 = c[0], *c1 = c[1], *c2 = c[2], *c3 = c[3];
    for (int k = 0; k < nk; ++k) {
      const Real* row = r + k * rs + f;
      const Real w0 = c0[k * cs], w1 = c1[k * cs], w2 = c2[k * cs], w3 = c3[k * cs];
      FS_SIMD
      for (int j = 0; j < kBlock; ++j) {
        const Real v = row[j];
        a0[j] = madd(w0, v, a0[j]), a1[j] = madd(w1, v, a1[j]);
        a2[j] = madd(w2, v, a2[j]), a3[j] = madd(w3, v, a3[j]);
      }
    }
    for (int j = 0; j < kBlock; ++j) {
      out[0][(f + j) * os] = a0[j], out[1][(f + j) * os] = a1[j];
      out[2][(f + j) * os] = a2[j], out[3][(f + j) * os] = a3[j];
    }
  }
  for (; f < n; ++f)
    for (int q = 0; q < 4; ++q) {
      Real a = 0;
      for (int k = 0; k < nk; ++k) a = madd(c[q][k * cs], r[k * rs + f], a);
      out[q][f * os] = a;
    }
}

// out[f] += w[q] r[q][f] for q = 0..N-1 in turn, each a madd, f < n, where w[q] is not zero: a zero weight
// leaves out as it is whatever its row holds (inf or NaN, in a run about to diverge), as skipping the row
// would. The test is on a whole row, so it costs a masked lane, not a branch.
template <int N, typename Real>
inline void add_rows_nonzero(Real* out, int n, const Real* const* r, const Real* w) {
  bool on[N];
  for (int q = 0; q < N; ++q) on[q] = w[q] != Real(0);
  FS_SIMD
  for (int f = 0; f < n; ++f) {
    Real o = out[f];
    for (int q = 0; q < N; ++q) o = on[q] ? madd(w[q], r[q][f], o) : o;
    out[f] = o;
  }
}

#endif

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
