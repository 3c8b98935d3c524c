// cooccurrence: a one-layer attention model with a linear MLP on top, learning whether two target words
// co-occur (Yang, Kailkhura, Wang, Liang, NeurIPS 2024; MODELS.md section 1).
//
//   F(X) = sum_l sum_k p_lk(X) r_k(X),   p_l = softmax_k( (W_K x_k . W_Q x_l) / sqrt(m) ),
//   r_k  = u . W_V x_k,                   u = W^T a,
//   loss = mean_i log(1 + exp(-y_i F(X_i))).
//
// Words are one-hot, so W x is a column gather: every matrix acting on words is stored by column,
// (d, m) with word w's column contiguous, and all the work is gathers, dot products and scatters.
//
// Work to threads: the forward pass spreads (sample, query) pairs over the team; on the device the backward
// pass is owner-computes over (word, feature) pairs (one member alone writes feature f of word w's gradient
// columns, adding w's positions in order), so the accumulation order is fixed and no atomics are needed.
// A team of at most m members splits the features; a wider one (a block of 128 at m = 32) also splits
// the words into size / m groups. On the host a team's members split the features and each walks the
// samples, with SIMD loops over its features: the same additions in the same order. With word tables
// (fewer word pairs than position pairs) the backward first sums dloss/dscore by word pair, one member an
// entry, then owns (word, feature) pairs.
#pragma once

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "kernels/common.h"
#include "kernels/flow.h"
#include "kernels/model_api.h"
#include "kernels/rng.h"
#include "kernels/team.h"

namespace fs {

struct Cooccurrence : ModelBase {
  static constexpr const char* kName = "cooccurrence";

  enum Init : int { kKaiming = 0, kTheory = 1 };
  enum SampleType : int { kI1 = 0, kI2 = 1, kI3 = 2, kI4 = 3 };
  // Special words, zero-based: target 1, target 2, the common word.
  static constexpr int kWord1 = 0, kWord2 = 1, kWord3 = 2;

  struct Config {
    int d, L, n, m, m1;
    int init;
    double init_scale;
    double phase2_share, loss_threshold;  // detectors
  };

  enum Obs : int {
    kLoss,
    kLossI1,
    kLossI2,
    kLossI3,
    kLossI4,
    kG1,
    kG2,
    kG3,
    kS21,
    kS12,
    kS31,
    kS32,
    kMargin,
    kAttnEntropy,
    kBalance,
    kNumObs
  };

  // ---- description ------------------------------------------------------------------------------
  static ModelInfo info() {
    ModelInfo mi;
    mi.name = kName;
    mi.paper = "Yang, Kailkhura, Wang, Liang, NeurIPS 2024 (arXiv 2410.09605)";
    mi.doc = "word co-occurrence: softmax attention + linear MLP, logistic loss, full-batch flow";
    mi.params = {
        ParamDef::integer("d", 64, 4, 1 << 20, "vocabulary size (words 1, 2 targets, 3 common, rest random)"),
        ParamDef::integer("L", 5, 3, 4096, "words per sample"),
        ParamDef::integer("n", 60, 6, 1 << 24, "training samples, a multiple of 6 (n/2, n/6, n/6, n/6)"),
        ParamDef::integer("m", 128, 1, 1 << 16, "attention width (rows of W_Q, W_K, W_V)"),
        ParamDef::integer("m1", 256, 1, 1 << 20, "MLP width (rows of W)"),
        ParamDef::choice("init", "kaiming", {"kaiming", "theory"},
                         "kaiming: std sqrt(2/d) attention, sqrt(2/m) W; theory: 1/sqrt(L m), 1/sqrt(m1)"),
        ParamDef::real("init_scale", 1.0, 0.0, 1e6, true, "multiplier on every initial std"),
    };
    mi.detect_params = {
        ParamDef::real("phase2_share", 0.5, 0.0, 1.0, true,
                       "phase 2 starts when the attention group's share of the loss decrease passes this"),
        ParamDef::real("loss_threshold", 0.05, 0.0, 1e12, true, "loss_below fires when the loss falls below this"),
    };
    // W_V is split from the scores so that the shares tell attention patterns learning (W_Q, W_K) from the
    // values learning (W_V), which in phase 1 acts like a second layer of the linear MLP.
    mi.groups = {{"mlp", false, "W (the MLP), rate lr"},
                 {"scores", true, "W_Q, W_K (the attention scores), rate lr * lr_ratio"},
                 {"values", true, "W_V, rate lr * lr_ratio"}};
    mi.observables = {
        {"loss", "mean logistic loss"},
        {"loss_I1", "mean loss of type I1 samples (both targets, label +1)"},
        {"loss_I2", "mean loss of type I2 (word 1 only)"},
        {"loss_I3", "mean loss of type I3 (word 2 only)"},
        {"loss_I4", "mean loss of type I4 (neither)"},
        {"G1", "u^T W_V e_1"},
        {"G2", "u^T W_V e_2"},
        {"G3", "u^T W_V e_3"},
        {"S21", "e_2^T W_K^T W_Q e_1 minus its initial value"},
        {"S12", "e_1^T W_K^T W_Q e_2 minus its initial value"},
        {"S31", "e_3^T W_K^T W_Q e_1 minus its initial value"},
        {"S32", "e_3^T W_K^T W_Q e_2 minus its initial value"},
        {"margin", "smallest y_i F(X_i)"},
        {"attn_entropy", "mean attention entropy over queries and samples (nats)"},
        {"balance", "sum_{I2} g_i / sum_{I3} g_i, g_i = 1/(1+exp(y_i F_i))"},
    };
    mi.detectors = {
        {"phase1_end", "first time every sample is classified correctly (margin > 0)"},
        {"phase2_start",
         "after phase 1, first time the attention group's share of the loss decrease passes phase2_share: "
         "attention starts to carry the learning"},
        {"loss_below", "first time the loss falls below loss_threshold"},
    };
    for (int nu = 1; nu <= 3; ++nu)
      for (int mu = 1; mu <= 3; ++mu)
        mi.final_columns.push_back(
            {"dKQ_" + std::to_string(nu) + std::to_string(mu), "change of e_nu^T W_K^T W_Q e_mu over the run"});
    mi.final_table = {{"type", "sample type 1..4 (I1: both targets, I2: word 1 only, I3: word 2 only, I4: neither)"},
                      {"query", "the special query word, 1..3"},
                      {"key", "the key word: 1..3 a special word, 0 the random words pooled"},
                      {"positions", "positions of the type's samples holding the query word (0: none, attention NaN)"},
                      {"attention", "attention of the query on that key, mean over those positions"}};
    mi.final_columns.push_back({"dKQ_random_max", "largest |change| of W_K^T W_Q over entries with a random word"});
    mi.final_columns.push_back({"dKQ_random_median", "median |change| of W_K^T W_Q over entries with a random word"});
    mi.final_columns.push_back({"dKQ_random_q99", "99th percentile of |change| over entries with a random word"});
    mi.final_columns.push_back({"dKQ_random_q99_ratio",
                                "dKQ_random_q99 over the smallest |dKQ| of the special words: below 1, random "
                                "entries stay smaller than every special one"});
    return mi;
  }

  static Config configure(const Params& p) {
    Config c{};
    c.d = int(p.integer("d"));
    c.L = int(p.integer("L"));
    c.n = int(p.integer("n"));
    c.m = int(p.integer("m"));
    c.m1 = int(p.integer("m1"));
    c.init = p.choice("init") == "theory" ? kTheory : kKaiming;
    c.init_scale = p.real("init_scale");
    c.phase2_share = p.real("phase2_share");
    c.loss_threshold = p.real("loss_threshold");
    if (c.n % 6 != 0) throw ParamError("n", "n must be a multiple of 6 (types I1..I4 in shares 1/2, 1/6, 1/6, 1/6)");
    if (long(c.n) * c.L * c.L > INT_MAX)
      throw ParamError("n", "n L^2 must be below 2^31 (pairs of positions are 32-bit integers)");
    return c;
  }

  static Sizes sizes(const Config& c) {
    Sizes s;
    const long dm = long(c.d) * c.m;
    s.n_groups = 3;
    s.group_end[0] = long(c.m1) * c.m;
    s.group_end[1] = s.group_end[0] + 2 * dm;
    s.group_end[2] = s.group_end[1] + dm;
    s.n_theta = s.group_end[2];
    s.n_fixed = c.m1 + 9;
    s.n_idata = 2 * long(c.n) * c.L + 2L * c.n + c.d + 1 +
                (word_tables(c) ? long(c.d) * c.d + 1 + long(c.n) * c.L * c.L + long(c.d) * c.d + c.d : 0);
    s.n_rdata = 0;
    s.n_scratch = scratch_size(c);
    s.n_hot = word_tables(c) ? 0 : 3L * c.d * c.m;  // W_Q, W_K, W_V (hot_view)
    s.n_obs = kNumObs;
    s.n_table_rows = kTableRows;
    s.n_table_fields = 5;
    return s;
  }

  // ---- buffers ---------------------------------------------------------------------------------
  // theta: W (m1, m) | W_Q (d, m) | W_K (d, m) | W_V (d, m)      (word columns contiguous)
  // fixed: a (m1) | initial W_K^T W_Q on the special words (3, 3), [nu][mu]
  // idata: tokens (n, L) | labels (n) | types (n) | where each word occurs: start (d + 1) | position (n L)
  //        | with word_tables: where each word pair's terms are: pair_start (d d + 1) | pair_term (n L L)
  //          | the entries of D and cV by decreasing count of terms: longest (d d + d)
  // scratch: u (m) | du (m) | F (n) | loss_i (n) | r (n, L) | wV (n, L) | H (n, L) | p (n, L, L) | loss
  //          | with word_tables: S (d, d) | rV (d), which the backward reuses as D (d, d) | cV (d)
  template <typename Real>
  struct View {
    const Real *W, *Q, *K, *V;
  };
  template <typename Real>
  FS_HD static View<Real> view(const Config& c, const Real* theta) {
    const long dm = long(c.d) * c.m;
    const Real* W = theta;
    const Real* Q = W + long(c.m1) * c.m;
    return {W, Q, Q + dm, Q + 2 * dm};
  }
  // The view a step reads: W_Q, W_K and W_V from the flow's copy of the hot parameters where it gives one
  // and the step works by position (no word tables), since then the scores and the backward read each word
  // 35 times a step (845,000 loads at the paper's size, against 33,000 of W). Each member copies a stride of
  // the three, and the team's barrier after u, which reads W alone, orders the copy before every read of it.
  template <typename Team, typename Real>
  FS_HD static View<Real> hot_view(const Team& team, const Config& c, const StepContext& ctx, const Real* theta) {
    const View<Real> v = view(c, theta);
    if (ctx.hot == nullptr || word_tables(c)) return v;
    const long dm = long(c.d) * c.m;
    Real* hot = static_cast<Real*>(ctx.hot);  // (3, d, m): W_Q | W_K | W_V
    for (long i = team.rank(); i < 3 * dm; i += team.size()) hot[i] = v.Q[i];
    return {v.W, hot, hot + dm, hot + 2 * dm};
  }
  // With fewer pairs of words than pairs of positions, a step works by word pair instead of by position
  // pair. The forward computes each word pair's score, and each word's r, once and looks them up by
  // position: at d = 16, L = 5, n = 60, 256 dot products of the scores instead of 1,500, with the same
  // dot products, so the same bits. The backward sums dloss/dscore by word pair first (backward_by_word_pair).
  FS_HD static bool word_tables(const Config& c) { return long(c.d) * c.d < long(c.n) * c.L * c.L; }
  FS_HD static long scratch_size(const Config& c) {
    const long nl = long(c.n) * c.L;
    return 2L * c.m + 2L * c.n + 3 * nl + nl * c.L + 1 + (word_tables(c) ? long(c.d) * c.d + c.d : 0);
  }
  template <typename Real>
  struct Scratch {
    Real *u, *du, *F, *loss_i, *r, *wV, *H, *p, *loss, *S, *rV, *D, *cV;
  };
  template <typename Real>
  FS_HD static Scratch<Real> scratch(const Config& c, Real* s) {
    const long nl = long(c.n) * c.L;
    Scratch<Real> v;
    v.u = s;
    v.du = v.u + c.m;
    v.F = v.du + c.m;
    v.loss_i = v.F + c.n;
    v.r = v.loss_i + c.n;
    v.wV = v.r + nl;  // delta_i P_ik: position (i, k)'s weight in the W_V and u gradients
    v.H = v.wV + nl;
    v.p = v.H + nl;
    v.loss = v.p + nl * c.L;
    const bool tables = word_tables(c);
    v.S = tables ? v.loss + 1 : nullptr;              // score of (query word, key word)  (d, d)
    v.rV = tables ? v.S + long(c.d) * c.d : nullptr;  // u . W_V e_w                        (d)
    // Once the attention is computed S and rV are dead; the backward by word pair sums into their place.
    v.D = v.S;    // dloss/dscore summed by (query word, key word), over sqrt(m)   (d, d)
    v.cV = v.rV;  // wV summed by word                                            (d)
    return v;
  }

  // ---- data and initialisation (host) -----------------------------------------------------------
  // Exactly n/2, n/6, n/6, n/6 samples of types I1..I4, in that order. Word 3 at one uniform position;
  // the targets at distinct other positions; random words 4..d everywhere else.
  template <typename Real>
  static void make_data(const Config& c, Stream& rng, int* idata, Real* /*rdata*/) {
    int* tok = idata;
    int* y = tok + long(c.n) * c.L;
    int* type = y + c.n;
    const int counts[4] = {c.n / 2, c.n / 6, c.n / 6, c.n / 6};
    long i = 0;
    for (int ty = 0; ty < 4; ++ty) {
      for (int k = 0; k < counts[ty]; ++k, ++i) {
        int* x = tok + i * c.L;
        for (int l = 0; l < c.L; ++l) x[l] = -1;
        x[rng.below(uint32_t(c.L))] = kWord3;
        auto place = [&](int word) {  // a uniform free position
          int free_pos = int(rng.below(uint32_t(c.L - count_placed(x, c.L))));
          for (int l = 0; l < c.L; ++l)
            if (x[l] < 0 && free_pos-- == 0) {
              x[l] = word;
              return;
            }
        };
        if (ty == kI1 || ty == kI2) place(kWord1);
        if (ty == kI1 || ty == kI3) place(kWord2);
        for (int l = 0; l < c.L; ++l)
          if (x[l] < 0) x[l] = 3 + int(rng.below(uint32_t(c.d - 3)));
        y[i] = ty == kI1 ? 1 : -1;
        type[i] = ty;
      }
    }
    // Every position (sample, slot) grouped by its word, in increasing order within a word: the order
    // in which the backward pass adds a word's gradient column.
    const long nl = long(c.n) * c.L;
    int* start = type + c.n;
    int* pos = start + c.d + 1;
    for (int w = 0; w <= c.d; ++w) start[w] = 0;
    for (long il = 0; il < nl; ++il) ++start[tok[il] + 1];
    for (int w = 0; w < c.d; ++w) start[w + 1] += start[w];
    std::vector<int> fill(start, start + c.d);
    for (long il = 0; il < nl; ++il) pos[fill[size_t(tok[il])]++] = int(il);
    if (!word_tables(c)) return;
    // Every term of dloss/dscore (its index (i L + l) L + k in p) grouped by (query word, key word), in the
    // order the backward by word pair adds them: query positions in the order above, then keys in order.
    // A member owning an entry of D reads its own terms and no other's.
    const long dd = long(c.d) * c.d;
    int* pair_start = pos + nl;
    int* pair_term = pair_start + dd + 1;
    for (long e = 0; e <= dd; ++e) pair_start[e] = 0;
    for (long il = 0; il < nl; ++il)
      for (int k = 0; k < c.L; ++k) ++pair_start[long(tok[il]) * c.d + tok[il - il % c.L + k] + 1];
    for (long e = 0; e < dd; ++e) pair_start[e + 1] += pair_start[e];
    std::vector<int> next(pair_start, pair_start + dd);
    for (long o = 0; o < nl; ++o) {
      const int il = pos[o];
      for (int k = 0; k < c.L; ++k)
        pair_term[next[size_t(long(tok[il]) * c.d + tok[il - il % c.L + k])]++] = il * c.L + k;
    }
    // Members deal the entries of D and cV out in this order, so that the longest sums go to different
    // members: at d = 16, L = 5, n = 60 the word in every sample has n terms with itself and in cV, where
    // an entry of two random words has 0 to 3. Who sums an entry does not change its bits.
    int* longest = pair_term + nl * c.L;
    const auto terms = [&](int e) {
      return e < dd ? pair_start[e + 1] - pair_start[e] : start[e - dd + 1] - start[e - dd];
    };
    for (int e = 0; e < int(dd) + c.d; ++e) longest[e] = e;
    std::stable_sort(longest, longest + dd + c.d, [&](int x, int y) { return terms(x) > terms(y); });
  }
  static int count_placed(const int* x, int L) {
    int k = 0;
    for (int l = 0; l < L; ++l) k += x[l] >= 0;
    return k;
  }

  template <typename Real>
  static void init(const Config& c, Stream& rng, const int*, const Real*, Real* theta, Real* fixed) {
    const double s_att = c.init_scale * (c.init == kKaiming ? sqrt(2.0 / c.d) : 1.0 / sqrt(double(c.L) * c.m));
    const double s_mlp = c.init_scale * (c.init == kKaiming ? sqrt(2.0 / c.m) : 1.0 / sqrt(double(c.m1)));
    const long n_w = long(c.m1) * c.m, dm = long(c.d) * c.m;
    for (long i = 0; i < n_w; ++i) theta[i] = Real(s_mlp * rng.normal());
    for (long i = 0; i < 3 * dm; ++i) theta[n_w + i] = Real(s_att * rng.normal());
    for (int j = 0; j < c.m1; ++j) fixed[j] = rng.uniform() < 0.5 ? Real(-1) : Real(1);
    const auto v = view(c, theta);
    for (int nu = 0; nu < 3; ++nu)
      for (int mu = 0; mu < 3; ++mu) fixed[c.m1 + 3 * nu + mu] = kq(HostTeam{}, c, v, nu, mu);
  }

  // e_nu^T W_K^T W_Q e_mu, summed in the team's lane order (the same bits on every team).
  template <typename Team, typename Real>
  FS_HD static Real kq(const Team& team, const Config& c, const View<Real>& v, int nu, int mu) {
    const Real* k = v.K + long(nu) * c.m;
    const Real* q = v.Q + long(mu) * c.m;
    return team_sum(team, c.m, [&](long f) { return k[f] * q[f]; });
  }

  // out += scale * sum_j w[j * w_stride] M[:, cols[j]] over j < count, for the features this member owns.
  template <typename Team, typename Real>
  FS_HD static void add_columns(const Team& team, Real* out, const Real* M, int m, const int* cols, const Real* w,
                                int w_stride, int count, Real scale) {
    auto col = [&](int j) { return M + long(cols[j]) * m; };
    auto weight = [&](int j) { return w[j * w_stride] * scale; };
    int j = 0;
    for (; j + 4 <= count; j += 4)
      add_rows4(out, team.rank(), m, team.size(), col(j), col(j + 1), col(j + 2), col(j + 3), weight(j), weight(j + 1),
                weight(j + 2), weight(j + 3));
    for (; j < count; ++j) add_row(out, team.rank(), m, team.size(), col(j), weight(j));
  }

  // acc plus scale * sum_j w[j * w_stride] M[f, cols[j]] over j < count, term for term as add_columns
  // adds it to feature f.
  template <typename Real>
  FS_HD static Real add_columns_at(Real acc, int f, const Real* M, int m, const int* cols, const Real* w, int w_stride,
                                   int count, Real scale) {
    auto at = [&](int j) { return M[long(cols[j]) * m + f]; };
    auto weight = [&](int j) { return w[j * w_stride] * scale; };
    int j = 0;
    for (; j + 4 <= count; j += 4)
      acc += weight(j) * at(j) + weight(j + 1) * at(j + 1) + weight(j + 2) * at(j + 2) + weight(j + 3) * at(j + 3);
    for (; j < count; ++j) acc += weight(j) * at(j);
    return acc;
  }

  // The attention of query position il (sample il / L) over its sample's L keys, into p.
  template <typename Real>
  FS_HD static void attention_row(const Config& c, const View<Real>& v, const int* tok, long il, Real* p) {
    const Real inv_sqrt_m = Real(1) / sqrt(Real(c.m));
    const int* x = tok + (il / c.L) * c.L;
    const Real* q = v.Q + long(tok[il]) * c.m;
    softmax_row(
        c.L, [&](int k) { return dot(v.K + long(x[k]) * c.m, q, c.m, int(il)) * inv_sqrt_m; }, p);
  }

  // Entry e of the word tables S | rV (scratch): below d^2 the score dot product of query word e / d on key
  // word e % d, then r of word e - d^2.
  template <typename Real>
  FS_HD FS_HOST_NOINLINE static Real word_table_entry(const Config& c, const View<Real>& v, const Real* u, long e) {
    const long dd = long(c.d) * c.d;
    if (e < dd) return dot(v.K + (e % c.d) * c.m, v.Q + (e / c.d) * c.m, c.m, int(e));
    return dot(u, v.V + (e - dd) * c.m, c.m, int(e - dd));
  }

  // p = softmax over k < L of score(k).
  template <typename Real, typename Score>
  FS_HD static void softmax_row(int L, const Score& score, Real* p) {
    Real smax = -INFINITY;
    for (int k = 0; k < L; ++k) {
      p[k] = score(k);
      smax = p[k] > smax ? p[k] : smax;
    }
    Real z = 0;
    for (int k = 0; k < L; ++k) z += (p[k] = exp(p[k] - smax));
    const Real inv_z = Real(1) / z;
    for (int k = 0; k < L; ++k) p[k] *= inv_z;
  }

  // ---- loss and gradient ------------------------------------------------------------------------
  // Returns the loss to every member; leaves the forward quantities in scratch for observe().
  template <typename Team, typename Real>
  FS_HD static Real loss_grad(const Team& team, const Config& c, const StepContext& ctx, const int* idata, const Real*,
                              const Real* theta, const Real* fixed, Real* grad, Real* scratch_buf) {
    const int n = c.n, L = c.L, m = c.m, m1 = c.m1;
    const long dm = long(c.d) * m;
    const int* tok = idata;
    const int* y = tok + long(n) * L;
    const auto v = hot_view(team, c, ctx, theta);
    const Real* a = fixed;
    auto s = scratch(c, scratch_buf);
    const Real inv_sqrt_m = Real(1) / sqrt(Real(m));

    // u = W^T a, owner-computes by feature, each feature summed over j in order       (m)
#if defined(__CUDA_ARCH__)
    // A member's features accumulate in registers; a warp's loads of a row of W are contiguous.
    for (int f = team.rank(); f < m; f += team.size()) {
      Real acc = 0;
      for (int j = 0; j < m1; ++j) acc += a[j] * v.W[long(j) * m + f];
      s.u[f] = acc;
    }
#else
    // Row by row, so the host's SIMD lanes run along contiguous features.
    for (int f = team.rank(); f < m; f += team.size()) s.u[f] = 0;
    for (int j = 0; j < m1; ++j) {
      const Real aj = a[j];
      const Real* w = v.W + long(j) * m;
      FS_SIMD
      for (int f = team.rank(); f < m; f += team.size()) s.u[f] += aj * w[f];
    }
#endif
    team.sync();

    const bool tables = word_tables(c);
    if (tables) {
      const long dd = long(c.d) * c.d;
      for (long e = team.rank(); e < dd + c.d; e += team.size()) s.S[e] = word_table_entry(c, v, s.u, e);
      team.sync();
    }

    // Attention of every (sample, query) and r = u . W_V x for every (sample, position).
    for (long il = team.rank(); il < long(n) * L; il += team.size()) {
      Real* p = s.p + il * L;
      if (tables) {
        const int* x = tok + (il / L) * L;
        const Real* row = s.S + long(tok[il]) * c.d;
        softmax_row(
            L, [&](int k) { return row[x[k]] * inv_sqrt_m; }, p);
        s.r[il] = s.rV[tok[il]];
      } else {
        attention_row(c, v, tok, il, p);
        s.r[il] = dot(s.u, v.V + long(tok[il]) * m, m, int(il));
      }
      if (ctx.observing) {
        Real h = 0;
        for (int k = 0; k < L; ++k) h -= p[k] > Real(0) ? p[k] * log(p[k]) : Real(0);
        s.H[il] = h;
      }
    }
    team.sync();

    // Per sample: F, its loss, dloss/dF = delta, the column sums P_k of the attention times delta, and p
    // overwritten by dloss/dscore = delta p_lk (r_k - rbar_l).
    for (int i = team.rank(); i < n; i += team.size()) {
      const Real* r = s.r + long(i) * L;
      Real* P = s.wV + long(i) * L;
      for (int k = 0; k < L; ++k) P[k] = 0;
      Real F = 0;
      for (int l = 0; l < L; ++l) {
        const Real* p = s.p + (long(i) * L + l) * L;
        for (int k = 0; k < L; ++k) {
          F += p[k] * r[k];
          P[k] += p[k];
        }
      }
      const Real yF = Real(y[i]) * F;
      const auto lg = softplus_sigmoid(-yF);
      const Real delta = -Real(y[i]) * lg.sigmoid / Real(n);
      s.F[i] = F;
      s.loss_i[i] = lg.softplus;
      for (int k = 0; k < L; ++k) P[k] = delta * P[k];
      for (int l = 0; l < L; ++l) {
        Real* p = s.p + (long(i) * L + l) * L;
        Real rbar = 0;
        for (int k = 0; k < L; ++k) rbar += p[k] * r[k];
        for (int k = 0; k < L; ++k) p[k] = delta * p[k] * (r[k] - rbar);
      }
    }
    team.sync();

    Real* gW = grad;
    Real* gQ = grad + long(m1) * m;
    Real* gK = gQ + dm;
    Real* gV = gK + dm;
    // A team wider than m works in size / m groups of m members; the rest wait.
    const int groups = team.size() > m ? team.size() / m : 1;
    const int group = team.rank() / m;
    if (tables)
      backward_by_word_pair(team, c, tok, v, s, gQ, gK, gV);
    else
      backward_by_position(team, c, tok, v, s, gQ, gK, gV);
    team.sync();
    // dW = a du^T, rows split over the groups                                        (m1, m)
    if (group < groups) {
      for (int j = group; j < m1; j += groups) {
        const Real aj = a[j];
        Real* g = gW + long(j) * m;
        FS_SIMD
        for (int f = team.rank() % m; f < m; f += team.size()) g[f] = aj * s.du[f];
      }
    }
    return team_mean(team, s.loss_i, 1, n, s.loss);
  }

  // The score, value and u gradients position by position (no word tables). On the host, sample by sample;
  // on the device, owner-computes by (word, feature) over each word's positions.
  template <typename Team, typename Real>
  FS_HD static void backward_by_position(const Team& team, const Config& c, const int* tok, const View<Real>& v,
                                         const Scratch<Real>& s, Real* gQ, Real* gK, Real* gV) {
    const int n = c.n, L = c.L, m = c.m;
    const Real inv_sqrt_m = Real(1) / sqrt(Real(m));
#if !defined(__CUDA_ARCH__)
    // Sample by sample, so the SIMD lanes run along a gradient column's features, which a team's members
    // split. Every team, not one thread alone: the host compiler vectorises the device's register sums
    // (below) in ways that depend on the machine's vector unit, so that on AVX2 they gave 1-ulp different
    // dW_V and du from these row updates (2026-12-06; with AVX-512 they agreed).
    const int first = team.rank(), step = team.size();
    for (long w = 0; w < 3L * c.d; ++w)
      for (int f = first; f < m; f += step) gQ[w * m + f] = 0;  // dW_Q, dW_K, dW_V
    for (int f = first; f < m; f += step) s.du[f] = 0;
    for (int i = 0; i < n; ++i) {
      const int* x = tok + long(i) * L;
      const Real* ds = s.p + long(i) * L * L;  // dloss/dscore of the sample                (L, L)
      // A gradient column takes its terms four at a time, so it is read and written a quarter as often:
      // dQ[:, x_l] += sum_k ds_lk K[:, x_k] / sqrt(m),  dK[:, x_k] += sum_l ds_lk Q[:, x_l] / sqrt(m).
      for (int l = 0; l < L; ++l) add_columns(team, gQ + long(x[l]) * m, v.K, m, x, ds + l * L, 1, L, inv_sqrt_m);
      for (int k = 0; k < L; ++k) add_columns(team, gK + long(x[k]) * m, v.Q, m, x, ds + k, L, L, inv_sqrt_m);
      for (int k = 0; k < L; ++k) {
        const long ck = long(x[k]) * m;
        const Real w = s.wV[long(i) * L + k];
        FS_SIMD
        for (int f = first; f < m; f += step) {
          gV[ck + f] += w * s.u[f];
          s.du[f] += w * v.V[ck + f];
        }
      }
    }
#else
    const int groups = team.size() > m ? team.size() / m : 1;
    const int group = team.rank() / m;
    {
      // Owner-computes by (word, feature): member c writes feature c % m of the gradient columns of the
      // words of its group (c / m, then every groups-th word), adding each word's positions in the order
      // the host adds them, so every team gives the same bits. A team wider than m (a block of 128 at
      // m = 32) splits the words between groups, never a sum.
      const int* start = tok + long(n) * L + 2L * n;  // where each word occurs           (d + 1)
      const int* pos = start + c.d + 1;               // (n L), positions grouped by word
      if (group < groups) {
        for (int f = team.rank() % m; f < m; f += team.size()) {
          const Real uf = s.u[f];
          for (int w = group; w < c.d; w += groups) {
            Real q = 0, k = 0, vv = 0;
            for (int o = start[w]; o < start[w + 1]; ++o) {
              const int il = pos[o], l = il % L;
              const int* x = tok + (il - l);
              const Real* ds = s.p + long(il - l) * L;  // dloss/dscore of the sample           (L, L)
              q = add_columns_at(q, f, v.K, m, x, ds + l * L, 1, L, inv_sqrt_m);
              k = add_columns_at(k, f, v.Q, m, x, ds + l, L, L, inv_sqrt_m);
              vv += s.wV[il] * uf;
            }
            gQ[long(w) * m + f] = q;
            gK[long(w) * m + f] = k;
            gV[long(w) * m + f] = vv;
          }
        }
      }
      // du by feature over every position in the host's order, on the last group: its words are random
      // ones, the rarest, once there are four groups.
      if (group == groups - 1) {
        for (int f = team.rank() % m; f < m; f += team.size()) {
          Real du = 0;
          for (long il = 0; il < long(n) * L; ++il) du += s.wV[il] * v.V[long(tok[il]) * m + f];
          s.du[f] = du;
        }
      }
    }
#endif
  }

  // The score, value and u gradients with word tables, from dloss/dscore summed by word pair:
  //   D[a, b] = sum over positions (i, l) of word a, and keys k of word b, of ds_ilk / sqrt(m),
  //   dQ[:, a] = sum_b D[a, b] K[:, b],   dK[:, b] = sum_a D[a, b] Q[:, a],
  //   cV[w] = sum over positions of word w of wV,   dV[:, w] = cV[w] u,   du = sum_w cV[w] V[:, w].
  // At d = 16, m = 32, n = 60, L = 5: 17,400 multiply-adds where the sums by position take 115,000, and
  // D's 1,500 additions (a team's owner of an entry reads the entry's list of terms, made with the data).
  // Every entry is summed in one order on every team (positions in order, keys in order; words in order),
  // by one owner: an entry of D or cV, a (word, feature) of the gradients, a feature of du.
  template <typename Team, typename Real>
  FS_HD static void backward_by_word_pair(const Team& team, const Config& c, const int* tok, const View<Real>& v,
                                          const Scratch<Real>& s, Real* gQ, Real* gK, Real* gV) {
    const int n = c.n, L = c.L, m = c.m, d = c.d;
    const long dd = long(d) * d;
    const int* start = tok + long(n) * L + 2L * n;     // where each word occurs           (d + 1)
    const int* pos = start + d + 1;                    // (n L), positions grouped by word
    const int* pair_start = pos + long(n) * L;         // where each word pair's terms are    (d d + 1)
    const int* pair_term = pair_start + dd + 1;        // (n L L), indices into p grouped by word pair
    const int* longest = pair_term + long(n) * L * L;  // (d d + d), entries by decreasing count of terms
    const Real inv_sqrt_m = Real(1) / sqrt(Real(m));
#if !defined(__CUDA_ARCH__)
    if (team.size() == 1) {
      // One host thread: each word's positions scattered into its row of D, in the owners' order.
      for (long e = 0; e < dd + d; ++e) s.D[e] = 0;  // D and cV
      for (int a = 0; a < d; ++a) {
        Real* row = s.D + long(a) * d;
        for (int o = start[a]; o < start[a + 1]; ++o) {
          const int il = pos[o];
          const int* x = tok + (il - il % L);
          const Real* ds = s.p + long(il) * L;
          for (int k = 0; k < L; ++k) row[x[k]] += ds[k];
          s.cV[a] += s.wV[il];
        }
      }
      for (long e = 0; e < dd; ++e) s.D[e] *= inv_sqrt_m;
    } else
#endif
    {
      for (long j = team.rank(); j < dd + d; j += team.size()) {
        const long e = longest[j];
        Real acc = 0;
        if (e < dd) {
          for (int t = pair_start[e]; t < pair_start[e + 1]; ++t) acc += s.p[pair_term[t]];
          s.D[e] = acc * inv_sqrt_m;
        } else {
          const int w = int(e - dd);
          for (int o = start[w]; o < start[w + 1]; ++o) acc += s.wV[pos[o]];
          s.cV[w] = acc;
        }
      }
    }
    team.sync();
#if defined(__CUDA_ARCH__)
    // (word, feature) with the feature fastest, so a warp's loads of a column are contiguous; then du.
    const long dm = long(d) * m;
    for (long e = team.rank(); e < dm + m; e += team.size()) {
      if (e < dm) {
        const int w = int(e / m), f = int(e % m);
        Real q = 0, k = 0;
        for (int b = 0; b < d; ++b) q += s.D[long(w) * d + b] * v.K[long(b) * m + f];
        for (int a = 0; a < d; ++a) k += s.D[long(a) * d + w] * v.Q[long(a) * m + f];
        gQ[e] = q;
        gK[e] = k;
        gV[e] = s.cV[w] * s.u[f];
      } else {
        const int f = int(e - dm);
        Real du = 0;
        for (int w = 0; w < d; ++w) du += s.cV[w] * v.V[long(w) * m + f];
        s.du[f] = du;
      }
    }
#else
    // Members split the features; column by column, so the SIMD lanes run along them. Sums kept in
    // registers here would be vectorised across their terms (multiplies apart from adds), not like these.
    const int first = team.rank(), step = team.size();
    for (int a = 0; a < d; ++a) {
      Real* q = gQ + long(a) * m;
      Real* k = gK + long(a) * m;
      Real* g = gV + long(a) * m;
      const Real cv = s.cV[a];
      FS_SIMD
      for (int f = first; f < m; f += step) {
        q[f] = k[f] = 0;
        g[f] = cv * s.u[f];
      }
      for (int b = 0; b < d; ++b) add_row(q, first, m, step, v.K + long(b) * m, s.D[long(a) * d + b]);
      for (int b = 0; b < d; ++b) add_row(k, first, m, step, v.Q + long(b) * m, s.D[long(b) * d + a]);
    }
    for (int f = first; f < m; f += step) s.du[f] = 0;
    for (int w = 0; w < d; ++w) add_row(s.du, first, m, step, v.V + long(w) * m, s.cV[w]);
#endif
  }

  // ---- observables ------------------------------------------------------------------------------
  // Called right after loss_grad at the same parameters. Every sum is a team reduction; the leader writes
  // obs (kNumObs).
  template <typename Team, typename Real>
  FS_HD static void observe(const Team& team, const Config& c, const int* idata, const Real*, const Real* theta,
                            const Real* fixed, const Real* scratch_buf, Real* obs) {
    const int n = c.n, L = c.L, m = c.m;
    const int* y = idata + long(n) * L;
    const int* type = y + n;
    const auto v = view(c, theta);
    auto s = scratch(c, const_cast<Real*>(scratch_buf));
    // Per sample type: loss, count and dloss/dF magnitude g = sigmoid(-yF), as (loss x4, count x4, g x4).
    using TypeSums = Sums<Real, 12>;
    const TypeSums per_type = team_sum(team, n, [&](long i) {
      TypeSums t;
      t[type[i]] = s.loss_i[i], t[4 + type[i]] = Real(1), t[8 + type[i]] = sigmoid(-Real(y[i]) * s.F[i]);
      return t;
    });
    const Real margin = team_min(team, n, [&](long i) { return Real(y[i]) * s.F[i]; });
    const Real entropy = team_sum(team, long(n) * L, [&](long il) { return s.H[il]; });
    Real G[3], S[4];
    for (int w = 0; w < 3; ++w) {
      const Real* vv = v.V + long(w) * m;
      G[w] = team_sum(team, m, [&](long f) { return s.u[f] * vv[f]; });
    }
    // e_nu^T W_K^T W_Q e_mu minus its initial value, for (nu, mu) = (2, 1), (1, 2), (3, 1), (3, 2).
    const int pairs[4][2] = {{1, 0}, {0, 1}, {2, 0}, {2, 1}};
    const Real* kq0 = fixed + c.m1;
    for (int p = 0; p < 4; ++p) S[p] = kq(team, c, v, pairs[p][0], pairs[p][1]) - kq0[3 * pairs[p][0] + pairs[p][1]];
    if (!team.leader()) return;
    obs[kLoss] = *s.loss;
    for (int t = 0; t < 4; ++t) obs[kLossI1 + t] = per_type[4 + t] > Real(0) ? per_type[t] / per_type[4 + t] : Real(0);
    for (int w = 0; w < 3; ++w) obs[kG1 + w] = G[w];
    obs[kS21] = S[0];
    obs[kS12] = S[1];
    obs[kS31] = S[2];
    obs[kS32] = S[3];
    obs[kMargin] = margin;
    obs[kAttnEntropy] = entropy / Real(long(n) * L);
    obs[kBalance] = per_type[8 + kI3] > Real(0) ? per_type[8 + kI2] / per_type[8 + kI3] : Real(NAN);
  }

  // At detection steps that are not recorded only the loss and the margin are read: both are left by
  // every loss_grad, so the attention entropies need not be computed there.
  static constexpr bool kObserveDetect = true;
  template <typename Team, typename Real>
  FS_HD static void observe_detect(const Team& team, const Config& c, const int* idata, const Real*, const Real*,
                                   const Real*, Real* scratch_buf, Real* obs) {
    const int* y = idata + long(c.n) * c.L;
    auto s = scratch(c, scratch_buf);
    const Real margin = team_min(team, c.n, [&](long i) { return Real(y[i]) * s.F[i]; });
    if (!team.leader()) return;
    obs[kLoss] = *s.loss;
    obs[kMargin] = margin;
  }

  // ---- detectors (every detection step) -----------------------------------------------------------
  // share_scores, the share of the loss decrease carried by W_Q and W_K, follows the model's observables.
  static constexpr int kShareScores = kNumObs + 1;
  struct DetectState {};
  template <typename Real>
  FS_HD static void detect(const Config& c, const Real*, const Real* obs, long step, DetectState&, long* fired) {
    detect_first(obs[kMargin] > Real(0), step, fired[0]);
    if (fired[0] >= 0 && step > fired[0]) detect_first(double(obs[kShareScores]) > c.phase2_share, step, fired[1]);
    detect_first(double(obs[kLoss]) < c.loss_threshold, step, fired[2]);
  }

  // ---- attention table ----------------------------------------------------------------------------
  // The attention pattern: for each sample type and special query word, the mean over the type's
  // positions holding that word of its attention on each special key word, and on the random words
  // pooled. One member per (type, query); each softmax is taken in two passes over the keys, so the
  // table needs no workspace.
  static constexpr int kTableRows = 4 * 3 * 4;  // (type, query word, key)
  template <typename Team, typename Real>
  FS_HD static void attention_table(const Team& team, const Config& c, const int* idata, const Real*, const Real* theta,
                                    const Real*, Real* table) {
    constexpr long R = kTableRows;
    const int n = c.n, L = c.L, m = c.m;
    const int* tok = idata;
    const int* type = tok + long(n) * L + n;  // after the tokens (n, L) and the labels (n)
    const auto v = view(c, theta);
    const Real inv_sqrt_m = Real(1) / sqrt(Real(m));
    for (int tq = team.rank(); tq < 12; tq += team.size()) {
      const int t = tq / 3, q = tq % 3;
      const Real* qv = v.Q + long(q) * m;
      double sum[4] = {0, 0, 0, 0};
      long count = 0;
      for (int i = 0; i < n; ++i) {
        if (type[i] != t) continue;
        const int* x = tok + long(i) * L;
        for (int l = 0; l < L; ++l) {
          if (x[l] != q) continue;
          Real smax = -INFINITY;
          for (int k = 0; k < L; ++k) {
            const Real score = dot(v.K + long(x[k]) * m, qv, m, k) * inv_sqrt_m;
            smax = score > smax ? score : smax;
          }
          Real z = 0, part[4] = {0, 0, 0, 0};
          for (int k = 0; k < L; ++k) {
            const Real e = exp(dot(v.K + long(x[k]) * m, qv, m, k) * inv_sqrt_m - smax);
            z += e;
            part[x[k] <= kWord3 ? x[k] : 3] += e;
          }
          for (int b = 0; b < 4; ++b) sum[b] += double(part[b] / z);
          ++count;
        }
      }
      for (int key = 0; key < 4; ++key) {
        const long r = long(tq) * 4 + key;
        table[r] = Real(t + 1), table[R + r] = Real(q + 1), table[2 * R + r] = Real(key < 3 ? key + 1 : 0);
        table[3 * R + r] = Real(count), table[4 * R + r] = count > 0 ? Real(sum[key] / double(count)) : Real(NAN);
      }
    }
  }

  template <typename Real>
  static std::vector<double> final_config(const Config& c, const FlowConfig&, const Real* theta0, const Real* theta,
                                          const Real*, const Series&) {
    const auto v0 = view(c, theta0), v1 = view(c, theta);
    std::vector<double> out;
    for (int nu = 0; nu < 3; ++nu)
      for (int mu = 0; mu < 3; ++mu)
        out.push_back(double(kq(HostTeam{}, c, v1, nu, mu)) - double(kq(HostTeam{}, c, v0, nu, mu)));
    // Entries with a random word, as a distribution: its largest value alone hides how small most are.
    std::vector<double> rnd;
    for (int nu = 0; nu < c.d; ++nu)
      for (int mu = 0; mu < c.d; ++mu) {
        if (nu < 3 && mu < 3) continue;
        rnd.push_back(std::fabs(double(kq(HostTeam{}, c, v1, nu, mu)) - double(kq(HostTeam{}, c, v0, nu, mu))));
      }
    // Order statistics by selection: each is exact, so the result is a sort's, at a fraction of its cost
    // (d^2 entries per run, on the host).
    auto order_stat = [&](size_t k) {
      std::nth_element(rnd.begin(), rnd.begin() + long(k), rnd.end());
      return rnd[k];
    };
    auto q = [&](double p) {  // linear interpolation between order statistics, as numpy's quantile
      if (rnd.empty()) return double(NAN);
      const double pos = p * double(rnd.size() - 1);
      const size_t lo = size_t(pos), hi = std::min(lo + 1, rnd.size() - 1);
      const double a = order_stat(lo);
      const double b = hi == lo ? a : *std::min_element(rnd.begin() + long(lo) + 1, rnd.end());
      return a + (b - a) * (pos - double(lo));
    };
    double special_min = INFINITY;
    for (int k = 0; k < 9; ++k) special_min = std::fmin(special_min, std::fabs(out[size_t(k)]));
    out.push_back(rnd.empty() ? 0.0 : *std::max_element(rnd.begin(), rnd.end()));
    const double q99 = q(0.99);
    out.push_back(q(0.5));
    out.push_back(q99);
    out.push_back(q99 / special_min);
    return out;
  }
};

}  // namespace fs
