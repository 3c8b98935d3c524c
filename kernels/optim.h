// Optimisers over one run's flat parameter vector. Parameters are laid out group after group, each
// group with its own learning rate (the sweep's lr times the model's per-group factor). Element-wise,
// so every team member updates its own strided slice and no barrier is needed inside.
#pragma once

#include "kernels/common.h"

namespace fs {

enum class Optimizer : int { kGD = 0, kMomentum = 1, kAdam = 2 };

constexpr int kMaxGroups = 4;

struct OptConfig {
  Optimizer kind = Optimizer::kGD;
  double momentum = 0.9;  // heavy-ball coefficient
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int n_groups = 1;
  int group_end[kMaxGroups] = {0, 0, 0, 0};  // exclusive end index of each group
  double lr[kMaxGroups] = {0, 0, 0, 0};
};

// Words of optimiser state per parameter.
FS_HD inline int opt_state_per_param(Optimizer kind) {
  return kind == Optimizer::kGD ? 0 : kind == Optimizer::kMomentum ? 1 : 2;
}

// One step at step index `step` (0-based). `state` holds opt_state_per_param * n words, zero at start.
template <typename Team, typename Real>
FS_HD void opt_step(const Team& team, const OptConfig& cfg, long step, Real* theta, const Real* grad, Real* state) {
  const long n = pick(cfg.group_end, cfg.n_groups - 1);
  double bc1 = 1.0, bc2 = 1.0;
  if (cfg.kind == Optimizer::kAdam) {
    bc1 = 1.0 - pow(cfg.beta1, double(step + 1));
    bc2 = 1.0 - pow(cfg.beta2, double(step + 1));
  }
  long begin = 0;
  for (int g = 0; g < cfg.n_groups; ++g) {
    const long end = pick(cfg.group_end, g);
    const double lr_g = pick(cfg.lr, g);
    const Real lr = Real(lr_g);
    switch (cfg.kind) {
      case Optimizer::kGD:
        FS_SIMD
        for (long i = begin + team.rank(); i < end; i += team.size()) theta[i] -= lr * grad[i];
        break;
      case Optimizer::kMomentum: {
        const Real mu = Real(cfg.momentum);
        FS_SIMD
        for (long i = begin + team.rank(); i < end; i += team.size()) {
          // Held, not reloaded: state might alias theta for all the compiler knows.
          const Real v = mu * state[i] + grad[i];
          state[i] = v;
          theta[i] -= lr * v;
        }
        break;
      }
      case Optimizer::kAdam: {
        const Real b1 = Real(cfg.beta1), b2 = Real(cfg.beta2), eps = Real(cfg.eps);
        const Real step_size = Real(lr_g / bc1), inv_bc2 = Real(1.0 / bc2);
        Real* m1 = state;
        Real* m2 = state + n;
        for (long i = begin + team.rank(); i < end; i += team.size()) {
          const Real g = grad[i];
          const Real first = b1 * m1[i] + (Real(1) - b1) * g;
          const Real second = b2 * m2[i] + (Real(1) - b2) * g * g;
          m1[i] = first;
          m2[i] = second;
          theta[i] -= step_size * first / (sqrt(second * inv_bc2) + eps);
        }
        break;
      }
    }
    begin = end;
  }
}

}  // namespace fs
