// Detectors that run inside the flow. Each is a small state machine fed one sample (a step and a value)
// at every detection step, so a phase time is exact to the detection schedule (every `detect_every`
// steps) whatever the recording schedule. Plain data, zero bytes as the initial state, compiled for the
// host and the device. Every member of a team feeds its own copy with the same samples and takes the
// same branches, so no broadcast is needed.
//
// A detector's answer is a step, or -1 while it has not fired. Some answers are final when they are
// given (a first crossing); others are the best candidate so far and may move until the flow ends (the
// minimum of a dip, the steepest fall of a snap). `stop_after` waits for a candidate to hold still.
#pragma once

#include "kernels/common.h"

namespace fs {

constexpr int kMaxDetectors = 8;        // a model's detectors plus one per parameter group
constexpr int kDetectStateBytes = 160;  // a model's DetectState fits in this

// The first sample at which a condition holds. Final once fired.
FS_HD inline void detect_first(bool condition, long step, long& fired) {
  if (fired < 0 && condition) fired = step;
}

// Dip and rebound of a series h: the dip is the sample of h's minimum (the earliest if repeated), provided
// the minimum lies more than `margin` below the first sample and h rises more than `margin` above it later;
// the rebound is the first sample after the minimum at which h has regained `fraction` of the way from the
// minimum to `target`. Both answers move while a new minimum can still come.
struct DipTracker {
  long n;            // samples seen
  double start;      // the first sample
  double h_min;      // the smallest so far
  long min_step;     // where it was reached
  double max_after;  // the largest after it (meaningful when n_after > 0)
  long n_after;
  long rebound_step;  // first sample after the minimum that regains `fraction`, -1 before

  FS_HD void feed(double h, long step, double fraction, double target) {
    if (n == 0 || h < h_min) {
      if (n == 0) start = h;
      h_min = h, min_step = step, n_after = 0, rebound_step = -1;
    } else {
      max_after = n_after == 0 || h > max_after ? h : max_after;
      ++n_after;
      if (rebound_step < 0 && target > h_min && h >= h_min + fraction * (target - h_min)) rebound_step = step;
    }
    ++n;
  }
  FS_HD bool dipped(double margin) const {
    return n > 0 && h_min < start - margin && n_after > 0 && max_after > h_min + margin;
  }
  FS_HD long dip(double margin) const { return dipped(margin) ? min_step : -1; }
  FS_HD long rebound(double margin, double target) const {
    return dipped(margin) && target > h_min ? rebound_step : -1;
  }
};

// Snap and freeze of a falling series h (an entropy). Its rate at a sample is the central difference
// (h_next - h_prev) / (step_next - step_prev), known one sample late.
//   snap:   the interior sample of the most negative rate (the steepest fall; the earliest if repeated).
//   freeze: after the snap, a candidate is the first sample c whose |rate| is below `fraction` x |the
//           steepest rate|; it holds while every later sample stays within `tolerance` x |h_first - h_c|
//           of h_c. A sample outside that band drops the candidate, and the next sample that meets the rate
//           condition becomes one. A turning point followed by a rebound is therefore never a freeze.
// Both move when a steeper fall comes.
struct SnapTracker {
  long n;
  double h_first;
  double h_prev, h_cur;  // the last two samples
  long s_prev, s_cur;
  double steepest;  // the most negative rate so far (0 before any fall)
  long snap;        // -1 before any fall
  long freeze;      // the candidate, -1 when none
  double h_freeze, band;

  FS_HD void feed(double h, long step, double fraction, double tolerance) {
    if (n == 0) {
      h_first = h, snap = -1, freeze = -1, steepest = 0;
    } else if (n >= 2) {
      const double rate = (h - h_prev) / double(step - s_prev);  // at s_cur
      if (rate < steepest) steepest = rate, snap = s_cur, freeze = -1;
      if (freeze < 0 && snap >= 0 && s_cur > snap && fabs(rate) < fraction * -steepest) {
        freeze = s_cur, h_freeze = h_cur, band = tolerance * fabs(h_first - h_cur);
      }
    }
    if (freeze >= 0 && fabs(h - h_freeze) > band) freeze = -1;
    h_prev = h_cur, s_prev = s_cur;
    h_cur = h, s_cur = step;
    ++n;
  }
};

}  // namespace fs
