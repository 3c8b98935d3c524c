// What both executors offer the sweep: runs in flight advanced a slice at a time. Between slices the
// host has control: it journals the runs that finished, reports progress, saves checkpoints and obeys a
// stop request, so no launch and no thread ever runs unbounded.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "host/registry.h"

namespace fs {

// A run handed to an executor: the caller's key for it, its input, and a checkpoint to go on from
// (empty: from its first step).
struct PendingRun {
  long key = 0;
  RunInput input;
  std::string checkpoint;
};

// Where an executor takes its next run, in two parts: claim() hands out the next run's key and
// checkpoint in the source's order (quick, under the source's lock), build() then fills in its input
// (the costly part) on whichever thread stages the run. Both are called from several threads at once.
class RunSource {
 public:
  virtual ~RunSource() = default;
  virtual bool claim(PendingRun& out) = 0;
  virtual void build(PendingRun&) const {}
};

struct FinishedRun {
  long key = 0;
  std::string id;
  RunResult result;
  std::string record;  // Executor::encode's bytes for it, or empty
};

struct SavedRun {
  long key = 0;
  std::string id;
  std::string checkpoint;
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Advances the runs in flight for about `seconds` of wall time (less when *stop turns nonzero),
  // starting runs from `source` as slots free up, and appends the runs that finished to `done`.
  // Returns false once nothing is in flight and the source is empty.
  virtual bool advance(double seconds, RunSource& source, std::vector<FinishedRun>& done) = 0;
  // A checkpoint of every run in flight; they stay in flight.
  virtual void save(std::vector<SavedRun>& out) = 0;
  virtual long in_flight() const = 0;
  // Where a stop request is read (a signal handler's flag); nullptr: none.
  const volatile int* stop = nullptr;
  // Steps taken by this executor (runs restored from a checkpoint count from their saved step).
  std::atomic<long> steps_taken{0};
  // When set, called for every run that finishes, on the thread that finished it (a worker, not the
  // caller of advance), into FinishedRun::record: the sweep's journal record, encoded off the loop.
  std::function<std::string(const FinishedRun&)> encode;
  // Seconds the device spent in flow kernels, summed over launches (a CUDA executor's batches run on
  // streams of their own and may overlap, so the sum can exceed the wall time); 0 on the CPU.
  double kernel_s = 0;
};

// Runs on `threads` threads of this machine, one run in flight per thread.
std::unique_ptr<Executor> make_cpu_executor(const ModelEntry& entry, int threads);

// A source over a list of inputs (key = position in the list).
class VectorSource : public RunSource {
 public:
  explicit VectorSource(const std::vector<RunInput>& inputs) : inputs_(inputs) {}
  bool claim(PendingRun& out) override;
  void build(PendingRun& out) const override { out.input = inputs_[size_t(out.key)]; }

 private:
  const std::vector<RunInput>& inputs_;
  long next_ = 0;
  std::mutex mutex_;
};

// Every input to the end on `ex`; results in input order, `on_done` after each.
std::vector<RunResult> execute_all(Executor& ex, const std::vector<RunInput>& inputs,
                                   const std::function<void(long index, const RunResult&)>& on_done = {});

}  // namespace fs
