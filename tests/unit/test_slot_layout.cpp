#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <vector>

#include "kernels/cooccurrence.h"
#include "kernels/cuda/slot_layout.h"
#include "kernels/value_softmax.h"

namespace {

// How many threads of one shared-memory request wait on the busiest bank when thread r of `threads`
// reads the `word_bytes`-wide word at r * stride_bytes + offset: 1 means no conflict. Shared memory serves
// a request of 8-byte words half a warp at a time, each half on its own.
int conflict_degree(size_t stride_bytes, size_t offset, size_t word_bytes) {
  const int per_request = word_bytes == 8 ? 16 : 32;
  int worst = 0;
  for (int first = 0; first < 32; first += per_request) {
    std::map<int, int> in_bank;
    for (int r = first; r < first + per_request; ++r) {
      const size_t addr = size_t(r) * stride_bytes + offset;
      for (size_t b = 0; b < word_bytes; b += fs::kSmemBankBytes)
        worst = std::max(worst, ++in_bank[int((addr + b) / fs::kSmemBankBytes % fs::kSmemBanks)]);
    }
  }
  return worst;
}

// Real words a placement holds on chip, counted from the sizes alone.
long reals_on_chip(const fs::Sizes& sz, int opt_words, fs::Placement where) {
  switch (where) {
    case fs::Placement::kRunOnChip:
      return sz.n_theta * (1 + opt_words) + sz.n_fixed + sz.n_rdata + fs::flow_workspace_words(sz);
    case fs::Placement::kHotOnChip:
      return sz.n_fixed + sz.n_rdata + sz.n_scratch + sz.n_obs + sz.n_hot;
    case fs::Placement::kWorkOnChip:
      return sz.n_fixed + sz.n_rdata + sz.n_scratch + sz.n_obs;
    case fs::Placement::kGlobal:
      return 0;
  }
  return -1;
}

template <typename Real>
void check_layout(const fs::Sizes& sz, int opt_words, fs::Placement where) {
  const fs::OnChipLayout at = fs::on_chip_layout<Real>(sz, opt_words, where);
  const size_t stride = fs::flow_smem_bytes<Real>(sz, opt_words, where);
  const long reals = reals_on_chip(sz, opt_words, where);
  CAPTURE(sizeof(Real), int(where), sz.n_theta, sz.n_fixed, sz.n_rdata, sz.n_scratch, sz.n_idata, opt_words, stride);
  if (where == fs::Placement::kGlobal) {
    REQUIRE(stride == 0);
    return;
  }
  REQUIRE(stride == size_t(at.words) * sizeof(Real));  // every run's Real words aligned
  REQUIRE(stride >= size_t(reals) * sizeof(Real) + size_t(sz.n_idata) * sizeof(int));
  REQUIRE(stride < size_t(reals) * sizeof(Real) + size_t(sz.n_idata) * sizeof(int) + 2 * sizeof(Real));
  // The regions on chip, each where the layout says and none over another or past the stride.
  const bool whole = where == fs::Placement::kRunOnChip;
  struct Region {
    long at, words;
  };
  std::vector<Region> regions = {
      {at.fixed, sz.n_fixed},
      {at.rdata, sz.n_rdata},
      {at.scratch, sz.n_scratch},
      {at.obs, sz.n_obs},
      {at.idata, long((size_t(sz.n_idata) * sizeof(int) + sizeof(Real) - 1) / sizeof(Real))}};
  if (whole) {
    regions.push_back({at.theta, sz.n_theta});
    regions.push_back({at.opt, sz.n_theta * opt_words});
    regions.push_back({at.grad, sz.n_theta});
  } else {
    REQUIRE(at.theta == -1);
    REQUIRE(at.opt == -1);
    REQUIRE(at.grad == -1);
  }
  if (where == fs::Placement::kHotOnChip)
    regions.push_back({at.hot, sz.n_hot});
  else
    REQUIRE(at.hot == -1);
  std::vector<int> owner(size_t(at.words), -1);
  for (size_t r = 0; r < regions.size(); ++r) {
    REQUIRE(regions[r].at >= 0);
    REQUIRE(regions[r].at + regions[r].words <= at.words);
    for (long w = regions[r].at; w < regions[r].at + regions[r].words; ++w) {
      CAPTURE(r, w, owner[size_t(w)]);
      REQUIRE(owner[size_t(w)] == -1);
      owner[size_t(w)] = int(r);
    }
  }
  // The scratch follows the gradient, as the flow's workspace (grad | scratch | obs) does in global memory.
  if (whole) REQUIRE(at.scratch == at.grad + sz.n_theta);
  REQUIRE(at.obs == at.scratch + sz.n_scratch);
  for (size_t w = 0; w < 3; ++w) REQUIRE(conflict_degree(stride, w * sizeof(Real), sizeof(Real)) == 1);
  // The integer data after the Real words: conflict-free in fp32, two threads a bank at most in fp64.
  REQUIRE(conflict_degree(stride, size_t(at.idata) * sizeof(Real), sizeof(int)) <= int(sizeof(Real) / sizeof(int)));
}

template <typename Real>
void check_layouts(const fs::Sizes& sz, int opt_words) {
  using fs::Placement;
  for (Placement where : {Placement::kRunOnChip, Placement::kHotOnChip, Placement::kWorkOnChip, Placement::kGlobal})
    check_layout<Real>(sz, opt_words, where);
  // The run's work alone takes less than the whole run, as it must for a run that does not fit whole, and
  // the hot parameters' copy adds its words.
  REQUIRE(fs::flow_smem_bytes<Real>(sz, opt_words, Placement::kWorkOnChip) <=
          fs::flow_smem_bytes<Real>(sz, opt_words, Placement::kRunOnChip));
  REQUIRE(fs::flow_smem_bytes<Real>(sz, opt_words, Placement::kHotOnChip) >=
          fs::flow_smem_bytes<Real>(sz, opt_words, Placement::kWorkOnChip) + size_t(sz.n_hot) * sizeof(Real));
}

}  // namespace

TEST_CASE("conflict_degree reads the bank conflicts of a strided request", "[layout]") {
  CHECK(conflict_degree(4, 0, 4) == 1);     // consecutive words: no conflict
  CHECK(conflict_degree(128, 0, 4) == 32);  // a whole warp on one bank
  CHECK(conflict_degree(448, 0, 4) == 16);  // 112 words, the 16-way conflict seen with a thread per run
  CHECK(conflict_degree(8, 0, 8) == 1);
  CHECK(conflict_degree(16, 0, 8) == 2);
  CHECK(conflict_degree(8 * 105, 8, 8) == 1);
}

TEST_CASE("a thread per run reads shared memory without bank conflicts", "[layout]") {
  SECTION("value_softmax d = n = 4, the benchmark's shape") {
    fs::ValueSoftmax::Config c{};
    c.d = 4, c.n = 4, c.N = 20, c.loss = fs::ValueSoftmax::kLogistic;
    const fs::Sizes sz = fs::ValueSoftmax::sizes(c);
    for (int opt_words = 0; opt_words <= 2; ++opt_words) {
      check_layouts<float>(sz, opt_words);
      check_layouts<double>(sz, opt_words);
    }
  }
  SECTION("every small shape") {
    fs::Sizes sz;
    for (long theta = 1; theta <= 70; ++theta)
      for (long scratch : {0L, 1L, 7L, 32L})
        for (long idata : {0L, 1L, 2L, 5L})
          for (int opt_words = 0; opt_words <= 2; ++opt_words) {
            sz.n_theta = theta, sz.n_scratch = scratch, sz.n_idata = idata;
            sz.n_fixed = theta % 3, sz.n_rdata = theta % 5, sz.n_obs = 4, sz.n_hot = theta % 4 == 0 ? theta / 2 : 0;
            check_layouts<float>(sz, opt_words);
            check_layouts<double>(sz, opt_words);
          }
  }
}

// Why the middle placements exist: at the paper's size a cooccurrence run does not fit in a block's shared
// memory, while its work does, and its work with a copy of W_Q, W_K and W_V. An H100 and an A100 let a block
// opt in to 232,448 and 166,912 bytes (sharedMemPerBlockOptin).
TEST_CASE("cooccurrence at the paper's size keeps its work on chip and its parameters in global memory", "[layout]") {
  using fs::Placement;
  fs::Cooccurrence::Config c{};
  c.d = 64, c.L = 5, c.n = 60, c.m = 128, c.m1 = 256;
  const fs::Sizes sz = fs::Cooccurrence::sizes(c);
  REQUIRE(sz.n_theta == 57344);
  REQUIRE(sz.n_hot == 3 * 64 * 128);  // no word tables at d = 64: W_Q, W_K, W_V copied
  const size_t h100 = 232448, a100 = 166912;
  for (int opt_words = 0; opt_words <= 2; ++opt_words) {
    check_layouts<float>(sz, opt_words);
    check_layouts<double>(sz, opt_words);
    for (size_t optin : {h100, a100}) {
      CHECK(fs::flow_smem_bytes<float>(sz, opt_words, Placement::kRunOnChip) > optin);
      CHECK(fs::flow_smem_bytes<double>(sz, opt_words, Placement::kRunOnChip) > optin);
      // Small enough that the registers, not shared memory, bound the blocks an SM (two or three of 128).
      CHECK(3 * fs::flow_smem_bytes<float>(sz, opt_words, Placement::kWorkOnChip) < optin);
      CHECK(3 * fs::flow_smem_bytes<double>(sz, opt_words, Placement::kWorkOnChip) < optin);
    }
    // The copy fits an H100's block in both precisions (one block an SM in fp64, two in fp32), an A100's
    // in fp32 only.
    CHECK(fs::flow_smem_bytes<double>(sz, opt_words, Placement::kHotOnChip) <= h100);
    CHECK(fs::flow_smem_bytes<double>(sz, opt_words, Placement::kHotOnChip) > a100);
    CHECK(fs::flow_smem_bytes<float>(sz, opt_words, Placement::kHotOnChip) <= a100);
    CHECK(2 * fs::flow_smem_bytes<float>(sz, opt_words, Placement::kHotOnChip) <= h100);
  }
  // With word tables (d = 16) W_Q, W_K, W_V are read a few times a step: nothing to copy.
  c.d = 16, c.m = 32, c.m1 = 32;
  REQUIRE(fs::Cooccurrence::word_tables(c));
  CHECK(fs::Cooccurrence::sizes(c).n_hot == 0);
}
