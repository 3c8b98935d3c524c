// A fixed set of host threads for work that splits into independent items (drawing runs' data and
// initial parameters, finishing runs). The calling thread works too, so a pool of one is a plain loop
// and a pool of n has n - 1 threads of its own, asleep between calls.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fs {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int size() const { return int(threads_.size()) + 1; }

  // fn(i) for every i in [0, n), each once, on any of the pool's threads; returns when all are done.
  // Items are taken one at a time, so uneven items even out. The first exception an item throws is
  // rethrown here once every thread has stopped; the items not yet taken are then skipped.
  void for_each(long n, const std::function<void(long)>& fn);

 private:
  void work();
  void take_items();

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  const std::function<void(long)>* fn_ = nullptr;  // the current call's items, while one is under way
  long n_ = 0, next_ = 0;
  long generation_ = 0;  // one per call, so a thread takes part in each call once
  int busy_ = 0;         // the pool's own threads inside the current call
  bool quit_ = false;
  std::exception_ptr error_;
};

}  // namespace fs
