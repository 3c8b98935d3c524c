// A team of real threads on the host, for testing that model code written against a team is race-free
// and independent of the team's size before a GPU ever runs it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace fs::test {

class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(m_);
    const long gen = generation_;
    if (++waiting_ == n_) {
      waiting_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != gen; });
    }
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_, waiting_ = 0;
  long generation_ = 0;
};

struct ThreadTeam {
  static constexpr size_t kReduceBytes = 32 * 256;
  int r, n;
  Barrier* barrier;
  void* reduce_buf;  // kReduceBytes shared by the team, for kernels/team.h's reductions
  int rank() const { return r; }
  int size() const { return n; }
  bool leader() const { return r == 0; }
  void sync() const { barrier->wait(); }
  void* reduce_buffer(size_t bytes) const {
    if (bytes > kReduceBytes) throw std::length_error("a team reduction's lanes exceed the test team's buffer");
    return reduce_buf;
  }
};

// Runs body(team) on `size` threads at once.
inline void run_team(int size, const std::function<void(const ThreadTeam&)>& body) {
  Barrier barrier(size);
  std::vector<std::max_align_t> reduce_buf(ThreadTeam::kReduceBytes / sizeof(std::max_align_t) + 1);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r)
    threads.emplace_back([&, r] { body(ThreadTeam{r, size, &barrier, reduce_buf.data()}); });
  for (auto& t : threads) t.join();
}

}  // namespace fs::test
