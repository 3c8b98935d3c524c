// scan_snap: the reparameterised 1-layer transformer of Tian, Wang, Chen, Du, "Scan and Snap"
// (NeurIPS 2023; MODELS.md section 2). Two M x M matrices are trained: Z (attention logits, row q for
// query token q) and Y (decoder). For contextual tokens with counts (or probabilities) w_l, query q and
// next token n:
//   c_l = w_l exp(Z[q,l]) / sum_l' w_l' exp(Z[q,l']),   f = c / ||c||,   logits = Y^T f,
//   loss = cross-entropy(logits, n).
// Only the tokens a class can emit (its support: the common tokens and its 10 distinct ones) carry
// weight, so every sum runs over a support of S = num_common + 10 tokens, not over M.
//
// Work to threads: the forward pass spreads items (classes in population mode, sampled sequences in
// minibatch mode) over the team; dY is owner-computes by output column, dZ by query token (classes that
// share a query share its row of Z), so no two members write one element and the order is fixed.
#pragma once

#include <cmath>

#include "kernels/common.h"
#include "kernels/flow.h"
#include "kernels/model_api.h"
#include "kernels/rng.h"
#include "kernels/team.h"

namespace fs {

struct ScanSnap : ModelBase {
  static constexpr const char* kName = "scan_snap";
  static constexpr int kDistinct = 10;  // distinct tokens per next token

  enum Mode : int { kPopulation = 0, kMinibatch = 1 };
  enum Init : int { kZero = 0, kUniform = 1 };

  struct Config {
    int num_last, num_next_per_last, num_common;
    int K, M, S;  // classes, vocabulary, support size
    int T, batch;
    int mode, init;
    double freeze_fraction, freeze_tolerance;  // detectors
  };

  enum Obs : int { kLoss, kPopLoss, kDistinctEntropy, kCommonMass, kTopDistinct, kNumObs };

  static ModelInfo info() {
    ModelInfo mi;
    mi.name = kName;
    mi.paper = "Tian, Wang, Chen, Du, NeurIPS 2023 (arXiv 2305.16380)";
    mi.doc = "scan and snap: reparameterised 1-layer transformer (Y decoder, Z attention), next-token CE";
    mi.params = {
        ParamDef::integer("num_last", 1, 1, 4096, "query tokens"),
        ParamDef::integer("num_next_per_last", 2, 1, 4096, "next tokens (classes) per query token"),
        ParamDef::integer("num_common", 10, 0, 1 << 16, "common tokens shared by every class (weight 1 each)"),
        ParamDef::integer("M", 0, 0, 1 << 13,
                          "vocabulary size; 0: exactly the generator's tokens, more: unused tokens in the output"),
        ParamDef::choice("mode", "population", {"population", "minibatch"},
                         "population: exact expected loss (long-sequence limit); minibatch: sampled sequences"),
        ParamDef::integer("T", 128, 2, 1 << 20, "sequence length (T-1 contextual tokens), minibatch mode"),
        ParamDef::integer("batch", 128, 1, 4096, "sequences per step, minibatch mode"),
        ParamDef::choice("init", "zero", {"zero", "uniform"}, "Y = Z = 0, or uniform in (-1/sqrt(M), 1/sqrt(M))"),
    };
    mi.detect_params = {
        ParamDef::real("freeze_fraction", 0.01, 0.0, 1.0, true,
                       "freeze: the entropy's rate falls below this fraction of its steepest rate"),
        ParamDef::real("freeze_tolerance", 0.1, 0.0, 1e6, false,
                       "freeze: and the entropy stays within this fraction of its fall (from the start) from then on"),
    };
    mi.groups = {{"Z", false, "attention logits Z, rate lr (eta_Z)"},
                 {"Y", true, "decoder Y, rate lr * lr_ratio (eta_Y)"}};
    mi.observables = {
        {"loss", "the loss of this step's evaluation (the sampled batch in minibatch mode)"},
        {"pop_loss", "the expected (population) loss"},
        {"distinct_entropy", "entropy of each class's attention on its own distinct tokens (renormalised), mean"},
        {"common_mass", "attention mass on the common tokens, mean over classes"},
        {"top_distinct", "share of the most probable distinct token in the distinct-token attention, mean"},
    };
    mi.detectors = {
        {"snap", "steepest descent of distinct_entropy (its inflection)"},
        {"freeze",
         "first later time the entropy's rate falls below freeze_fraction of the steepest rate and the "
         "entropy stays within freeze_tolerance of its fall from then on"},
    };
    mi.final_columns = {{"t0", "the theory's snap time 2 K ln(M) / eta_Y"}, {"M", "vocabulary size"}, {"K", "classes"}};
    mi.final_table = {{"class", "class index (its next token is num_common + 10 K + num_last + class)"},
                      {"token", "token id"},
                      {"kind", "0 common, 1 distinct"},
                      {"rank", "1..10 for distinct tokens in order of increasing P(l|n), 0 for common"},
                      {"prob", "P(l|n)"},
                      {"attention", "population attention c_l of the class"}};
    return mi;
  }

  static Config configure(const Params& p) {
    Config c{};
    c.num_last = int(p.integer("num_last"));
    c.num_next_per_last = int(p.integer("num_next_per_last"));
    c.num_common = int(p.integer("num_common"));
    c.K = c.num_last * c.num_next_per_last;
    const long needed = long(c.num_common) + long(kDistinct) * c.K + c.num_last + c.K;
    const long M = p.integer("M");
    if (M > 0 && M < needed)
      throw ParamError("M", "a vocabulary of " + std::to_string(M) +
                                " tokens is too small for the classes: the "
                                "generator needs " +
                                std::to_string(needed));
    if (needed > (1L << 13)) throw ParamError("num_last", "the classes need more than 8192 tokens");
    c.M = int(M > 0 ? M : needed);
    c.S = c.num_common + kDistinct;
    c.T = int(p.integer("T"));
    c.batch = int(p.integer("batch"));
    c.mode = p.choice("mode") == "minibatch" ? kMinibatch : kPopulation;
    c.init = p.choice("init") == "uniform" ? kUniform : kZero;
    c.freeze_fraction = p.real("freeze_fraction");
    c.freeze_tolerance = p.real("freeze_tolerance");
    return c;
  }

  FS_HD static int items(const Config& c) { return c.mode == kMinibatch ? c.batch : c.K; }
  FS_HD static int next_token(const Config& c, int j) { return c.num_common + kDistinct * c.K + c.num_last + j; }
  FS_HD static int query_token(const Config& c, int j) {
    return c.num_common + kDistinct * c.K + j / c.num_next_per_last;
  }

  static Sizes sizes(const Config& c) {
    Sizes s;
    const long MM = long(c.M) * c.M;
    s.n_groups = 2;
    s.group_end[0] = MM;
    s.group_end[1] = 2 * MM;
    s.n_theta = 2 * MM;
    s.n_fixed = 0;
    s.n_idata = long(c.K) * c.S;  // support token ids per class
    s.n_rdata = 2L * c.K * c.S;   // P(l|n) per class, and its cumulative sums
    s.n_scratch = scratch_size(c);
    s.n_obs = kNumObs;
    s.n_table_rows = long(c.K) * c.S;
    s.n_table_fields = 6;
    return s;
  }

  // scratch: per item: class (1) | w (S) | c (S) | f (S) | h = Y g on the support (S) | g (M) | loss (1);
  // then the mean loss (1)
  FS_HD static long item_words(const Config& c) { return 4L * c.S + c.M + 2; }
  // The items' words, the loss, then a class's attention (S words) for each of kTeamLanes members, the
  // workspace of observe.
  FS_HD static long scratch_size(const Config& c) {
    return long(items(c)) * item_words(c) + 1 + long(kTeamLanes) * c.S;
  }

  // ---- data (host) ------------------------------------------------------------------------------
  // Token ids: common, distinct (10 per next token), query tokens, next tokens. Class j's support is the
  // common tokens (weight 1) then its distinct tokens (weights 0.1, 0.2, ..., 1.0).
  template <typename Real>
  static void make_data(const Config& c, Stream&, int* idata, Real* rdata) {
    const double total = c.num_common + 5.5;
    for (int j = 0; j < c.K; ++j) {
      int* sup = idata + long(j) * c.S;
      Real* P = rdata + long(j) * c.S;
      Real* cdf = rdata + long(c.K) * c.S + long(j) * c.S;
      double acc = 0;
      for (int s = 0; s < c.S; ++s) {
        const bool common = s < c.num_common;
        sup[s] = common ? s : c.num_common + kDistinct * j + (s - c.num_common);
        const double w = common ? 1.0 : 0.1 * (s - c.num_common + 1);
        P[s] = Real(w / total);
        acc += w / total;
        cdf[s] = Real(acc);
      }
      cdf[c.S - 1] = Real(1);
    }
  }

  template <typename Real>
  static void init(const Config& c, Stream& rng, const int*, const Real*, Real* theta, Real*) {
    const long n = 2L * c.M * c.M;
    const double a = 1.0 / std::sqrt(double(c.M));
    for (long i = 0; i < n; ++i) theta[i] = c.init == kUniform ? Real(a * (2 * rng.uniform() - 1)) : Real(0);
  }

  // ---- loss and gradient ------------------------------------------------------------------------
  template <typename Team, typename Real>
  FS_HD static Real loss_grad(const Team& team, const Config& c, const StepContext& ctx, const int* idata,
                              const Real* rdata, const Real* theta, const Real*, Real* grad, Real* scratch) {
    const int M = c.M, S = c.S, n_items = items(c);
    const Real* Z = theta;
    const Real* Y = theta + long(M) * M;
    Real* gZ = grad;
    Real* gY = grad + long(M) * M;
    const long iw = item_words(c);

    // Forward per item: weights w over the class's support, attention c, f, softmax - onehot.
    for (int it = team.rank(); it < n_items; it += team.size()) {
      Real* s = scratch + it * iw;
      Real* w = s + 1;
      Real* cc = w + S;
      Real* f = cc + S;
      Real* h = f + S;
      Real* g = h + S;
      int j = it;
      if (c.mode == kMinibatch) {
        // Counter (step, item, draw): the same numbers on every backend and team size.
        Stream rng(ctx.sweep_seed, ctx.run_seed, kStreamMinibatch, (uint64_t(ctx.step) << 32) | (uint64_t(it) << 20));
        j = int(rng.below(uint32_t(c.K)));
        const Real* cdf = rdata + long(c.K) * S + long(j) * S;
        for (int k = 0; k < S; ++k) w[k] = 0;
        for (int t = 0; t < c.T - 1; ++t) {
          const double u = rng.uniform();
          int lo = 0;
          while (lo < S - 1 && double(cdf[lo]) < u) ++lo;
          w[lo] += 1;
        }
      } else {
        const Real* P = rdata + long(j) * S;
        for (int k = 0; k < S; ++k) w[k] = P[k];
      }
      s[0] = Real(j);
      const int* sup = idata + long(j) * S;
      const Real* zq = Z + long(query_token(c, j)) * M;
      Real zmax = -INFINITY;
      for (int k = 0; k < S; ++k)
        if (w[k] > Real(0) && zq[sup[k]] > zmax) zmax = zq[sup[k]];
      Real tot = 0;
      for (int k = 0; k < S; ++k) tot += (cc[k] = w[k] > Real(0) ? w[k] * exp(zq[sup[k]] - zmax) : Real(0));
      Real norm2 = 0;
      for (int k = 0; k < S; ++k) {
        cc[k] /= tot;
        norm2 += cc[k] * cc[k];
      }
      const Real inv_norm = Real(1) / sqrt(norm2);
      for (int k = 0; k < S; ++k) f[k] = cc[k] * inv_norm;
      Real lmax = -INFINITY;
      for (int o = 0; o < M; ++o) {
        Real acc = 0;
        for (int k = 0; k < S; ++k) acc += Y[long(sup[k]) * M + o] * f[k];
        g[o] = acc;
        lmax = acc > lmax ? acc : lmax;
      }
      Real z = 0;
      for (int o = 0; o < M; ++o) z += exp(g[o] - lmax);
      const int target = next_token(c, j);
      s[iw - 1] = log(z) + lmax - g[target];  // cross-entropy
      const Real inv_items = Real(1) / Real(n_items);
      for (int o = 0; o < M; ++o) g[o] = (exp(g[o] - lmax) / z - (o == target ? Real(1) : Real(0))) * inv_items;
      for (int k = 0; k < S; ++k) {
        const Real* yrow = Y + long(sup[k]) * M;
        Real acc = 0;
        for (int o = 0; o < M; ++o) acc += yrow[o] * g[o];
        h[k] = acc;
      }
    }
    team.sync();

    for (long e = team.rank(); e < 2L * M * M; e += team.size()) grad[e] = 0;
    team.sync();

    // dY[l, o] = sum_items f_l g_o: owner-computes by column o.
    for (int it = 0; it < n_items; ++it) {
      const Real* s = scratch + it * iw;
      const int j = int(s[0]);
      const int* sup = idata + long(j) * S;
      const Real* f = s + 1 + 2 * S;
      const Real* g = f + 2 * S;
      for (int k = 0; k < S; ++k) {
        Real* row = gY + long(sup[k]) * M;
        const Real fk = f[k];
        for (int o = team.rank(); o < M; o += team.size()) row[o] += fk * g[o];
      }
    }

    // dZ[q, l]: owner-computes by query token.
    for (int q = team.rank(); q < c.num_last; q += team.size()) {
      const int qtok = c.num_common + kDistinct * c.K + q;
      for (int it = 0; it < n_items; ++it) {
        Real* s = scratch + it * iw;
        const int j = int(s[0]);
        if (query_token(c, j) != qtok) continue;
        const int* sup = idata + long(j) * S;
        const Real* cc = s + 1 + S;
        const Real* f = cc + S;
        const Real* h = f + S;
        // dL/dc = (h - f (f.h)) / ||c||;  dL/dz = c (dL/dc - c.dL/dc)
        Real fh = 0, norm2 = 0;
        for (int k = 0; k < S; ++k) {
          norm2 += cc[k] * cc[k];
          fh += f[k] * h[k];
        }
        const Real inv_norm = Real(1) / sqrt(norm2);
        Real cdc = 0;
        for (int k = 0; k < S; ++k) cdc += cc[k] * (h[k] - f[k] * fh) * inv_norm;
        Real* gz = gZ + long(qtok) * M;
        for (int k = 0; k < S; ++k) gz[sup[k]] += cc[k] * ((h[k] - f[k] * fh) * inv_norm - cdc);
      }
    }
    team.sync();
    return team_mean(team, scratch + iw - 1, iw, n_items, scratch + long(n_items) * iw);
  }

  // Population attention of class j: c over its support.
  template <typename Real>
  FS_HD static void class_attention(const Config& c, const int* idata, const Real* rdata, const Real* Z, int j,
                                    Real* cc) {
    const int S = c.S;
    const int* sup = idata + long(j) * S;
    const Real* P = rdata + long(j) * S;
    const Real* zq = Z + long(query_token(c, j)) * c.M;
    Real zmax = -INFINITY;
    for (int k = 0; k < S; ++k) zmax = zq[sup[k]] > zmax ? zq[sup[k]] : zmax;
    Real tot = 0;
    for (int k = 0; k < S; ++k) tot += (cc[k] = P[k] * exp(zq[sup[k]] - zmax));
    for (int k = 0; k < S; ++k) cc[k] /= tot;
  }

  // ---- observables ------------------------------------------------------------------------------
  // The entropy of a class's attention restricted to its distinct tokens, renormalised.
  template <typename Real>
  FS_HD static Real distinct_entropy(const Config& c, const Real* cc) {
    Real dsum = 0, h = 0;
    for (int k = c.num_common; k < c.S; ++k) dsum += cc[k];
    for (int k = c.num_common; k < c.S; ++k) {
      const Real p = cc[k] / dsum;
      h -= p > Real(0) ? p * log(p) : Real(0);
    }
    return h;
  }

  // One class per item of a team reduction, each member in its own slice of the workspace.
  template <typename Team, typename Real>
  FS_HD static Real* class_workspace(const Team& team, const Config& c, Real* scratch) {
    return scratch + long(items(c)) * item_words(c) + 1 + long(team.rank()) * c.S;
  }

  template <typename Team, typename Real>
  FS_HD static void observe(const Team& team, const Config& c, const int* idata, const Real* rdata, const Real* theta,
                            const Real*, Real* scratch, Real* obs) {
    const int S = c.S, M = c.M;
    const Real* Z = theta;
    const Real* Y = theta + long(M) * M;
    using Four = Sums<Real, 4>;  // distinct entropy, common mass, top distinct share, population loss
    const Four total = team_sum(team, c.K, [&](long jl) {
      const int j = int(jl);
      Real* cc = class_workspace(team, c, scratch);
      class_attention(c, idata, rdata, Z, j, cc);
      Four t;
      Real dsum = 0;
      for (int k = c.num_common; k < S; ++k) dsum += cc[k];
      for (int k = 0; k < c.num_common; ++k) t[1] += cc[k];
      t[0] = distinct_entropy(c, cc);
      t[2] = cc[S - 1] / dsum;
      // population loss of class j
      Real norm2 = 0;
      for (int k = 0; k < S; ++k) norm2 += cc[k] * cc[k];
      const Real inv_norm = Real(1) / sqrt(norm2);
      const int* sup = idata + long(j) * S;
      auto logit = [&](int o) {
        Real acc = 0;
        for (int k = 0; k < S; ++k) acc += Y[long(sup[k]) * M + o] * cc[k] * inv_norm;
        return acc;
      };
      Real lmax = -INFINITY, target_logit = 0;
      for (int o = 0; o < M; ++o) {
        const Real g = logit(o);
        lmax = g > lmax ? g : lmax;
        if (o == next_token(c, j)) target_logit = g;
      }
      Real z = 0;
      for (int o = 0; o < M; ++o) z += exp(logit(o) - lmax);
      t[3] = log(z) + lmax - target_logit;
      return t;
    });
    if (!team.leader()) return;
    obs[kLoss] = scratch[long(items(c)) * item_words(c)];
    obs[kPopLoss] = total[3] / Real(c.K);
    obs[kDistinctEntropy] = total[0] / Real(c.K);
    obs[kCommonMass] = total[1] / Real(c.K);
    obs[kTopDistinct] = total[2] / Real(c.K);
  }

  // At detection steps that are not recorded only the distinct-token entropy is computed: the population
  // loss costs M x S per class, the entropy S.
  static constexpr bool kObserveDetect = true;
  template <typename Team, typename Real>
  FS_HD static void observe_detect(const Team& team, const Config& c, const int* idata, const Real* rdata,
                                   const Real* theta, const Real*, Real* scratch, Real* obs) {
    const Real H = team_sum(team, c.K, [&](long j) {
      Real* cc = class_workspace(team, c, scratch);
      class_attention(c, idata, rdata, theta, int(j), cc);
      return distinct_entropy(c, cc);
    });
    if (team.leader()) obs[kDistinctEntropy] = H / Real(c.K);
  }

  // ---- detectors (every detection step) -----------------------------------------------------------
  struct DetectState {
    SnapTracker entropy;
  };
  template <typename Real>
  FS_HD static void detect(const Config& c, const Real*, const Real* obs, long step, DetectState& ds, long* fired) {
    ds.entropy.feed(double(obs[kDistinctEntropy]), step, c.freeze_fraction, c.freeze_tolerance);
    fired[0] = ds.entropy.snap;
    fired[1] = ds.entropy.freeze;
  }

  template <typename Real>
  static std::vector<double> final_config(const Config& c, const FlowConfig& fc, const Real*, const Real*, const Real*,
                                          const Series&) {
    const double eta_y = fc.lr * fc.lr_ratio;
    return {2.0 * c.K * std::log(double(c.M)) / eta_y, double(c.M), double(c.K)};
  }

  // Every class's population attention over its support, one member a class.
  template <typename Team, typename Real>
  FS_HD static void attention_table(const Team& team, const Config& c, const int* idata, const Real* rdata,
                                    const Real* theta, const Real*, Real* table) {
    const long R = long(c.K) * c.S;
    for (int j = team.rank(); j < c.K; j += team.size()) {
      for (int k = 0; k < c.S; ++k) {
        const long i = long(j) * c.S + k;
        const bool common = k < c.num_common;
        table[i] = Real(j), table[R + i] = Real(idata[i]), table[2 * R + i] = common ? Real(0) : Real(1);
        table[3 * R + i] = common ? Real(0) : Real(k - c.num_common + 1), table[4 * R + i] = rdata[i];
      }
      class_attention(c, idata, rdata, theta, j, table + 5 * R + long(j) * c.S);
    }
  }
};

}  // namespace fs
