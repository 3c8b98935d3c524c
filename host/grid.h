// The grid: the cartesian product of a spec's axes, first axis slowest. Each point is a run with a
// stable id derived from the model, the sweep seed and every resolved parameter. The grid is counted
// and checked without being expanded: a point is built when it is needed, so a sweep of 10^6 runs costs
// no memory for the runs it is not training.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/spec.h"

namespace fs {

struct RunPoint {
  long index = 0;             // position in the grid
  std::string id;             // stable across specs, shards and machines
  Params params;              // every key resolved
  std::vector<Value> coords;  // one per axis
};

// The most runs one sweep may hold: run ids are 64-bit hashes, and beyond this the chance that two runs
// share one passes 1 in 3000.
constexpr long kMaxGridRuns = 100000000;

class Grid {
 public:
  // Counts the grid (InputError naming its axes when it is larger than kMaxGridRuns) and checks every
  // cell's parameters (InputError naming the key and the grid point), without expanding the runs.
  explicit Grid(const Spec& spec);

  long size() const { return size_; }
  RunPoint point(long index) const;
  Params params(long index) const { return params(coords(index)); }  // a run's parameters alone, without its id
  // A run's id, and its id and coordinates without its parameters (what the tables need).
  std::string id(long index) const;
  RunPoint label(long index) const;
  // "3f2a... (m=16, lr_ratio=3.1622776601683795, seed=2)": a run's id and its grid values, for messages.
  std::string name(long index) const;
  std::vector<Value> coords(long index) const;
  // The cell of a run: its coordinates on every axis but seed, as one number.
  long cell(long index) const;
  long n_cells() const { return size_ / seed_count_; }
  long first_of_cell(long cell) const { return run_of(cell, 0); }  // the cell's run at the seed axis' first value
  // A cell has seeds() runs, seed_stride() apart in index order: run_of(cell, k) is its run at the k-th
  // seed. Cells c and c + 1 in one block of seed_stride() cells are neighbours at every seed, so the runs
  // of a set of cells sort by (block, seed, cell).
  long seeds() const { return seed_count_; }
  long seed_stride() const { return seed_stride_; }
  long run_of(long cell, long k) const {
    return (cell / seed_stride_) * seed_count_ * seed_stride_ + k * seed_stride_ + cell % seed_stride_;
  }
  const Spec& spec() const { return spec_; }

  // Sums and extremes over every run of its cells' shapes, gathered as the grid is checked.
  struct Totals {
    long min_steps = 0, max_steps = 0;
    double steps = 0;                                   // run-steps in all
    double records = 0;                                 // records in all
    long max_records = 0;                               // the longest run's
    double table_rows = 0;                              // attention-table rows in all
    long max_table_rows = 0;                            // the largest run's
    double theta = 0, fixed = 0, rdata = 0, idata = 0;  // words of trained parameters, fixed state and data, in all
  };
  const Totals& totals() const { return totals_; }

 private:
  const Spec& spec_;
  Params base_;  // spec_.base, shared by every run's parameters
  long size_ = 1;
  long seed_axis_ = -1, seed_count_ = 1, seed_stride_ = 1;  // the stride: runs of the axes after the seed axis
  Totals totals_;
  Params params(const std::vector<Value>& coords) const;  // the base with the axes set
  std::string id_of(const std::vector<Value>& coords) const;
  // The text a run id hashes, in key order: fixed "key=value;" pieces, and the axes' places.
  struct IdPiece {
    std::string text;  // "key=value;" of fixed keys, or "key=" before an axis value
    long axis = -1;
  };
  std::vector<IdPiece> id_pieces_;  // the first is fixed text: "model=...;sweep_seed=...;" and what follows
  uint64_t id_basis_ = 0;           // the hash's state after the first piece
};

// Every run of a small grid, expanded (tests and tools).
std::vector<RunPoint> expand_grid(const Spec& spec);

// Every run of the grid as an executor's input.
std::vector<RunInput> grid_inputs(const Spec& spec);

std::string run_id(const std::string& model, uint32_t sweep_seed, const Params& p);

}  // namespace fs
