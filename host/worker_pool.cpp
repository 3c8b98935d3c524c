#include "host/worker_pool.h"

#include <algorithm>

namespace fs {

WorkerPool::WorkerPool(int threads) {
  for (int t = 1; t < std::max(1, threads); ++t) threads_.emplace_back([this] { work(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

// Items are taken under the lock: each is a run's worth of work (a millisecond or more), so the lock
// is never where the time goes, and n_ and next_ need no atomics.
void WorkerPool::take_items() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (next_ < n_ && !error_) {
    const long i = next_++;
    const auto* fn = fn_;
    lock.unlock();
    std::exception_ptr err;
    try {
      (*fn)(i);
    } catch (...) {
      err = std::current_exception();
    }
    lock.lock();
    if (err && !error_) error_ = err;
  }
}

void WorkerPool::work() {
  long seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return quit_ || generation_ != seen; });
      if (quit_) return;
      seen = generation_;
      ++busy_;
    }
    take_items();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --busy_;
    }
    idle_.notify_all();
  }
}

void WorkerPool::for_each(long n, const std::function<void(long)>& fn) {
  if (n <= 0) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fn_ = &fn;
    n_ = n;
    next_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  if (n > 1) wake_.notify_all();
  take_items();
  std::exception_ptr err;
  {
    // Every item has been taken; wait for the threads still inside one. A thread that wakes only now
    // finds nothing left, and the next call's generation cannot start before this one returns.
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [&] { return busy_ == 0; });
    fn_ = nullptr;
    n_ = next_ = 0;
    err = error_;
    error_ = nullptr;
  }
  if (err) std::rethrow_exception(err);
}

}  // namespace fs
