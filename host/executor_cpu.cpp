#include "host/executor_cpu.h"

#include <mutex>
#include <thread>

namespace fs {

std::vector<RunResult> execute_cpu(const ModelEntry& entry, const std::vector<RunInput>& inputs, int threads,
                                   const std::function<void(long, const RunResult&)>& on_done) {
  std::vector<RunResult> results(inputs.size());
  std::atomic<long> next{0};
  std::mutex done_mutex;
  auto worker = [&] {
    for (;;) {
      const long i = next.fetch_add(1);
      if (i >= long(inputs.size())) return;
      if (inputs[size_t(i)].cancel && *inputs[size_t(i)].cancel) {  // interrupted: leave the rest for a resume
        results[size_t(i)].status = RunResult::kCancelled;
        continue;
      }
      RunResult r;
      try {
        r = entry.run_cpu(inputs[size_t(i)]);
      } catch (const std::exception& e) {
        r = RunResult{};
        r.status = RunResult::kFailed;
        r.message = e.what();
        r.final_loss = NAN;
      }
      results[size_t(i)] = std::move(r);
      if (on_done) {
        std::lock_guard<std::mutex> lock(done_mutex);
        on_done(i, results[size_t(i)]);
      }
    }
  };
  const int n = std::max(1, std::min<int>(threads, int(inputs.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return results;
}

}  // namespace fs
