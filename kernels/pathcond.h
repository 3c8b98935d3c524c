// pathcond: path-conditioned rescaling of ReLU networks (Lebeurrier, Vayer, Gribonval, ICML 2026;
// MODELS.md section 5). A ReLU MLP [in, h, ..., h, out] (hidden layers with biases, the output layer
// without) trained by full-batch gradient descent on cross-entropy, on two moons or a Gaussian mixture,
// optionally rescaled once before the first step (rescaling leaves the function unchanged):
//   pathcond: exact coordinate descent on F(z) = p log(sum_i g_i e^{(Bz)_i}) + sum_h (|in_h| - |out_h|) z_h,
//             g = diag(G) of the path-lifting Gram matrix, theta' = theta e^{-Bz/2};
//   enorm:    equi-normalisation, per-neuron closed form on sum_i theta_i^2 e^{2(Bz)_i}, theta' = theta e^{Bz}.
// The rescaling runs on the host in double precision; only the flow runs on the device.
//
// Work to threads: the forward and backward passes spread points over the team; the weight gradient is
// owner-computes by output row (layer, unit): one member sums that row over every point, in order (a team
// of one, the host's, adds the points' outer products in the same order: grad_by_points). The
// recorded spread of log diag(G) passes the squared network a layer at a time with a member per unit and
// reduces the logs over the team. Each point's activations and deltas sit in tiles of team_tile points
// (a warp's width on the GPU, one point on the host), word-major within a tile, so the members of a warp,
// on consecutive points, read and write consecutive words: one or two cache lines a load, not 32.
#pragma once

#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/common.h"
#include "kernels/flow.h"
#include "kernels/model_api.h"
#include "kernels/rng.h"
#include "kernels/team.h"

namespace fs {

struct PathCond : ModelBase {
  static constexpr const char* kName = "pathcond";
  enum Data : int { kMoons = 0, kMixture = 1 };
  enum Rescale : int { kNone = 0, kPathCond = 1, kENorm = 2 };
  enum Init : int { kKaiming = 0, kTorchDefault = 1 };
  struct Config {
    int data, P, in, out, h, depth;  // points, input and output widths, hidden width and count
    double noise, init_scale;
    int init, rescale, sweeps;
    double tol;
    double loss_threshold;  // detector
  };
  enum Obs : int { kLoss, kAccuracy, kLogGSpread, kNumObs };

  static ModelInfo info() {
    ModelInfo mi;
    mi.name = kName;
    mi.paper = "Lebeurrier, Vayer, Gribonval, ICML 2026 (arXiv 2602.19799)";
    mi.doc = "ReLU MLP on two moons or a Gaussian mixture, rescaled by path conditioning (or enorm) before training";
    mi.params = {
        ParamDef::choice("data", "moons", {"moons", "mixture"}, "two moons, or a Gaussian mixture"),
        ParamDef::integer("points", 1000, 2, 1 << 22, "training points"),
        ParamDef::real("noise", 0.1, 0.0, 1e6, false, "two moons: Gaussian noise std; mixture: cluster std"),
        ParamDef::integer("classes", 3, 1, 1 << 12, "mixture: classes (at least 2)"),
        ParamDef::integer("dim", 2, 1, 1 << 12, "mixture: input dimension"),
        ParamDef::integer("depth", 4, 1, 64, "hidden layers"),
        ParamDef::integer("width", 64, 1, 1 << 14, "hidden width"),
        ParamDef::choice("init", "kaiming", {"kaiming", "torch_default"},
                         "Kaiming-normal weights and zero biases, or PyTorch's default nn.Linear init (the "
                         "authors' demo): weights and biases uniform in +-1/sqrt(fan_in)"),
        ParamDef::real("init_scale", 1.0, 0.0, 1e6, true, "multiplier on the initial weights (and biases)"),
        ParamDef::choice("rescale", "none", {"none", "pathcond", "enorm"}, "rescaling applied before the first step"),
        ParamDef::integer("rescale_sweeps", 10, 1, 100000, "coordinate-descent sweeps at most"),
        ParamDef::real("rescale_tol", 1e-2, 0.0, 1e6, false, "stop when sum_h |change of z_h| falls below this"),
    };
    mi.detect_params = {
        ParamDef::real("loss_threshold", 0.3, 0.0, 1e12, true, "time_to_loss: the loss falls below this")};
    mi.groups = {{"weights", false, "every weight and bias, rate lr"}};
    mi.observables = {{"loss", "mean cross-entropy"},
                      {"accuracy", "fraction of points classified correctly"},
                      {"logG_spread", "standard deviation of log diag(G) over parameters"}};
    mi.detectors = {{"time_to_loss", "first time the loss falls below loss_threshold"}};
    mi.comparison = {"rescale", "none", "time_to_loss"};
    mi.final_columns = {{"F_initial", "pathcond objective F(0) before the rescaling"},
                        {"F_final", "F at the rescaling's z (pathcond; enorm: F at its z)"},
                        {"rescale_sweeps_used", "coordinate-descent sweeps taken"}};
    return mi;
  }

  static Config configure(const Params& p) {
    Config c{};
    c.data = p.choice("data") == "mixture" ? kMixture : kMoons;
    c.P = int(p.integer("points"));
    c.noise = p.real("noise");
    const int classes = int(p.integer("classes"));
    if (c.data == kMixture && classes < 2) throw ParamError("classes", "a mixture needs at least 2 classes");
    c.in = c.data == kMixture ? int(p.integer("dim")) : 2;
    c.out = c.data == kMixture ? classes : 2;
    c.depth = int(p.integer("depth"));
    c.h = int(p.integer("width"));
    c.init = p.choice("init") == "torch_default" ? kTorchDefault : kKaiming;
    c.init_scale = p.real("init_scale");
    const std::string& r = p.choice("rescale");
    c.rescale = r == "pathcond" ? kPathCond : r == "enorm" ? kENorm : kNone;
    c.sweeps = int(p.integer("rescale_sweeps"));
    c.tol = p.real("rescale_tol");
    c.loss_threshold = p.real("loss_threshold");
    return c;
  }

  // ---- layout -----------------------------------------------------------------------------------
  // theta, layer by layer l = 0..depth: W_l (n_out, n_in) row-major, then b_l (n_out) for hidden layers.
  FS_HD static int layers(const Config& c) { return c.depth + 1; }
  FS_HD static int n_in(const Config& c, int l) { return l == 0 ? c.in : c.h; }
  FS_HD static int n_out(const Config& c, int l) { return l == c.depth ? c.out : c.h; }
  FS_HD static long layer_words(const Config& c, int l) {
    return long(n_out(c, l)) * n_in(c, l) + (l < c.depth ? n_out(c, l) : 0);
  }
  FS_HD static long layer_offset(const Config& c, int l) {
    long o = 0;
    for (int k = 0; k < l; ++k) o += layer_words(c, k);
    return o;
  }
  FS_HD static long n_params(const Config& c) { return layer_offset(c, layers(c)); }
  // per point: hidden activations (depth, h) | hidden deltas (depth, h) | output delta (out) | loss, correct
  FS_HD static long point_words(const Config& c) { return 2L * c.depth * c.h + c.out + 2; }
  // The points' words, tiles of any team_tile padded to whole tiles of kTeamLanes points:
  // (ceil(P / 32), point_words, 32) for a warp's tiles, (P, point_words) for the host's.
  FS_HD static long points_block(const Config& c) {
    return (long(c.P) + kTeamLanes - 1) / kTeamLanes * kTeamLanes * point_words(c);
  }
  // Word w of point p is at scratch[point_at(c, tile, p) + w * tile].
  FS_HD static long point_at(const Config& c, int tile, int p) {
    return long(p / tile) * tile * point_words(c) + p % tile;
  }
  FS_HD static long diag_words(const Config& c) { return 2L * (c.in + long(c.depth) * c.h + c.out); }
  // loss and accuracy, after the squared network's values that follow the points
  FS_HD static long tail_at(const Config& c) { return points_block(c) + diag_words(c); }

  static Sizes sizes(const Config& c) {
    Sizes s;
    s.n_groups = 1;
    s.n_theta = s.group_end[0] = n_params(c);
    s.n_fixed = 3;  // F before and after the rescaling, sweeps taken
    s.n_idata = c.P;
    s.n_rdata = long(c.P) * c.in;
    s.n_scratch = tail_at(c) + 2;
    s.n_obs = kNumObs;
    return s;
  }

  // ---- data (host) ------------------------------------------------------------------------------
  // Two moons as scikit-learn draws them (the outer half circle, then the inner one shifted by (1, -0.5)),
  // with Gaussian noise; or a mixture with class means drawn N(0, 4 I) and clusters of std `noise`.
  template <typename Real>
  static void make_data(const Config& c, Stream& rng, int* idata, Real* rdata) {
    if (c.data == kMoons) {
      const int n_out_pts = c.P / 2, n_in_pts = c.P - n_out_pts;
      const double pi = 3.14159265358979323846;
      for (int i = 0; i < c.P; ++i) {
        const bool outer = i < n_out_pts;
        const int k = outer ? i : i - n_out_pts;
        const int n = outer ? n_out_pts : n_in_pts;
        const double t = n > 1 ? pi * double(k) / double(n - 1) : 0.0;
        double x = outer ? std::cos(t) : 1.0 - std::cos(t);
        double y = outer ? std::sin(t) : 1.0 - std::sin(t) - 0.5;
        x += c.noise * rng.normal();
        y += c.noise * rng.normal();
        rdata[2L * i] = Real(x), rdata[2L * i + 1] = Real(y);
        idata[i] = outer ? 0 : 1;
      }
      return;
    }
    std::vector<double> means(size_t(c.out) * c.in);
    for (auto& m : means) m = 2.0 * rng.normal();
    for (int i = 0; i < c.P; ++i) {
      const int k = i % c.out;
      idata[i] = k;
      for (int j = 0; j < c.in; ++j)
        rdata[long(i) * c.in + j] = Real(means[size_t(k) * c.in + j] + c.noise * rng.normal());
    }
  }

  // ---- rescaling (host, double) -----------------------------------------------------------------
  // Index helpers over the flat parameter vector. Hidden neuron (l, j) is output unit j of layer l < depth;
  // its id is l * h + j.
  struct Rescaling {
    std::vector<double> F;  // objective after each sweep, F[0] before the first
    std::vector<double> z;  // one per hidden neuron
    double grad_norm = 0;   // |dF/dz| at the end (pathcond)
    int sweeps = 0;
  };

  // g = diag(G): with squared parameters and an all-ones input every unit is active, so the network is
  // linear; g of W_l[j, i] is (backward sum at j) * (forward value at i), g of b_l[j] is the backward sum.
  static std::vector<double> diag_g(const Config& c, const double* theta) {
    const int L = layers(c);
    std::vector<std::vector<double>> fwd(size_t(L) + 1), bwd(size_t(L) + 1);
    fwd[0].assign(size_t(c.in), 1.0);
    for (int l = 0; l < L; ++l) {
      const double* W = theta + layer_offset(c, l);
      const double* b = W + long(n_out(c, l)) * n_in(c, l);
      fwd[size_t(l) + 1].assign(size_t(n_out(c, l)), 0.0);
      for (int j = 0; j < n_out(c, l); ++j) {
        double acc = l < c.depth ? b[j] * b[j] : 0.0;
        for (int i = 0; i < n_in(c, l); ++i)
          acc += W[long(j) * n_in(c, l) + i] * W[long(j) * n_in(c, l) + i] * fwd[size_t(l)][size_t(i)];
        fwd[size_t(l) + 1][size_t(j)] = acc;
      }
    }
    bwd[size_t(L)].assign(size_t(c.out), 1.0);
    for (int l = L - 1; l >= 0; --l) {
      const double* W = theta + layer_offset(c, l);
      bwd[size_t(l)].assign(size_t(n_in(c, l)), 0.0);
      for (int j = 0; j < n_out(c, l); ++j)
        for (int i = 0; i < n_in(c, l); ++i)
          bwd[size_t(l)][size_t(i)] +=
              W[long(j) * n_in(c, l) + i] * W[long(j) * n_in(c, l) + i] * bwd[size_t(l) + 1][size_t(j)];
    }
    std::vector<double> g(static_cast<size_t>(n_params(c)));
    for (int l = 0; l < L; ++l) {
      const long o = layer_offset(c, l);
      for (int j = 0; j < n_out(c, l); ++j) {
        for (int i = 0; i < n_in(c, l); ++i)
          g[size_t(o + long(j) * n_in(c, l) + i)] = bwd[size_t(l) + 1][size_t(j)] * fwd[size_t(l)][size_t(i)];
        if (l < c.depth) g[size_t(o + long(n_out(c, l)) * n_in(c, l) + j)] = bwd[size_t(l) + 1][size_t(j)];
      }
    }
    return g;
  }

  // (Bz)_i for every parameter: -z of the neuron it enters (weights and bias), +z of the neuron it leaves.
  static std::vector<double> bz(const Config& c, const std::vector<double>& z) {
    std::vector<double> out(size_t(n_params(c)), 0.0);
    for (int l = 0; l < layers(c); ++l) {
      const long o = layer_offset(c, l);
      for (int j = 0; j < n_out(c, l); ++j) {
        const double zin = l < c.depth ? z[size_t(l * c.h + j)] : 0.0;
        for (int i = 0; i < n_in(c, l); ++i) {
          const double zout = l > 0 ? z[size_t((l - 1) * c.h + i)] : 0.0;
          out[size_t(o + long(j) * n_in(c, l) + i)] = -zin + zout;
        }
        if (l < c.depth) out[size_t(o + long(n_out(c, l)) * n_in(c, l) + j)] = -zin;
      }
    }
    return out;
  }

  // Visits the parameters entering hidden neuron (l, j) (its weights and bias) with in(i), and those
  // leaving it with out(i).
  template <typename In, typename Out>
  static void visit_touching(const Config& c, int l, int j, In in, Out out) {
    const long o = layer_offset(c, l);
    for (int i = 0; i < n_in(c, l); ++i) in(size_t(o + long(j) * n_in(c, l) + i));
    in(size_t(o + long(n_out(c, l)) * n_in(c, l) + j));
    const long o2 = layer_offset(c, l + 1);
    for (int k = 0; k < n_out(c, l + 1); ++k) out(size_t(o2 + long(k) * n_in(c, l + 1) + j));
  }

  // Sums over the parameters entering and leaving hidden neuron (l, j) of w_i (a per-parameter weight).
  static void touching(const Config& c, int l, int j, const std::vector<double>& w, double& in_sum, double& out_sum) {
    in_sum = out_sum = 0;
    visit_touching(
        c, l, j, [&](size_t i) { in_sum += w[i]; }, [&](size_t i) { out_sum += w[i]; });
  }

  static double objective(const Config& c, const std::vector<double>& g, const std::vector<double>& z) {
    const auto b = bz(c, z);
    double S = 0;
    for (size_t i = 0; i < g.size(); ++i) S += g[i] * std::exp(b[i]);
    double lin = 0;
    for (int l = 0; l < c.depth; ++l)
      for (int j = 0; j < c.h; ++j) lin += double((n_in(c, l) + 1) - n_out(c, l + 1)) * z[size_t(l * c.h + j)];
    return double(g.size()) * std::log(S) + lin;
  }

  // Exact coordinate descent for pathcond, or the enorm closed form, then theta rescaled in place.
  static Rescaling rescale(const Config& c, int mode, double* theta) {
    Rescaling rs;
    const long np = n_params(c);
    const int nh = c.depth * c.h;
    rs.z.assign(size_t(nh), 0.0);
    std::vector<double> g = diag_g(c, theta);
    std::vector<double> sq(static_cast<size_t>(np));
    for (long i = 0; i < np; ++i) sq[size_t(i)] = theta[i] * theta[i];
    const std::vector<double>& base = mode == kPathCond ? g : sq;
    const double scale = mode == kPathCond ? 1.0 : 2.0;  // enorm works on e^{2 Bz}
    rs.F.push_back(objective(c, g, rs.z));
    std::vector<double> term(static_cast<size_t>(np));
    for (int sweep = 0; sweep < c.sweeps; ++sweep) {
      // term_i = base_i e^{scale (Bz)_i} and their sum, afresh each sweep; a neuron's update then touches
      // only its own parameters' terms, so a sweep costs O(params), not O(params x neurons).
      const auto b = bz(c, rs.z);
      double S = 0;
      for (long i = 0; i < np; ++i) S += (term[size_t(i)] = base[size_t(i)] * std::exp(scale * b[size_t(i)]));
      double change = 0;
      for (int l = 0; l < c.depth; ++l)
        for (int j = 0; j < c.h; ++j) {
          double in_sum, out_sum;
          touching(c, l, j, term, in_sum, out_sum);
          double& zh = rs.z[size_t(l * c.h + j)];
          double zn;
          if (mode == kPathCond) {
            const double p = double(np), A = double((n_in(c, l) + 1) - n_out(c, l + 1));
            const double Bh = out_sum * std::exp(-zh), Ch = in_sum * std::exp(zh), Dh = S - in_sum - out_sum;
            const double qa = Bh * (A + p), qb = Dh * A, qc = Ch * (A - p);
            zn = std::log((-qb + std::sqrt(qb * qb - 4 * qa * qc)) / (2 * qa));
          } else {
            const double Bo = out_sum * std::exp(-2 * zh), Ci = in_sum * std::exp(2 * zh);
            zn = std::log(Ci / Bo) / 4;
          }
          // z_h enters (Bz)_i with a minus sign for the parameters entering h, a plus for those leaving.
          const double f_in = std::exp(-scale * (zn - zh)), f_out = std::exp(scale * (zn - zh));
          visit_touching(
              c, l, j, [&](size_t i) { term[i] *= f_in; }, [&](size_t i) { term[i] *= f_out; });
          S += in_sum * (f_in - 1) + out_sum * (f_out - 1);
          change += std::fabs(zn - zh);
          zh = zn;
        }
      rs.F.push_back(objective(c, g, rs.z));
      rs.sweeps = sweep + 1;
      if (change < c.tol) break;
    }
    const auto b = bz(c, rs.z);
    for (long i = 0; i < np; ++i) theta[i] *= std::exp((mode == kPathCond ? -0.5 : 1.0) * b[size_t(i)]);
    // |dF/dz_h| = |p (out_h - in_h) / S + A_h| at the end
    double S = 0;
    for (long i = 0; i < np; ++i) S += (term[size_t(i)] = g[size_t(i)] * std::exp(b[size_t(i)]));
    double gn = 0;
    for (int l = 0; l < c.depth; ++l)
      for (int j = 0; j < c.h; ++j) {
        double in_sum, out_sum;
        touching(c, l, j, term, in_sum, out_sum);
        const double d = double(np) * (out_sum - in_sum) / S + double((n_in(c, l) + 1) - n_out(c, l + 1));
        gn += d * d;
      }
    rs.grad_norm = std::sqrt(gn);
    return rs;
  }

  // Kaiming normal (std sqrt(2 / fan_in)) with zero biases, or PyTorch's nn.Linear default (weights and
  // biases uniform in +-1/sqrt(fan_in): kaiming_uniform with a = sqrt(5), and its bias rule), times
  // init_scale; then the rescaling.
  template <typename Real>
  static void init(const Config& c, Stream& rng, const int*, const Real*, Real* theta, Real* fixed) {
    const long np = n_params(c);
    std::vector<double> t(static_cast<size_t>(np), 0.0);
    for (int l = 0; l < layers(c); ++l) {
      const long o = layer_offset(c, l);
      const long n_w = long(n_out(c, l)) * n_in(c, l), n_b = l < c.depth ? n_out(c, l) : 0;
      if (c.init == kTorchDefault) {
        const double bound = c.init_scale / std::sqrt(double(n_in(c, l)));
        for (long i = 0; i < n_w + n_b; ++i) t[size_t(o + i)] = bound * (2.0 * rng.uniform() - 1.0);
      } else {
        const double std_ = c.init_scale * std::sqrt(2.0 / n_in(c, l));
        for (long i = 0; i < n_w; ++i) t[size_t(o + i)] = std_ * rng.normal();
      }
    }
    const std::vector<double> g0 = diag_g(c, t.data());
    const std::vector<double> zero(size_t(c.depth) * c.h, 0.0);
    fixed[0] = Real(objective(c, g0, zero));
    fixed[1] = fixed[0];
    fixed[2] = 0;
    if (c.rescale != kNone) {
      const Rescaling rs = rescale(c, c.rescale, t.data());
      fixed[1] = Real(rs.F.back());
      fixed[2] = Real(rs.sweeps);
    }
    for (long i = 0; i < np; ++i) theta[i] = Real(t[size_t(i)]);
  }

  // ---- loss and gradient ------------------------------------------------------------------------
  template <typename Team, typename Real>
  FS_HD static Real loss_grad(const Team& team, const Config& c, const StepContext&, const int* idata,
                              const Real* rdata, const Real* theta, const Real*, Real* grad, Real* scratch) {
    const int L = layers(c), H = c.h, D = c.depth;
    const int tile = team_tile(team);  // a point's words are `tile` apart
    const long tH = long(tile) * H;
    // A member takes its points kGroup at a time: on the host four, so that each weight it loads feeds four
    // points' sums (dot4x4_strided, rows_combined4); on the device one, a thread's registers being scarce.
    // Every sum runs in one point's order whatever the group, so the grouping changes no bit.
#if defined(__CUDA_ARCH__)
    constexpr int kGroup = 1;
#else
    constexpr int kGroup = 4;
#endif
    const int stride = team.size();
    for (int p0 = team.rank(); p0 < c.P; p0 += kGroup * stride) {
      const int ng = kGroup == 1 ? 1 : (c.P - 1 - p0) / stride + 1 < kGroup ? (c.P - 1 - p0) / stride + 1 : kGroup;
#if !defined(__CUDA_ARCH__)
      const bool whole = ng == kGroup;  // a full group takes the grouped products
#endif
      Real* act[kGroup];         // (D, H) each
      const Real* prev[kGroup];  // a layer's inputs
      Real* out[kGroup];         // its outputs
      for (int g = 0; g < ng; ++g) act[g] = scratch + point_at(c, tile, p0 + g * stride);
      for (int l = 0; l < L; ++l) {
        const Real* W = theta + layer_offset(c, l);
        const int ni = n_in(c, l), no = n_out(c, l);
        const long ps = l == 0 ? 1 : tile;
        for (int g = 0; g < ng; ++g) {
          prev[g] = l == 0 ? rdata + long(p0 + g * stride) * c.in : act[g] + (l - 1) * tH;
          out[g] = act[g] + (l < D ? l : 2 * D) * tH;  // a hidden layer's activations, or dout
        }
        auto emit = [&](int g, int j, Real acc) {
          acc += l < D ? W[long(no) * ni + j] : Real(0);
          out[g][j * tile] = l < D ? (acc > Real(0) ? acc : Real(0)) : acc;
        };
        int j = 0;
#if !defined(__CUDA_ARCH__)
        if (whole)
          for (; j + 4 <= no; j += 4) {  // four units by four points
            Real a[16];
            dot4x4_strided(W + long(j) * ni, ni, prev, ps, ni, a);
            for (int g = 0; g < 4; ++g)
              for (int u = 0; u < 4; ++u) emit(g, j + u, a[4 * g + u]);
          }
#endif
        for (; j + 4 <= no; j += 4)  // four units at a time share each load of prev
          for (int g = 0; g < ng; ++g) {
            const Real* w0 = W + long(j) * ni;
            Real a[4];
            dot4_strided(w0, w0 + ni, w0 + 2 * ni, w0 + 3 * ni, prev[g], ps, ni, a);
            emit(g, j, a[0]), emit(g, j + 1, a[1]), emit(g, j + 2, a[2]), emit(g, j + 3, a[3]);
          }
        for (; j < no; ++j)
          for (int g = 0; g < ng; ++g) emit(g, j, dot_strided(W + long(j) * ni, prev[g], ps, ni));
      }
      Real* dout[kGroup];  // (out + 2) each
      for (int g = 0; g < ng; ++g) {
        Real* d = dout[g] = act[g] + 2 * D * tH;
        Real mx = -INFINITY;
        int arg = 0;
        for (int k = 0; k < c.out; ++k)
          if (d[k * tile] > mx) mx = d[k * tile], arg = k;
        Real zs = 0;
        for (int k = 0; k < c.out; ++k) zs += exp(d[k * tile] - mx);
        const int y = idata[p0 + g * stride];
        d[c.out * tile] = log(zs) + mx - d[y * tile];
        d[(c.out + 1) * tile] = arg == y ? Real(1) : Real(0);
        for (int k = 0; k < c.out; ++k)
          d[k * tile] = (exp(d[k * tile] - mx) / zs - (k == y ? Real(1) : Real(0))) / Real(c.P);
      }
      // deltas of the hidden layers, last to first
      for (int l = D - 1; l >= 0; --l) {
        const Real* Wn = theta + layer_offset(c, l + 1);
        const int nn = n_out(c, l + 1);
        const Real* dn[kGroup];
        Real* dl[kGroup];
        for (int g = 0; g < ng; ++g) {
          dn[g] = act[g] + (l + 1 < D ? D + l + 1 : 2 * D) * tH;  // the next layer's deltas, or dout
          dl[g] = act[g] + (D + l) * tH;
        }
        bool done = false;
#if !defined(__CUDA_ARCH__)
        if (whole) rows_combined4(Wn, H, nn, dn, tile, H, dl, tile), done = true;
#endif
        for (int g = 0; g < ng && !done; ++g) {
          for (int i = 0; i < H; ++i) dl[g][i * tile] = 0;
          auto row = [&](int k) { return Wn + long(k) * H; };
          int k = 0;
          for (; k + 4 <= nn; k += 4)  // four rows of the next layer per pass over dl
            add_rows4_strided(dl[g], tile, H, row(k), row(k + 1), row(k + 2), row(k + 3), 1, dn[g][k * tile],
                              dn[g][(k + 1) * tile], dn[g][(k + 2) * tile], dn[g][(k + 3) * tile]);
          for (; k < nn; ++k) add_row_strided(dl[g], tile, H, row(k), 1, dn[g][k * tile]);
        }
        for (int g = 0; g < ng; ++g) {
          const Real* al = act[g] + l * tH;
          for (int i = 0; i < H; ++i) dl[g][i * tile] = al[i * tile] > Real(0) ? dl[g][i * tile] : Real(0);
        }
      }
    }
    team.sync();
    bool by_points = false;
#if !defined(__CUDA_ARCH__)
    by_points = grad_by_points(team.size(), c, rdata, scratch, grad);
#endif
    if (!by_points) grad_by_rows(team, c, rdata, scratch, grad);
    team.sync();
    Real* tail = scratch + tail_at(c);
    using Two = Sums<Real, 2>;
    const Two total = team_sum(team, c.P, [&](long p) {
      const Real* dout = scratch + point_at(c, tile, int(p)) + 2 * D * tH;
      Two t;
      t[0] = dout[c.out * tile], t[1] = dout[(c.out + 1) * tile];  // loss, correct
      return t;
    });
    const Real loss = total[0] / Real(c.P);
    if (team.leader()) tail[0] = loss, tail[1] = total[1] / Real(c.P);
    team.sync();
    return loss;
  }

  // The weight gradient, owner-computes by (layer, unit): a member takes a row and scans every point for
  // those where its unit is active.
  template <typename Team, typename Real>
  FS_HD static void grad_by_rows(const Team& team, const Config& c, const Real* rdata, const Real* scratch,
                                 Real* grad) {
    const int L = layers(c), H = c.h, D = c.depth;
    const int tile = team_tile(team);
    const long tH = long(tile) * H;
    long rows = 0;
    for (int l = 0; l < L; ++l) rows += n_out(c, l);
    for (long row = team.rank(); row < rows; row += team.size()) {
      int l = 0;
      long j = row;
      while (j >= n_out(c, l)) j -= n_out(c, l), ++l;
      const int ni = n_in(c, l), no = n_out(c, l);
      const long ps = l == 0 ? 1 : tile;  // stride of the layer's inputs
      Real* gw = grad + layer_offset(c, l) + j * ni;
      Real gb = 0;
      for (int i = 0; i < ni; ++i) gw[i] = 0;
      // The points where the unit is active (dj != 0), four per pass over gw.
      const Real* pv[4];
      Real dv[4];
      int m = 0;
      for (int p = 0; p < c.P; ++p) {
        const Real* act = scratch + point_at(c, tile, p);
        const Real dj = act[(D + l) * tH + j * tile];  // layer l's deltas follow the activations; l = D: dout
        if (dj == Real(0)) continue;
        pv[m] = l == 0 ? rdata + long(p) * c.in : act + (l - 1) * tH;
        dv[m] = dj;
        gb += dj;
        if (++m == 4) {
          add_rows4_strided(gw, 1, ni, pv[0], pv[1], pv[2], pv[3], ps, dv[0], dv[1], dv[2], dv[3]);
          m = 0;
        }
      }
      for (int r = 0; r < m; ++r) add_row_strided(gw, 1, ni, pv[r], ps, dv[r]);
      if (l < D) grad[layer_offset(c, l) + long(no) * ni + j] = gb;
    }
  }

#if !defined(__CUDA_ARCH__)
  // The weight gradient of a team of one (the host's), point by point as sums of outer products: each
  // point's inputs and deltas are read once, where they lie together, instead of once for each of the
  // (layer, unit) rows, and no branch asks at each point whether a unit is active. Four points pass over a
  // row at a time, one whose delta at the unit is zero leaving the row as it is, as grad_by_rows skips it:
  // every sum runs over the same points in the same order, so in the same bits. False for a larger team.
  static constexpr int kPointsByGrad = 4;  // points a pass over a row of the gradient
  template <typename Real>
  static bool grad_by_points(int team_size, const Config& c, const Real* rdata, const Real* scratch, Real* grad) {
    if (team_size != 1) return false;
    const int L = layers(c), D = c.depth;
    const long pw = point_words(c);  // a tile of one point: its words lie together
    for (long w = 0; w < n_params(c); ++w) grad[w] = 0;
    // N points from p0 on, every layer: the group's size is known to the compiler, so a row's deltas are
    // read with no test of how many there are.
    auto add_points = [&](auto group, int p0) {
      constexpr int N = decltype(group)::value;
      for (int l = 0; l < L; ++l) {
        const int ni = n_in(c, l), no = n_out(c, l);
        const Real* x[N];      // the layer's inputs at each point
        const Real* delta[N];  // its deltas (l = depth: dout)
        for (int q = 0; q < N; ++q) {
          const Real* act = scratch + long(p0 + q) * pw;
          x[q] = l == 0 ? rdata + long(p0 + q) * c.in : act + long(l - 1) * c.h;
          delta[q] = act + long(D + l) * c.h;
        }
        Real* G = grad + layer_offset(c, l);  // (no, ni), then the biases (no) for a hidden layer
        for (int j = 0; j < no; ++j) {
          Real d[N];
          bool any = false;
          for (int q = 0; q < N; ++q) d[q] = delta[q][j], any |= d[q] != Real(0);
          if (any) add_rows_nonzero<N>(G + long(j) * ni, ni, x, d);
        }
        if (l < D) {  // the biases: a whole layer's units at once, where there is no branch to mispredict
          Real* b = G + long(no) * ni;
          for (int q = 0; q < N; ++q) {
            const Real* dq = delta[q];
            FS_SIMD
            for (int j = 0; j < no; ++j) b[j] = dq[j] != Real(0) ? b[j] + dq[j] : b[j];
          }
        }
      }
    };
    int p0 = 0;
    for (; p0 + kPointsByGrad <= c.P; p0 += kPointsByGrad) add_points(std::integral_constant<int, kPointsByGrad>{}, p0);
    for (; p0 < c.P; ++p0) add_points(std::integral_constant<int, 1>{}, p0);
    return true;
  }
#endif

  // ---- observables ------------------------------------------------------------------------------
  template <typename Team, typename Real>
  FS_HD static void observe(const Team& team, const Config& c, const int*, const Real*, const Real* theta, const Real*,
                            Real* scratch, Real* obs) {
    // log diag(G): forward and backward values of the squared network with an all-ones input, a layer at
    // a time with a member per unit, then the logs' mean and square reduced over every parameter.
    Real* fwd = scratch + points_block(c);
    Real* bwd = fwd + (c.in + long(c.depth) * c.h + c.out);
    const int L = layers(c);
    auto off = [&](int l) {  // offset of layer l's units (l = 0: the input)
      return l == 0 ? 0L : long(c.in) + long(l - 1) * c.h;
    };
    for (int i = team.rank(); i < c.in; i += team.size()) fwd[i] = 1;
    team.sync();
    for (int l = 0; l < L; ++l) {
      const Real* W = theta + layer_offset(c, l);
      const int ni = n_in(c, l), no = n_out(c, l);
      for (int j = team.rank(); j < no; j += team.size()) {
        Real acc = l < c.depth ? W[long(no) * ni + j] * W[long(no) * ni + j] : Real(0);
        for (int i = 0; i < ni; ++i) acc += W[long(j) * ni + i] * W[long(j) * ni + i] * fwd[off(l) + i];
        fwd[off(l + 1) + j] = acc;
      }
      team.sync();
    }
    for (int k = team.rank(); k < c.out; k += team.size()) bwd[off(L) + k] = 1;
    team.sync();
    for (int l = L - 1; l >= 0; --l) {
      const Real* W = theta + layer_offset(c, l);
      const int ni = n_in(c, l), no = n_out(c, l);
      for (int i = team.rank(); i < ni; i += team.size()) {
        Real acc = 0;
        for (int j = 0; j < no; ++j) acc += W[long(j) * ni + i] * W[long(j) * ni + i] * bwd[off(l + 1) + j];
        bwd[off(l) + i] = acc;
      }
      team.sync();
    }
    // Parameter k in theta's order: a weight (j, i) of its layer, log(bwd_j fwd_i), or a bias j, log(bwd_j).
    const long n = n_params(c);
    const Sums<Real, 2> s = team_sum(team, n, [&](long k) {
      int l = 0;
      long at = k;
      while (at >= layer_words(c, l)) at -= layer_words(c, l++);
      const int ni = n_in(c, l), no = n_out(c, l);
      const Real lg = at < long(no) * ni ? log(bwd[off(l + 1) + at / ni] * fwd[off(l) + at % ni])
                                         : log(bwd[off(l + 1) + (at - long(no) * ni)]);
      Sums<Real, 2> v;
      v[0] = lg, v[1] = lg * lg;
      return v;
    });
    if (!team.leader()) return;
    const Real* tail = scratch + tail_at(c);
    const Real mean = s[0] / Real(n);
    const Real var = s[1] / Real(n) - mean * mean;
    obs[kLoss] = tail[0];
    obs[kAccuracy] = tail[1];
    obs[kLogGSpread] = sqrt(var > Real(0) ? var : Real(0));
  }

  // At detection steps that are not recorded only the loss is read: log diag(G) costs a pass over the
  // parameters on one member.
  static constexpr bool kObserveDetect = true;
  template <typename Team, typename Real>
  FS_HD static void observe_detect(const Team& team, const Config& c, const int*, const Real*, const Real*, const Real*,
                                   Real* scratch, Real* obs) {
    if (team.leader()) obs[kLoss] = scratch[tail_at(c)];
  }

  // ---- detectors (every detection step) -----------------------------------------------------------
  struct DetectState {};
  template <typename Real>
  FS_HD static void detect(const Config& c, const Real*, const Real* obs, long step, DetectState&, long* fired) {
    detect_first(double(obs[kLoss]) < c.loss_threshold, step, fired[0]);
  }

  template <typename Real>
  static std::vector<double> final_config(const Config&, const FlowConfig&, const Real*, const Real*, const Real* fixed,
                                          const Series&) {
    return {double(fixed[0]), double(fixed[1]), double(fixed[2])};
  }
};

}  // namespace fs
