// The CPU executor. Work to threads: each worker thread holds one run in flight (a team of one) and
// advances it in chunks of steps sized to a few milliseconds, so it notices the end of a slice or a
// stop request quickly; a finished run is finished (detectors, final configuration) on the same thread,
// and the thread takes the next run at once. Which thread runs which run never changes a number: each
// run draws only from its own streams.
#include "host/executor_cpu.h"

#include <chrono>
#include <exception>
#include <mutex>
#include <thread>

namespace fs {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxFinishedPerSlice = 4096;

class CpuExecutor final : public Executor {
 public:
  CpuExecutor(const ModelEntry& entry, int threads) : entry_(entry), slots_(size_t(std::max(1, threads))) {}

  bool advance(double seconds, RunSource& source, std::vector<FinishedRun>& done) override {
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    std::atomic<bool> source_empty{false};
    auto worker = [&](Slot& slot) {
      for (;;) {
        if (!slot.run) {
          if (source_empty || (stop && *stop)) return;
          PendingRun p;
          if (!source.claim(p)) {
            source_empty = true;
            return;
          }
          source.build(p);
          slot.key = p.key;
          slot.input = std::move(p.input);
          try {
            slot.run = entry_.start(slot.input);
            if (!p.checkpoint.empty()) slot.run->restore(p.checkpoint);
          } catch (const std::exception& e) {
            slot.run.reset();
            emit(done, slot, RunResult::failure(e.what()));
            continue;
          }
        }
        const auto t0 = Clock::now();
        bool finished = false;
        const long from = slot.run->step();
        try {
          finished = slot.run->advance(slot.chunk);
          steps_taken += slot.run->step() - from;
        } catch (const std::exception& e) {
          slot.run.reset();
          emit(done, slot, RunResult::failure(e.what()));
          continue;
        }
        const auto t1 = Clock::now();
        // Chunks of 2 to 20 ms: short enough to stop promptly, long enough that the clock costs nothing.
        const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
        if (!finished && ms < 2 && slot.chunk < (1L << 30)) slot.chunk *= 2;
        if (ms > 20 && slot.chunk > 1) slot.chunk /= 2;
        if (finished) {
          RunResult r;
          try {
            r = slot.run->finish();
          } catch (const std::exception& e) {
            r = RunResult::failure(e.what());
          }
          slot.run.reset();
          // A slice also ends after a bounded number of finished runs, so the host's memory does not
          // grow with the rate at which runs finish.
          if (emit(done, slot, std::move(r)) >= kMaxFinishedPerSlice) return;
          continue;
        }
        if (t1 >= deadline || (stop && *stop)) return;
      }
    };
    // What escapes a run's own try blocks (the source, memory for a finished run) would end the process
    // from a worker thread; it is carried to this one and thrown here, after every worker has stopped.
    std::exception_ptr error;
    std::mutex error_mutex;
    auto guarded = [&](Slot& slot) {
      try {
        worker(slot);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < slots_.size(); ++t) pool.emplace_back(guarded, std::ref(slots_[t]));
    guarded(slots_[0]);
    for (auto& t : pool) t.join();
    if (error) std::rethrow_exception(error);
    return in_flight() > 0 || !source_empty;
  }

  void save(std::vector<SavedRun>& out) override {
    for (auto& s : slots_)
      if (s.run) out.push_back({s.key, s.input.id, s.run->save()});
  }

  long in_flight() const override {
    long n = 0;
    for (const auto& s : slots_) n += s.run != nullptr;
    return n;
  }

 private:
  struct Slot {
    long key = 0;
    RunInput input;
    std::unique_ptr<LiveRun> run;
    long chunk = 1;
  };

  size_t emit(std::vector<FinishedRun>& done, const Slot& slot, RunResult r) {
    FinishedRun f{slot.key, slot.input.id, std::move(r), {}};
    if (encode) f.record = encode(f);
    std::lock_guard<std::mutex> lock(done_mutex_);
    done.push_back(std::move(f));
    return done.size();
  }

  const ModelEntry& entry_;
  std::vector<Slot> slots_;
  std::mutex done_mutex_;
};

}  // namespace

std::unique_ptr<Executor> make_cpu_executor(const ModelEntry& entry, int threads) {
  return std::make_unique<CpuExecutor>(entry, threads);
}

bool VectorSource::claim(PendingRun& out) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (next_ >= long(inputs_.size())) return false;
  out.key = next_;
  out.checkpoint.clear();
  ++next_;
  return true;
}

std::vector<RunResult> execute_all(Executor& ex, const std::vector<RunInput>& inputs,
                                   const std::function<void(long, const RunResult&)>& on_done) {
  std::vector<RunResult> results(inputs.size());
  VectorSource source(inputs);
  std::vector<FinishedRun> done;
  for (bool more = true; more;) {
    more = ex.advance(1.0, source, done);
    for (auto& f : done) {
      results[size_t(f.key)] = std::move(f.result);
      if (on_done) on_done(f.key, results[size_t(f.key)]);
    }
    done.clear();
  }
  return results;
}

std::vector<RunResult> execute_cpu(const ModelEntry& entry, const std::vector<RunInput>& inputs, int threads,
                                   const std::function<void(long, const RunResult&)>& on_done) {
  const int n = std::max(1, std::min<int>(threads, int(inputs.size())));
  auto ex = make_cpu_executor(entry, n);
  return execute_all(*ex, inputs, on_done);
}

}  // namespace fs
