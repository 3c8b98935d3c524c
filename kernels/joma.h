// JoMA: joint dynamics of MLP and attention (Tian, Wang, Zhang, Chen, Du, ICLR 2024; MODELS.md section 3).
//
// joma_toy: the reduced dynamics after attention is integrated out, for K saliencies v:
//   v <- v + eta (mu - v) softmax(v^2 / tau).
// It is not the gradient of a loss; the engine steps it as one, with "gradient" -(mu - v) softmax(v^2/tau),
// so gradient descent with rate eta is the paper's update exactly. Its `loss` reports 0.5 ||mu - v||^2.
//
// joma: one softmax attention over contextual tokens with an MLP on top. Class k has token frequencies x_k;
//   b_k = x_k exp(z / tau) / sum(x_k exp(z / tau)),   f_k = [b_k; 1],   h_k = phi(W^T N(f_k)),
//   logits_k = R^T h_k  (or h_k itself when hidden = 0: the paper's linear readout),
//   loss = mean_k cross-entropy(logits_k, y_k),   y_k = (1 - label_noise) e_k + label_noise q_k.
// N is the identity, or with norm = layer a LayerNorm without affine parameters: the residual sum of a
// post-LN block. q_k is uniform over the classes (a noisy label is any class), or with noise = random
// the class's own random distribution, as a next token drawn from a context-dependent distribution.
// Label noise gives the loss a finite minimum, so the logits stop growing.
//
// Work to threads: classes are spread over the team for the forward pass; the backward pass is
// owner-computes, by hidden unit for W and R and by token for z, so no element has two writers.
#pragma once

#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/flow.h"
#include "kernels/model_api.h"
#include "kernels/rng.h"
#include "kernels/team.h"

namespace fs {

namespace joma_detail {

// The smallest recorded value of an observable.
inline double series_min(const Series& s, int obs) {
  double m = s.at(0, obs);
  for (long r = 1; r < s.size(); ++r) m = std::fmin(m, s.at(r, obs));
  return m;
}

inline std::vector<ParamDef> detect_params() {
  return {
      ParamDef::real(
          "dip_margin", 1e-3, 0.0, 1e6, false,
          "a dip counts when the entropy's minimum is this far below its start and rises this much after it (nats)"),
      ParamDef::real("rebound_fraction", 0.5, 0.0, 1.0, true,
                     "rebound: the entropy regains this fraction of the way from its minimum back up")};
}

template <typename Real>
FS_HD Real entropy(const Real* p, int n) {
  Real h = 0;
  for (int i = 0; i < n; ++i) h -= p[i] > Real(0) ? p[i] * log(p[i]) : Real(0);
  return h;
}

}  // namespace joma_detail

// ==================================================================================================
struct JomaToy : ModelBase {
  static constexpr const char* kName = "joma_toy";
  struct Config {
    int K;
    double tau, v0;
    double dip_margin, rebound_fraction;  // detectors
  };
  enum Obs : int { kLoss, kEntropy, kMaxWeight, kNumObs };

  static ModelInfo info() {
    ModelInfo mi;
    mi.name = kName;
    mi.paper = "Tian, Wang, Zhang, Chen, Du, ICLR 2024 (arXiv 2310.00535), reduced dynamics";
    mi.doc = "JoMA toy: v <- v + eta (mu - v) softmax(v^2/tau); attention entropy dips and rebounds";
    mi.params = {ParamDef::integer("K", 20, 2, 1 << 20, "number of components"),
                 ParamDef::real("tau", 3.0, 0.0, 1e6, true, "temperature"),
                 ParamDef::real("v0", 0.05, -1e6, 1e6, false, "initial value of every v_i")};
    mi.detect_params = joma_detail::detect_params();
    mi.groups = {{"v", false, "the saliencies v, rate lr (eta)"}};
    mi.observables = {{"loss", "0.5 ||mu - v||^2 (the update is not the gradient of a loss)"},
                      {"entropy", "entropy of softmax(v^2 / tau)"},
                      {"max_weight", "largest entry of softmax(v^2 / tau)"}};
    mi.detectors = {
        {"dip", "the entropy's minimum, when below its start by dip_margin and followed by a rise of dip_margin"},
        {"rebound", "after the dip, the entropy regains rebound_fraction toward softmax(mu^2/tau)'s"}};
    mi.final_columns = {
        {"entropy_start", "ln K"},
        {"entropy_min", "the entropy's minimum over the records"},
        {"entropy_target", "entropy of softmax(mu^2 / tau)"},
        {"regained", "(final - min) / (target - min) of the entropy: how much of its fall it has regained"}};
    return mi;
  }
  static Config configure(const Params& p) {
    return Config{int(p.integer("K")), p.real("tau"), p.real("v0"), p.real("dip_margin"), p.real("rebound_fraction")};
  }
  static Sizes sizes(const Config& c) {
    Sizes s;
    s.n_groups = 1;
    s.group_end[0] = c.K;
    s.n_theta = c.K;
    s.n_fixed = c.K;  // mu
    s.n_scratch = c.K + 2;
    s.n_obs = kNumObs;
    return s;
  }
  template <typename Real>
  static void make_data(const Config&, Stream&, int*, Real*) {}
  // mu = sorted(1 + 3 uniform(K)), drawn once per run; v = v0.
  template <typename Real>
  static void init(const Config& c, Stream& rng, const int*, const Real*, Real* theta, Real* fixed) {
    std::vector<double> mu(size_t(c.K));
    for (auto& m : mu) m = 1.0 + 3.0 * rng.uniform();
    std::sort(mu.begin(), mu.end());
    for (int i = 0; i < c.K; ++i) fixed[i] = Real(mu[size_t(i)]), theta[i] = Real(c.v0);
  }

  template <typename Team, typename Real>
  FS_HD static Real loss_grad(const Team& team, const Config& c, const StepContext&, const int*, const Real*,
                              const Real* theta, const Real* fixed, Real* grad, Real* scratch) {
    Real* w = scratch;  // softmax(v^2 / tau)
    const Real mx = team_max(team, c.K, [&](long i) { return theta[i] * theta[i]; });
    for (int i = team.rank(); i < c.K; i += team.size()) w[i] = exp((theta[i] * theta[i] - mx) / Real(c.tau));
    team.sync();
    const Real z = team_sum(team, c.K, [&](long i) { return w[i]; });
    const Real loss =
        team_sum(team, c.K, [&](long i) { return Real(0.5) * (fixed[i] - theta[i]) * (fixed[i] - theta[i]); });
    for (int i = team.rank(); i < c.K; i += team.size()) {
      w[i] /= z;
      grad[i] = -(fixed[i] - theta[i]) * w[i];
    }
    if (team.leader()) scratch[c.K] = loss;
    team.sync();
    return loss;
  }

  template <typename Team, typename Real>
  FS_HD static void observe(const Team& team, const Config& c, const int*, const Real*, const Real*, const Real*,
                            const Real* scratch, Real* obs) {
    const Real mx = team_max(team, c.K, [&](long i) { return scratch[i]; });
    const Real h =
        team_sum(team, c.K, [&](long i) { return scratch[i] > Real(0) ? -scratch[i] * log(scratch[i]) : Real(0); });
    if (!team.leader()) return;
    obs[kLoss] = scratch[c.K];
    obs[kEntropy] = h;
    obs[kMaxWeight] = mx;
  }

  // The entropy of softmax(mu^2 / tau), where the rebound heads: log Z - sum_i w_i (mu_i^2 - max) / tau,
  // in two passes so that it needs no workspace.
  template <typename Real>
  FS_HD static double target_entropy(const Config& c, const Real* mu) {
    double mx = -INFINITY;
    for (int i = 0; i < c.K; ++i) mx = double(mu[i]) * double(mu[i]) > mx ? double(mu[i]) * double(mu[i]) : mx;
    double z = 0, zx = 0;
    for (int i = 0; i < c.K; ++i) {
      const double x = (double(mu[i]) * double(mu[i]) - mx) / c.tau, e = exp(x);
      z += e, zx += e * x;
    }
    return log(z) - zx / z;
  }

  // ---- detectors (every detection step) -----------------------------------------------------------
  struct DetectState {
    DipTracker entropy;
    double target;  // target_entropy, once
  };
  template <typename Real>
  FS_HD static void detect(const Config& c, const Real* fixed, const Real* obs, long step, DetectState& ds,
                           long* fired) {
    if (ds.entropy.n == 0) ds.target = target_entropy(c, fixed);
    ds.entropy.feed(double(obs[kEntropy]), step, c.rebound_fraction, ds.target);
    fired[0] = ds.entropy.dip(c.dip_margin);
    fired[1] = ds.entropy.rebound(c.dip_margin, ds.target);
  }

  template <typename Real>
  static std::vector<double> final_config(const Config& c, const FlowConfig&, const Real*, const Real*,
                                          const Real* fixed, const Series& s) {
    const double target = target_entropy(c, fixed);
    if (s.size() == 0) return {std::log(double(c.K)), NAN, target, NAN};
    const double h_min = joma_detail::series_min(s, kEntropy);
    const double h_final = s.at(s.size() - 1, kEntropy);
    return {std::log(double(c.K)), h_min, target, target > h_min ? (h_final - h_min) / (target - h_min) : NAN};
  }
};

// ==================================================================================================
struct Joma : ModelBase {
  static constexpr const char* kName = "joma";
  enum Phi : int { kIdentity = 0, kRelu = 1, kSilu = 2 };
  enum Data : int { kProfile = 0, kRandom = 1, kDisjoint = 2 };
  enum Noise : int { kUniformNoise = 0, kRandomNoise = 1 };
  struct Config {
    int C, n_distinct, n_common;
    int data;
    double profile_width;
    int MC, d, H;  // contextual tokens, embedding (MC + 1), hidden units
    bool direct;   // no R: logits are the hidden units (H = C)
    int phi;
    bool layer_norm;
    double label_noise;
    int noise;
    double tau, init_std;
    double dip_margin, rebound_fraction;  // detectors
  };
  enum Obs : int { kLoss, kEntropy, kZhatCorr, kMaxAttn, kNumObs };

  static ModelInfo info() {
    ModelInfo mi;
    mi.name = kName;
    mi.paper = "Tian, Wang, Zhang, Chen, Du, ICLR 2024 (arXiv 2310.00535)";
    mi.doc = "JoMA: softmax attention over contextual tokens with an MLP on top, classes by token frequencies";
    mi.params = {
        ParamDef::integer("C", 20, 2, 1 << 14, "classes"),
        ParamDef::choice("data", "profile", {"profile", "random", "disjoint"},
                         "class frequencies: profile (a bump over the distinct tokens that moves with the class, "
                         "as in the paper's scripts), random (every frequency uniform), disjoint (each class has "
                         "its own distinct tokens)"),
        ParamDef::integer("n_distinct", 10, 1, 1 << 14, "distinct contextual tokens (per class when data = disjoint)"),
        ParamDef::integer("n_common", 10, 0, 1 << 14, "contextual tokens with random frequencies in every class"),
        ParamDef::real("profile_width", 30.0, 0.0, 1e12, true,
                       "data = profile: x_kl ~ exp(-(l - k n_distinct / C)^2 / profile_width)"),
        ParamDef::integer("hidden", 0, 0, 1 << 14,
                          "hidden units H with a trained readout R; 0: logits = W^T f (H = C)"),
        ParamDef::choice("phi", "identity", {"identity", "relu", "silu"}, "the MLP's nonlinearity"),
        ParamDef::choice("norm", "none", {"none", "layer"},
                         "layer: LayerNorm without affine parameters of the residual sum [b_k; 1] before the MLP, "
                         "as in a post-LN block"),
        ParamDef::real("label_noise", 0.0, 0.0, 1.0, false,
                       "the chance that a class's label is replaced by a draw from its noise distribution; the "
                       "loss is the expected cross-entropy, with a finite minimum when above 0"),
        ParamDef::choice("noise", "uniform", {"uniform", "random"},
                         "the noise distribution: uniform over the classes, or per class random (frequencies "
                         "uniform(0, 1), normalised), as next-token targets drawn from a distribution"),
        ParamDef::real("tau", 0.5, 0.0, 1e6, true, "attention temperature"),
        ParamDef::real("init_std", 0.01, 0.0, 1e6, false, "Gaussian std of z, W and R at initialisation"),
    };
    mi.detect_params = joma_detail::detect_params();
    mi.groups = {{"mlp", false, "W and R, rate lr"}, {"attention", true, "attention logits z, rate lr * lr_ratio"}};
    mi.observables = {{"loss", "mean cross-entropy over classes"},
                      {"attn_entropy", "entropy of b_k, mean over classes"},
                      {"zhat_corr", "centred cosine between z and the JoMA prediction z_hat"},
                      {"max_attn", "largest entry of b_k, mean over classes"}};
    mi.detectors = {
        {"dip",
         "the attention entropy's minimum, when below its start by dip_margin and followed by a rise of dip_margin"},
        {"rebound", "after the dip, the entropy regains rebound_fraction of the way to its start"}};
    mi.final_columns = {
        {"entropy_start", "attention entropy at t = 0"},
        {"entropy_min", "its minimum over the records"},
        {"regained", "(final - min) / (start - min) of the attention entropy: how much of its fall it has regained"}};
    mi.final_table = {{"class", "class index k"},
                      {"token", "contextual token l (distinct tokens first, then common ones)"},
                      {"frequency", "x_k[l], the class's normalised frequency of the token"},
                      {"attention", "attention b_k[l] of the class on the token"}};
    return mi;
  }

  static Config configure(const Params& p) {
    Config c{};
    c.C = int(p.integer("C"));
    c.n_distinct = int(p.integer("n_distinct"));
    c.n_common = int(p.integer("n_common"));
    const std::string& data = p.choice("data");
    c.data = data == "random" ? kRandom : data == "disjoint" ? kDisjoint : kProfile;
    c.profile_width = p.real("profile_width");
    c.MC = (c.data == kDisjoint ? c.C * c.n_distinct : c.n_distinct) + c.n_common;
    c.d = c.MC + 1;
    const long hidden = p.integer("hidden");
    c.direct = hidden == 0;
    c.H = c.direct ? c.C : int(hidden);
    const std::string& phi = p.choice("phi");
    c.phi = phi == "relu" ? kRelu : phi == "silu" ? kSilu : kIdentity;
    c.layer_norm = p.choice("norm") == "layer";
    c.label_noise = p.real("label_noise");
    c.noise = p.choice("noise") == "random" ? kRandomNoise : kUniformNoise;
    c.tau = p.real("tau");
    c.init_std = p.real("init_std");
    if ((c.data == kDisjoint ? long(c.C) * c.n_distinct : long(c.n_distinct)) + c.n_common > (1L << 16))
      throw ParamError("n_distinct", "more than 65536 contextual tokens");
    c.dip_margin = p.real("dip_margin");
    c.rebound_fraction = p.real("rebound_fraction");
    return c;
  }

  FS_HD static long n_W(const Config& c) { return long(c.d) * c.H; }
  FS_HD static long n_R(const Config& c) { return c.direct ? 0 : long(c.H) * c.C; }

  static Sizes sizes(const Config& c) {
    Sizes s;
    s.n_groups = 2;
    s.group_end[0] = n_W(c) + n_R(c);
    s.group_end[1] = s.group_end[0] + c.MC;
    s.n_theta = s.group_end[1];
    s.n_fixed = c.MC;                                    // the offset of z_hat, fixed at t = 0
    s.n_rdata = long(c.C + 1) * c.MC + long(c.C) * c.C;  // x_k (C, MC) | xbar (MC) | y_k (C, C)
    s.n_scratch = long(c.C) * class_words(c) + 1;
    s.n_obs = kNumObs;
    s.n_table_rows = long(c.C) * c.MC;
    s.n_table_fields = 4;
    return s;
  }
  // per class: b (MC) | dz contribution (MC) | a (H) | h (H) | da (H) | g (C) | N(f) (d) | sigma (1) | loss (1)
  FS_HD static long class_words(const Config& c) { return 2L * c.MC + 3L * c.H + c.C + c.d + 2; }

  // Class k's frequencies x_k, normalised to sum 1. The paper's scripts draw every frequency uniform in
  // (0, 1/2) and, for data = profile, overwrite the distinct tokens' with a bump centred on token
  // k n_distinct / C, so neighbouring classes share tokens and each class has its own peak.
  // [ours] data = disjoint: class k has distinct tokens k n_distinct .. (k+1) n_distinct - 1 alone.
  template <typename Real>
  static void make_data(const Config& c, Stream& rng, int*, Real* rdata) {
    Real* xbar = rdata + long(c.C) * c.MC;
    for (int l = 0; l < c.MC; ++l) xbar[l] = 0;
    const int n_dist = c.MC - c.n_common;  // distinct tokens come first
    std::vector<double> w(size_t(c.MC));
    for (int k = 0; k < c.C; ++k) {
      Real* x = rdata + long(k) * c.MC;
      for (int l = 0; l < c.MC; ++l) {
        if (c.data == kDisjoint && l < n_dist) {
          w[size_t(l)] = l / c.n_distinct == k ? 0.5 * rng.uniform() : 0.0;
        } else if (c.data == kProfile && l < n_dist) {
          const double centre = double(k) * c.n_distinct / c.C;
          w[size_t(l)] = std::exp(-(l - centre) * (l - centre) / c.profile_width);
        } else {
          w[size_t(l)] = 0.5 * rng.uniform();
        }
      }
      double tot = 0;
      for (double v : w) tot += v;
      for (int l = 0; l < c.MC; ++l) {
        x[l] = Real(w[size_t(l)] / tot);
        xbar[l] += x[l] / Real(c.C);
      }
    }
    // Targets, drawn after the frequencies so that label noise leaves the data of a seed as it was.
    Real* y = xbar + c.MC;
    std::vector<double> q(size_t(c.C));
    for (int k = 0; k < c.C; ++k) {
      double tot = 0;
      for (int o = 0; o < c.C; ++o) tot += (q[size_t(o)] = c.noise == kRandomNoise ? rng.uniform() : 1.0);
      for (int o = 0; o < c.C; ++o)
        y[long(k) * c.C + o] = Real((o == k ? 1.0 - c.label_noise : 0.0) + c.label_noise * q[size_t(o)] / tot);
    }
  }

  template <typename Real>
  static void init(const Config& c, Stream& rng, const int*, const Real* rdata, Real* theta, Real* fixed) {
    const long n = n_W(c) + n_R(c) + c.MC;
    for (long i = 0; i < n; ++i) theta[i] = Real(c.init_std * rng.normal());
    // z_hat's offset makes z_hat(0) = z(0).
    const Real* W = theta;
    const Real* z = theta + n_W(c) + n_R(c);
    const Real* xbar = rdata + long(c.C) * c.MC;
    Real w2 = 0;
    for (long i = 0; i < n_W(c); ++i) w2 += W[i] * W[i];
    for (int l = 0; l < c.MC; ++l) fixed[l] = z[l] - zhat_raw(c, W, xbar, w2, l);
  }

  template <typename Real>
  FS_HD static Real act(int phi, Real a) {
    if (phi == kRelu) return a > Real(0) ? a : Real(0);
    if (phi == kSilu) return a / (Real(1) + exp(-a));
    return a;
  }
  template <typename Real>
  FS_HD static Real act_grad(int phi, Real a) {
    if (phi == kRelu) return a > Real(0) ? Real(1) : Real(0);
    if (phi == kSilu) {
      const Real s = Real(1) / (Real(1) + exp(-a));
      return s * (Real(1) + a * (Real(1) - s));
    }
    return Real(1);
  }

  // Class k's attention b = x_k exp(z / tau) / sum(x_k exp(z / tau)) over the contextual tokens.
  template <typename Real>
  FS_HD static void attention(const Config& c, const Real* x, const Real* z, Real* b) {
    const int MC = c.MC;
    const Real inv_tau = Real(1) / Real(c.tau);
    Real zmax = -INFINITY;
    for (int l = 0; l < MC; ++l)
      if (x[l] > Real(0) && z[l] > zmax) zmax = z[l];
    Real tot = 0;
    for (int l = 0; l < MC; ++l) tot += (b[l] = x[l] > Real(0) ? x[l] * exp((z[l] - zmax) * inv_tau) : Real(0));
    for (int l = 0; l < MC; ++l) b[l] /= tot;
  }

  // N(f) for f = [b; 1] into n (d), and sigma into n[d]: f itself and sigma = 1 without a norm.
  template <typename Real>
  FS_HD static void normalise(const Config& c, const Real* b, Real* n) {
    const int MC = c.MC;
    for (int l = 0; l < MC; ++l) n[l] = b[l];
    n[MC] = Real(1);
    n[c.d] = Real(1);
    if (!c.layer_norm) return;
    Real mean = 0;
    for (int l = 0; l <= MC; ++l) mean += n[l];
    mean /= Real(c.d);
    Real var = 0;
    for (int l = 0; l <= MC; ++l) var += (n[l] - mean) * (n[l] - mean);
    const Real sigma = sqrt(var / Real(c.d) + Real(kLayerNormEps));
    for (int l = 0; l <= MC; ++l) n[l] = (n[l] - mean) / sigma;
    n[c.d] = sigma;
  }
  static constexpr double kLayerNormEps = 1e-5;  // PyTorch's LayerNorm default

  template <typename Team, typename Real>
  FS_HD static Real loss_grad(const Team& team, const Config& c, const StepContext&, const int*, const Real* rdata,
                              const Real* theta, const Real*, Real* grad, Real* scratch) {
    const int MC = c.MC, H = c.H, C = c.C;
    const Real* W = theta;           // (d, H)
    const Real* R = theta + n_W(c);  // (H, C)
    const Real* z = R + n_R(c);      // (MC)
    Real* gW = grad;
    Real* gR = grad + n_W(c);
    Real* gz = gR + n_R(c);
    const long cw = class_words(c);
    const Real inv_tau = Real(1) / Real(c.tau);

    for (int k = team.rank(); k < C; k += team.size()) {
      Real* s = scratch + k * cw;
      Real* b = s;
      Real* dz = b + MC;
      Real* a = dz + MC;
      Real* h = a + H;
      Real* da = h + H;
      Real* g = da + H;
      Real* f = g + C;  // N(f), (d)
      const Real* x = rdata + long(k) * MC;
      const Real* y = rdata + long(C + 1) * MC + long(k) * C;
      attention(c, x, z, b);
      normalise(c, b, f);
      // a = W^T N(f) and g = R^T h, row by row of W and R so the inner loops run along contiguous rows;
      // each a_u and g_o still sums its terms in the order l = 0, 1, ... (u = 0, 1, ...).
      const Real fq = f[MC];  // the query's residual coordinate
      for (int u = 0; u < H; ++u) a[u] = W[long(MC) * H + u] * fq;
      for (int l = 0; l < MC; ++l) {
        const Real fl = f[l];
        const Real* Wl = W + long(l) * H;
        FS_SIMD
        for (int u = 0; u < H; ++u) a[u] += Wl[u] * fl;
      }
      for (int u = 0; u < H; ++u) h[u] = act(c.phi, a[u]);
      if (c.direct) {
        for (int o = 0; o < C; ++o) g[o] = h[o];
      } else {
        for (int o = 0; o < C; ++o) g[o] = 0;
        for (int u = 0; u < H; ++u) {
          const Real hu = h[u];
          const Real* Ru = R + long(u) * C;
          FS_SIMD
          for (int o = 0; o < C; ++o) g[o] += Ru[o] * hu;
        }
      }
      Real lmax = -INFINITY;
      for (int o = 0; o < C; ++o) lmax = g[o] > lmax ? g[o] : lmax;
      Real zs = 0, yg = 0;
      for (int o = 0; o < C; ++o) zs += exp(g[o] - lmax);
      for (int o = 0; o < C; ++o) yg += y[o] * g[o];
      s[cw - 1] = log(zs) + lmax - yg;  // sum_o y_o = 1
      for (int o = 0; o < C; ++o) g[o] = (exp(g[o] - lmax) / zs - y[o]) / Real(C);
      for (int u = 0; u < H; ++u) {
        Real dh = 0;
        if (c.direct) {
          dh = g[u];
        } else {
          for (int o = 0; o < C; ++o) dh += R[long(u) * C + o] * g[o];
        }
        da[u] = dh * act_grad(c.phi, a[u]);
      }
      // dL/dN(f)_l = (W da)_l, through N to dL/db_l;  dL/dz_l = b_l (db_l - b.db) / tau
      for (int l = 0; l < MC; ++l) {
        Real acc = 0;
        for (int u = 0; u < H; ++u) acc += W[long(l) * H + u] * da[u];
        dz[l] = acc;
      }
      if (c.layer_norm) {
        // dL/df = (dN - mean(dN) - N mean(dN N)) / sigma, dN over all d coordinates, the query's included
        Real dq = 0;
        for (int u = 0; u < H; ++u) dq += W[long(MC) * H + u] * da[u];
        Real m1 = dq, m2 = dq * f[MC];
        for (int l = 0; l < MC; ++l) m1 += dz[l], m2 += dz[l] * f[l];
        m1 /= Real(c.d), m2 /= Real(c.d);
        const Real inv_sigma = Real(1) / f[c.d];
        for (int l = 0; l < MC; ++l) dz[l] = (dz[l] - m1 - f[l] * m2) * inv_sigma;
      }
      Real bdb = 0;
      for (int l = 0; l < MC; ++l) bdb += b[l] * dz[l];
      for (int l = 0; l < MC; ++l) dz[l] = b[l] * (dz[l] - bdb) * inv_tau;
    }
    team.sync();

    // dW[l, u] = sum_k f_kl da_ku, dR[u, o] = sum_k h_ku g_ko: owner-computes by hidden unit u, the
    // members' units interleaved along each row of dW; every element sums over k = 0, 1, ... in order.
    for (int l = 0; l <= MC; ++l)
      for (int u = team.rank(); u < H; u += team.size()) gW[long(l) * H + u] = 0;
    for (int k = 0; k < C; ++k) {
      const Real* s = scratch + k * cw;
      const Real* da = s + 2 * MC + 2 * H;
      const Real* f = da + H + C;
      for (int l = 0; l < MC; ++l) {
        const Real fl = f[l];
        Real* gWl = gW + long(l) * H;
        FS_SIMD
        for (int u = team.rank(); u < H; u += team.size()) gWl[u] += fl * da[u];
      }
      Real* gWq = gW + long(MC) * H;
      const Real fq = f[MC];
      for (int u = team.rank(); u < H; u += team.size()) gWq[u] += da[u] * fq;
    }
    if (!c.direct)
      for (int u = team.rank(); u < H; u += team.size()) {
        Real* gRu = gR + long(u) * C;
        for (int o = 0; o < C; ++o) gRu[o] = 0;
        for (int k = 0; k < C; ++k) {
          const Real* s = scratch + k * cw;
          const Real hu = s[2 * MC + H + u];
          const Real* g = s + 2 * MC + 3 * H;
          FS_SIMD
          for (int o = 0; o < C; ++o) gRu[o] += hu * g[o];
        }
      }
    // dz: owner-computes by token.
    for (int l = team.rank(); l < MC; l += team.size()) {
      Real acc = 0;
      for (int k = 0; k < C; ++k) acc += scratch[k * cw + MC + l];
      gz[l] = acc;
    }
    team.sync();
    return team_mean(team, scratch + cw - 1, cw, C, scratch + long(C) * cw);
  }

  // sum_u V_lu^2 - xbar_l ||W||_F^2, over 2 tau: z_hat without its offset.
  template <typename Real>
  FS_HD static Real zhat_raw(const Config& c, const Real* W, const Real* xbar, Real w2, int l) {
    Real v2 = 0;
    for (int u = 0; u < c.H; ++u) v2 += W[long(l) * c.H + u] * W[long(l) * c.H + u];
    return (v2 - xbar[l] * w2) / (Real(2) * Real(c.tau));
  }

  // Every sum is a team reduction (over classes, then over the tokens); the leader writes obs.
  template <typename Team, typename Real>
  FS_HD static void observe(const Team& team, const Config& c, const int*, const Real* rdata, const Real* theta,
                            const Real* fixed, const Real* scratch, Real* obs) {
    const int MC = c.MC;
    const long cw = class_words(c);
    using Two = Sums<Real, 2>;
    using Three = Sums<Real, 3>;
    // (entropy, largest weight) of each class's attention
    const Two per_class = team_sum(team, c.C, [&](long k) {
      const Real* b = scratch + k * cw;
      Two t;
      t[0] = joma_detail::entropy(b, MC), t[1] = 0;
      for (int l = 0; l < MC; ++l) t[1] = b[l] > t[1] ? b[l] : t[1];
      return t;
    });
    const Real* W = theta;
    const Real* z = theta + n_W(c) + n_R(c);
    const Real* xbar = rdata + long(c.C) * MC;
    const Real w2 = team_sum(team, n_W(c), [&](long i) { return W[i] * W[i]; });
    // centred cosine of z and z_hat = zhat_raw + offset (offset = z(0) - zhat_raw(0), in fixed)
    auto zhat = [&](long l) { return zhat_raw(c, W, xbar, w2, int(l)) + fixed[l]; };
    const Two means = team_sum(team, MC, [&](long l) {
      Two t;
      t[0] = z[l], t[1] = zhat(l);
      return t;
    });
    const Real mz = means[0] / Real(MC), mh = means[1] / Real(MC);
    const Three co = team_sum(team, MC, [&](long l) {
      const Real dz = z[l] - mz, dh = zhat(l) - mh;
      Three t;
      t[0] = dz * dz, t[1] = dh * dh, t[2] = dz * dh;
      return t;
    });
    if (!team.leader()) return;
    obs[kLoss] = scratch[long(c.C) * cw];
    obs[kEntropy] = per_class[0] / Real(c.C);
    obs[kZhatCorr] = co[0] > Real(0) && co[1] > Real(0) ? co[2] / sqrt(co[0] * co[1]) : Real(NAN);
    obs[kMaxAttn] = per_class[1] / Real(c.C);
  }

  // ---- detectors (every detection step) -----------------------------------------------------------
  struct DetectState {
    DipTracker entropy;  // the rebound heads back to the starting entropy
  };
  template <typename Real>
  FS_HD static void detect(const Config& c, const Real*, const Real* obs, long step, DetectState& ds, long* fired) {
    ds.entropy.feed(double(obs[kEntropy]), step, c.rebound_fraction, ds.entropy.start);
    fired[0] = ds.entropy.dip(c.dip_margin);
    fired[1] = ds.entropy.rebound(c.dip_margin, ds.entropy.start);
  }

  template <typename Real>
  static std::vector<double> final_config(const Config&, const FlowConfig&, const Real*, const Real*, const Real*,
                                          const Series& s) {
    if (s.size() == 0) return {NAN, NAN, NAN};
    const double h_min = joma_detail::series_min(s, kEntropy);
    const double h0 = s.at(0, kEntropy), h1 = s.at(s.size() - 1, kEntropy);
    return {h0, h_min, h0 > h_min ? (h1 - h_min) / (h0 - h_min) : NAN};
  }
  // b_k of every class over the contextual tokens, beside the class's frequencies; one member a class.
  template <typename Team, typename Real>
  FS_HD static void attention_table(const Team& team, const Config& c, const int*, const Real* rdata, const Real* theta,
                                    const Real*, Real* table) {
    const long R = long(c.C) * c.MC;
    const Real* z = theta + n_W(c) + n_R(c);
    for (int k = team.rank(); k < c.C; k += team.size()) {
      const Real* x = rdata + long(k) * c.MC;
      for (int l = 0; l < c.MC; ++l) {
        const long i = long(k) * c.MC + l;
        table[i] = Real(k), table[R + i] = Real(l), table[2 * R + i] = x[l];
      }
      attention(c, x, z, table + 3 * R + long(k) * c.MC);
    }
  }
};

}  // namespace fs
