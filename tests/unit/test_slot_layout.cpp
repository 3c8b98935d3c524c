#include <algorithm>
#include <catch2/catch.hpp>
#include <map>

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

template <typename Real>
void check_layout(const fs::Sizes& sz, int opt_words) {
  const size_t stride = fs::flow_smem_bytes<Real>(sz, opt_words);
  const size_t reals = size_t(sz.n_theta) * size_t(1 + opt_words) + size_t(sz.n_fixed + sz.n_rdata) +
                       size_t(fs::flow_workspace_words(sz));
  CAPTURE(sizeof(Real), sz.n_theta, sz.n_fixed, sz.n_rdata, sz.n_scratch, sz.n_idata, opt_words, stride);
  REQUIRE(stride % sizeof(Real) == 0);  // every run's Real words aligned
  REQUIRE(stride >= reals * sizeof(Real) + size_t(sz.n_idata) * sizeof(int));
  REQUIRE(stride < reals * sizeof(Real) + size_t(sz.n_idata) * sizeof(int) + 2 * sizeof(Real));
  for (size_t w = 0; w < 3; ++w) REQUIRE(conflict_degree(stride, w * sizeof(Real), sizeof(Real)) == 1);
  // The integer data after the Real words: conflict-free in fp32, two threads a bank at most in fp64.
  const size_t idata = reals * sizeof(Real);
  REQUIRE(conflict_degree(stride, idata, sizeof(int)) <= int(sizeof(Real) / sizeof(int)));
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
      check_layout<float>(sz, opt_words);
      check_layout<double>(sz, opt_words);
    }
  }
  SECTION("every small shape") {
    fs::Sizes sz;
    for (long theta = 1; theta <= 70; ++theta)
      for (long scratch : {0L, 1L, 7L, 32L})
        for (long idata : {0L, 1L, 2L, 5L})
          for (int opt_words = 0; opt_words <= 2; ++opt_words) {
            sz.n_theta = theta, sz.n_scratch = scratch, sz.n_idata = idata;
            sz.n_fixed = theta % 3, sz.n_rdata = theta % 5, sz.n_obs = 4;
            check_layout<float>(sz, opt_words);
            check_layout<double>(sz, opt_words);
          }
  }
}
