#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "host/worker_pool.h"

TEST_CASE("a worker pool calls every item once", "[executor][pool]") {
  for (int threads : {1, 2, 4, 7})
    for (long n : {0L, 1L, 3L, 1000L}) {
      fs::WorkerPool pool(threads);
      CHECK(pool.size() == threads);
      std::vector<std::atomic<int>> calls(size_t(n) + 1);
      pool.for_each(n, [&](long i) { calls[size_t(i)]++; });
      for (long i = 0; i < n; ++i) {
        INFO(threads << " threads, " << n << " items, item " << i);
        REQUIRE(calls[size_t(i)] == 1);
      }
      CHECK(calls[size_t(n)] == 0);
    }
}

// Two items that each wait for the other can only both finish when two threads run them at once.
TEST_CASE("a worker pool runs items at the same time", "[executor][pool]") {
  fs::WorkerPool pool(2);
  std::mutex m;
  std::condition_variable cv;
  int arrived = 0;
  std::atomic<int> met{0};
  pool.for_each(2, [&](long) {
    std::unique_lock<std::mutex> lock(m);
    ++arrived;
    cv.notify_all();
    if (cv.wait_for(lock, std::chrono::seconds(30), [&] { return arrived == 2; })) ++met;
  });
  CHECK(met == 2);
}

TEST_CASE("a worker pool rethrows an item's exception and goes on working", "[executor][pool]") {
  fs::WorkerPool pool(3);
  std::atomic<long> done{0};
  CHECK_THROWS_WITH(pool.for_each(200,
                                  [&](long i) {
                                    if (i == 17) throw std::runtime_error("item 17");
                                    ++done;
                                  }),
                    "item 17");
  CHECK(done < 200);
  std::vector<std::atomic<int>> calls(50);
  pool.for_each(50, [&](long i) { calls[size_t(i)]++; });
  for (auto& c : calls) CHECK(c == 1);
}

// Many short calls in a row: a thread that wakes late for one call must neither miss the next nor run
// an item of a call that has returned.
TEST_CASE("a worker pool survives many short calls", "[executor][pool]") {
  fs::WorkerPool pool(4);
  for (int call = 0; call < 2000; ++call) {
    const long n = call % 5;
    std::vector<int> calls(static_cast<size_t>(n), 0);
    std::atomic<long> sum{0};
    pool.for_each(n, [&](long i) {
      calls[size_t(i)]++;  // a plain int: TSan reports two threads on one item
      sum += i;
    });
    REQUIRE(sum == n * (n - 1) / 2);
    for (int c : calls) REQUIRE(c == 1);
  }
}
