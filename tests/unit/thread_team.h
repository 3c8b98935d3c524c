// A team of real threads on the host, for testing that model code written against a team is race-free
// and independent of the team's size before a GPU ever runs it.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
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
  int r, n;
  Barrier* barrier;
  int rank() const { return r; }
  int size() const { return n; }
  bool leader() const { return r == 0; }
  void sync() const { barrier->wait(); }
};

// Runs body(team) on `size` threads at once.
inline void run_team(int size, const std::function<void(const ThreadTeam&)>& body) {
  Barrier barrier(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) threads.emplace_back([&, r] { body(ThreadTeam{r, size, &barrier}); });
  for (auto& t : threads) t.join();
}

}  // namespace fs::test
