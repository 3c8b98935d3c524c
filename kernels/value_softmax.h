// value_softmax: gradient flow polarises softmax outputs (Varre, Rofin, Flammarion, arXiv 2603.06248;
// MODELS.md section 4). The prediction is V sigma(a): n value vectors weighted by the softmax of n logits.
//   logistic:   log(1 + exp(-beta^T V sigma(a)))          (beta a unit vector)
//   square:     1/2 ||V sigma(a) - beta||^2
//   regression: ||beta - X V sigma(a)||^2                   (X is N x d with condition number kappa)
//   tied:       log(1 + exp(-beta^T U sigma(U a)))          (U square, initialised near the identity)
// Sizes are small and flows long (up to a million steps), so a run is one member's work per element:
// the team strides over value columns and logits, and the softmax, the losses and the O(n^2) count of
// order crossings of the logits are team reductions. The count is carried from step to step in the
// first words of the workspace (Sizes::n_carry: the engine keeps them with the run between slices and
// in checkpoints).
#pragma once

#include <cmath>

#include "kernels/common.h"
#include "kernels/flow.h"
#include "kernels/model_api.h"
#include "kernels/rng.h"
#include "kernels/team.h"

namespace fs {

struct ValueSoftmax : ModelBase {
  static constexpr const char* kName = "value_softmax";
  enum Loss : int { kLogistic = 0, kSquare = 1, kRegression = 2, kTied = 3 };
  struct Config {
    int d, n, N;  // value dimension, logits, rows of X
    int loss;
    double kappa, v_scale;
    bool a_random;
    double polar_threshold;  // detector
  };
  enum Obs : int { kLoss, kEntropy, kMaxSigma, kArgmax, kWinnerNorm, kUWinner, kCrossings, kNumObs };

  static ModelInfo info() {
    ModelInfo mi;
    mi.name = kName;
    mi.paper = "Varre, Rofin, Flammarion, arXiv 2603.06248 (2026)";
    mi.doc = "value-softmax L(V sigma(a)): the softmax polarises onto one value";
    mi.params = {
        ParamDef::integer("d", 10, 1, 1 << 16, "value dimension (tied: U is d x d and n = d)"),
        ParamDef::integer("n", 10, 2, 1 << 16, "number of values and logits"),
        ParamDef::choice("loss", "logistic", {"logistic", "square", "regression", "tied"}, "the loss"),
        ParamDef::integer("N", 20, 1, 1 << 16, "rows of X (regression)"),
        ParamDef::real("kappa", 10.0, 1.0, 1e12, false, "condition number of X (regression), at least 1"),
        ParamDef::real("v_scale", 0.1, 0.0, 1e6, false, "std of V at initialisation (tied: of U - I)"),
        ParamDef::choice("a_init", "zero", {"zero", "random"}, "a = 0, or 1 + 0.1 Gaussian"),
    };
    mi.detect_params = {
        ParamDef::real("polar_threshold", 0.9, 0.0, 1.0, true, "polarised when max sigma exceeds this")};
    mi.groups = {{"values", false, "V (or U), rate lr"}, {"logits", true, "a, rate lr * lr_ratio"}};
    mi.observables = {{"loss", "the loss"},
                      {"entropy", "entropy of the softmax (nats)"},
                      {"max_sigma", "largest softmax weight"},
                      {"argmax", "its index"},
                      {"winner_norm", "norm of the winning value column"},
                      {"u_winner", "u = V^T beta (regression: (X V)^T beta) at the winning index"},
                      {"crossings", "order crossings of the logits so far (pairs that swapped, counted per step)"}};
    mi.detectors = {{"polarised", "first time max sigma exceeds polar_threshold"}};
    mi.final_table = {{"index", "value and logit index i"}, {"sigma", "softmax weight sigma_i"}};
    mi.final_columns = {{"winner", "index of the final largest softmax weight", FinalColumn::kNone},
                        {"u0_argmax", "index of the largest initial projection u_i(0)", FinalColumn::kNone},
                        {"winner_is_u0_argmax", "1 when the winner is argmax u(0)", FinalColumn::kFraction},
                        {"order_crossings", "order crossings of the logits over the run"}};
    return mi;
  }

  static Config configure(const Params& p) {
    Config c{};
    c.d = int(p.integer("d"));
    const std::string& loss = p.choice("loss");
    c.loss = loss == "square" ? kSquare : loss == "regression" ? kRegression : loss == "tied" ? kTied : kLogistic;
    c.n = c.loss == kTied ? c.d : int(p.integer("n"));
    c.N = int(p.integer("N"));
    c.kappa = p.real("kappa");
    c.v_scale = p.real("v_scale");
    c.a_random = p.choice("a_init") == "random";
    if (c.loss == kTied && c.d < 2) throw ParamError("d", "the tied loss needs d >= 2 (n = d logits)");
    c.polar_threshold = p.real("polar_threshold");
    return c;
  }

  FS_HD static int target_dim(const Config& c) { return c.loss == kRegression ? c.N : c.d; }

  static Sizes sizes(const Config& c) {
    Sizes s;
    s.n_groups = 2;
    s.group_end[0] = long(c.d) * c.n;
    s.group_end[1] = s.group_end[0] + c.n;
    s.n_theta = s.group_end[1];
    s.n_fixed = c.d;  // w = X^T beta (regression) or beta: u = V^T w
    s.n_rdata = target_dim(c) + (c.loss == kRegression ? long(c.N) * c.d : 0);
    s.n_scratch = scratch_size(c);
    s.n_carry = c.n + kCarryExtra;
    s.n_obs = kNumObs;
    s.n_table_rows = c.n;
    s.n_table_fields = 2;
    return s;
  }
  // scratch: prev logits (n) | crossings | z (n) | s (n) | y (d) | gy (d) | ds (n) | dz (n) | r (N) | loss;
  // the first n + 1 words carry from one step to the next
  static constexpr long kCarryExtra = 1;
  FS_HD static long scratch_size(const Config& c) { return 5L * c.n + 2L * c.d + c.N + 2; }

  // ---- data and initialisation (host) -----------------------------------------------------------
  // Orthonormal columns (rows x cols, rows >= cols) by Gram-Schmidt, twice for stability.
  static std::vector<double> orthonormal(int rows, int cols, Stream& rng) {
    std::vector<double> q(size_t(rows) * cols);
    for (auto& x : q) x = rng.normal();
    for (int j = 0; j < cols; ++j)
      for (int pass = 0; pass < 2; ++pass) {
        for (int i = 0; i < j; ++i) {
          double dot = 0;
          for (int r = 0; r < rows; ++r) dot += q[size_t(r) * cols + i] * q[size_t(r) * cols + j];
          for (int r = 0; r < rows; ++r) q[size_t(r) * cols + j] -= dot * q[size_t(r) * cols + i];
        }
        double nrm = 0;
        for (int r = 0; r < rows; ++r) nrm += q[size_t(r) * cols + j] * q[size_t(r) * cols + j];
        nrm = std::sqrt(nrm);
        for (int r = 0; r < rows; ++r) q[size_t(r) * cols + j] /= nrm;
      }
    return q;
  }

  // rdata: beta (target_dim) | X (N, d) row-major for regression, X = A diag(sv) B^T with A (N x k) and
  // B (d x k) orthonormal, k = min(N, d), singular values evenly spaced from 1 to 1/kappa.
  template <typename Real>
  static void make_data(const Config& c, Stream& rng, int*, Real* rdata) {
    const int t = target_dim(c);
    double nrm = 0;
    std::vector<double> beta(static_cast<size_t>(t));
    for (auto& b : beta) {
      b = rng.normal();
      nrm += b * b;
    }
    for (int i = 0; i < t; ++i) rdata[i] = Real(beta[size_t(i)] / std::sqrt(nrm));
    if (c.loss != kRegression) return;
    const int k = c.N < c.d ? c.N : c.d;
    const auto A = orthonormal(c.N, k, rng), B = orthonormal(c.d, k, rng);
    Real* X = rdata + t;
    for (int r = 0; r < c.N; ++r)
      for (int col = 0; col < c.d; ++col) {
        double acc = 0;
        for (int j = 0; j < k; ++j) {
          const double sv = k == 1 ? 1.0 : 1.0 + (1.0 / c.kappa - 1.0) * double(j) / double(k - 1);
          acc += A[size_t(r) * k + j] * sv * B[size_t(col) * k + j];
        }
        X[long(r) * c.d + col] = Real(acc);
      }
  }

  // theta: V (n, d), value column i contiguous (tied: U (d, d) by column) | a (n)
  template <typename Real>
  static void init(const Config& c, Stream& rng, const int*, const Real* rdata, Real* theta, Real* fixed) {
    for (int i = 0; i < c.n; ++i)
      for (int r = 0; r < c.d; ++r)
        theta[long(i) * c.d + r] = Real(c.v_scale * rng.normal() + (c.loss == kTied && i == r ? 1.0 : 0.0));
    Real* a = theta + long(c.d) * c.n;
    for (int i = 0; i < c.n; ++i) a[i] = c.a_random ? Real(1.0 + 0.1 * rng.normal()) : Real(0);
    const Real* beta = rdata;
    if (c.loss == kRegression) {
      const Real* X = rdata + c.N;
      for (int col = 0; col < c.d; ++col) {
        double acc = 0;
        for (int r = 0; r < c.N; ++r) acc += double(X[long(r) * c.d + col]) * double(beta[r]);
        fixed[col] = Real(acc);
      }
    } else {
      for (int r = 0; r < c.d; ++r) fixed[r] = beta[r];
    }
  }

  // ---- loss and gradient ------------------------------------------------------------------------
  // Logit i: a_i, or (U a)_i with U stored by column (tied).
  template <typename Real>
  FS_HD static Real logit(const Config& c, const Real* V, const Real* a, int i) {
    if (c.loss != kTied) return a[i];
    Real acc = 0;
    for (int j = 0; j < c.n; ++j) acc = madd(V[long(j) * c.d + i], a[j], acc);
    return acc;
  }
  template <typename Team, typename Real>
  FS_HD static Real loss_grad(const Team& team, const Config& c, const StepContext& ctx, const int* idata,
                              const Real* rdata, const Real* theta, const Real* fixed, Real* grad, Real* scratch) {
    // The shipped sweep's sizes (d and n of 4 and 16) compiled in, on the host (with_count)
    return with_count<4, 16>(c.n, [&](auto n) {
      return with_count<4, 16>(
          c.d, [&](auto d) { return loss_grad_sized(team, c, n, d, ctx, idata, rdata, theta, fixed, grad, scratch); });
    });
  }
  // n and d: ints, or detail::FixedCount (with_count)
  template <typename Team, typename Real, typename N, typename D>
  FS_HD static Real loss_grad_sized(const Team& team, const Config& c, N n, D d, const StepContext& ctx, const int*,
                                    const Real* rdata, const Real* theta, const Real*, Real* grad, Real* scratch) {
    const Real* V = theta;
    const Real* a = theta + long(d) * n;
    Real* gV = grad;
    Real* ga = grad + long(d) * n;
    Real* prev = scratch;
    Real* crossings = prev + n;
    Real* z = crossings + 1;
    Real* s = z + n;
    Real* y = s + n;
    Real* gy = y + d;
    Real* ds = gy + d;
    Real* dz = ds + n;
    Real* res = dz + n;
    Real* loss_slot = res + c.N;
    const Real* beta = rdata;
    const bool tied = c.loss == kTied;

    // logits: a, or U a (the loss tested once, outside the loops: it is the same for every index)
    if (tied) {
      for (int i = team.rank(); i < n; i += team.size()) z[i] = logit(c, V, a, i);
    } else {
      for (int i = team.rank(); i < n; i += team.size()) z[i] = a[i];
    }
    team.sync();
    // Order crossings of the logits since the last step, over the pairs i < j.
    if (ctx.step > 0) {
      const Real cross = team_sum(team, n, [&](long i) {  // the pairs (i, j > i)
        int count = 0;
        for (int j = int(i) + 1; j < n; ++j) {
          const Real before = prev[i] - prev[j], now = z[i] - z[j];
          count += (before > Real(0) && now < Real(0)) || (before < Real(0) && now > Real(0));
        }
        return Real(count);
      });
      if (team.leader()) *crossings += cross;
    } else if (team.leader()) {
      *crossings = 0;
    }
    team_softmax(team, z, n, s);
    for (int i = team.rank(); i < n; i += team.size()) prev[i] = z[i];
    team.sync();
    // y = V s                                                                        (d)
    for (int r = team.rank(); r < d; r += team.size()) {
      Real acc = 0;
      for (int i = 0; i < n; ++i) acc = madd(V[long(i) * d + r], s[i], acc);
      y[r] = acc;
    }
    team.sync();
    Real loss;
    if (c.loss == kLogistic || tied) {
      const Real margin = team_sum(team, d, [&](long r) { return beta[r] * y[r]; });
      const auto lg = softplus_sigmoid(-margin);
      loss = lg.softplus;
      const Real coef = -lg.sigmoid;
      for (int r = team.rank(); r < d; r += team.size()) gy[r] = coef * beta[r];
    } else if (c.loss == kSquare) {
      loss = team_sum(team, d, [&](long r) { return Real(0.5) * (y[r] - beta[r]) * (y[r] - beta[r]); });
      for (int r = team.rank(); r < d; r += team.size()) gy[r] = y[r] - beta[r];
    } else {
      const Real* X = rdata + c.N;
      for (int q = team.rank(); q < c.N; q += team.size()) {
        Real acc = 0;
        for (int r = 0; r < d; ++r) acc = madd(X[long(q) * d + r], y[r], acc);
        res[q] = acc - beta[q];
      }
      team.sync();
      loss = team_sum(team, c.N, [&](long q) { return res[q] * res[q]; });
      for (int r = team.rank(); r < d; r += team.size()) {
        Real acc = 0;
        for (int q = 0; q < c.N; ++q) acc = madd(X[long(q) * d + r], res[q], acc);
        gy[r] = Real(2) * acc;
      }
    }
    if (team.leader()) *loss_slot = loss;
    team.sync();
    // dL/ds_i = v_i . gy; dL/dz = s (ds - s.ds)
    for (int i = team.rank(); i < n; i += team.size()) {
      Real acc = 0;
      for (int r = 0; r < d; ++r) acc = madd(V[long(i) * d + r], gy[r], acc);
      ds[i] = acc;
    }
    team.sync();
    const Real sds = team_sum(team, n, [&](long i) { return s[i] * ds[i]; });
    for (int i = team.rank(); i < n; i += team.size()) dz[i] = s[i] * (ds[i] - sds);
    team.sync();
    // dV[i, r] = s_i gy_r (+ tied: dz_r a_i, as z = U a); da = dz (tied: U^T dz)
    // (the untied sum keeps its + 0, which turns a product of -0 into +0 as it always has)
    for (int i = team.rank(); i < n; i += team.size()) {
      const Real si = s[i];
      Real* gv = gV + long(i) * d;
      if (tied) {
        const Real ai = a[i];
        for (int r = 0; r < d; ++r) gv[r] = madd(si, gy[r], dz[r] * ai);
        Real acc = 0;
        for (int r = 0; r < d; ++r) acc = madd(V[long(i) * d + r], dz[r], acc);
        ga[i] = acc;
      } else {
        for (int r = 0; r < d; ++r) gv[r] = madd(si, gy[r], Real(0));
        ga[i] = dz[i];
      }
    }
    team.sync();
    return loss;
  }

  // The winner is the first index of the largest sigma_i.
  template <typename Real>
  struct Winner {
    Real s;
    long i;
  };
  template <typename Real>
  struct FirstLargest {
    FS_HD Winner<Real> operator()(const Winner<Real>& a, const Winner<Real>& b) const {
      return b.s > a.s || (b.s == a.s && b.i < a.i) ? b : a;
    }
  };

  template <typename Team, typename Real>
  FS_HD static void observe(const Team& team, const Config& c, const int*, const Real*, const Real* theta,
                            const Real* fixed, const Real* scratch, Real* obs) {
    const int d = c.d, n = c.n;
    const Real* s = scratch + 2 * n + 1;
    const Winner<Real> win = team_reduce(
        team, n,
        [&](long i) {
          return Winner<Real>{s[i], i};
        },
        FirstLargest<Real>(), Winner<Real>{-INFINITY, n});
    const Real h = team_sum(team, n, [&](long i) { return s[i] > Real(0) ? -s[i] * log(s[i]) : Real(0); });
    const Real* v = theta + win.i * d;
    const Sums<Real, 2> nu = team_sum(team, d, [&](long r) {
      Sums<Real, 2> t;
      t[0] = v[r] * v[r], t[1] = v[r] * fixed[r];
      return t;
    });
    if (!team.leader()) return;
    obs[kLoss] = scratch[scratch_size(c) - 1];
    obs[kEntropy] = h;
    obs[kMaxSigma] = win.s;
    obs[kArgmax] = Real(win.i);
    obs[kWinnerNorm] = sqrt(nu[0]);
    obs[kUWinner] = nu[1];
    obs[kCrossings] = scratch[n];
  }

  // At detection steps that are not recorded only max sigma is read (no logarithms).
  static constexpr bool kObserveDetect = true;
  template <typename Team, typename Real>
  FS_HD static void observe_detect(const Team& team, const Config& c, const int*, const Real*, const Real*, const Real*,
                                   Real* scratch, Real* obs) {
    const Real* s = scratch + 2 * c.n + 1;
    const Real top = team_max(team, c.n, [&](long i) { return s[i]; });
    if (team.leader()) obs[kMaxSigma] = top;
  }

  // ---- detectors (every detection step) -----------------------------------------------------------
  struct DetectState {};
  template <typename Real>
  FS_HD static void detect(const Config& c, const Real*, const Real* obs, long step, DetectState&, long* fired) {
    detect_first(double(obs[kMaxSigma]) > c.polar_threshold, step, fired[0]);
  }

  // sigma(a) (of U a, tied), one row per index.
  template <typename Team, typename Real>
  FS_HD static void attention_table(const Team& team, const Config& c, const int*, const Real*, const Real* theta,
                                    const Real*, Real* table) {
    const Real* a = theta + long(c.d) * c.n;
    for (int i = team.rank(); i < c.n; i += team.size()) table[i] = Real(i), table[c.n + i] = logit(c, theta, a, i);
    team.sync();
    team_softmax(team, table + c.n, c.n, table + c.n);
  }

  template <typename Real>
  static std::vector<double> final_config(const Config& c, const FlowConfig&, const Real* theta0, const Real*,
                                          const Real* fixed, const Series& s) {
    int u0 = 0;
    double best = -INFINITY;
    for (int i = 0; i < c.n; ++i) {
      double u = 0;
      for (int r = 0; r < c.d; ++r) u += double(theta0[long(i) * c.d + r]) * double(fixed[r]);
      if (u > best) best = u, u0 = i;
    }
    if (s.size() == 0) return {NAN, double(u0), NAN, NAN};
    const long last = s.size() - 1;
    const double win = s.at(last, kArgmax);
    return {win, double(u0), win == double(u0) ? 1.0 : 0.0, s.at(last, kCrossings)};
  }
};

}  // namespace fs
