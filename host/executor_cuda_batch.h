// A batch: the device slots of the runs of one shape (sizes, optimiser, precision, record capacity) and the
// stream their slices run on. Only host types cross this header: the executor (executor_cuda.cu) holds
// batches through it, and the batches with their kernels are compiled apart, in the build parts'
// translation units (executor_cuda_batch.cuh, host/build_parts.h).
#pragma once

#include <atomic>
#include <memory>
#include <type_traits>
#include <vector>

#include "host/build_parts.h"
#include "host/executor_cuda.h"
#include "host/staging.h"

namespace fs {

class BatchBase {
 public:
  virtual ~BatchBase() = default;
  virtual long free_slots() const = 0;
  virtual long occupied() const = 0;
  virtual long waiting() const = 0;
  virtual void launch(double target_s) = 0;  // place waiting runs, start a slice (asynchronous)
  // Waits for the slice and hands back the runs that finished, to be finished on the host.
  // The slice's kernel time is added to kernel_s.
  virtual void harvest(std::vector<std::unique_ptr<ReturnedRun>>& returned, std::atomic<long>& steps_taken,
                       double& kernel_s) = 0;
  virtual void save(std::vector<SavedRun>& out, std::atomic<long>& steps_taken) = 0;
};

// A batch of one model and precision: the executor queues its staged runs here.
template <typename Model, typename Real>
class TypedBatch : public BatchBase {
 public:
  virtual void enqueue(Prepared<Model, Real>&& p) = 0;
};

// What a batch is opened with: the shape, and the device and options it is sized for.
struct BatchArgs {
  Sizes sz;
  int opt_words = 0;
  long max_records = 0;  // record capacity of a slot
  long table_width = 0;  // FlowBuffers::table words of a slot
  long slots = 0;
  CudaOptions opt;
  CudaDeviceInfo dev;
};

// A batch of pair `pair`, which part K holds (defined in executor_cuda_batch.cuh). Throws RuntimeError
// when the device cannot hold it.
template <int K>
std::unique_ptr<BatchBase> make_batch_in_part(int pair, const BatchArgs& args);

template <typename Model, typename Real>
std::unique_ptr<TypedBatch<Model, Real>> make_batch(const BatchArgs& args) {
  constexpr int pair = model_pair<Model, Real>();
  std::unique_ptr<BatchBase> b = make_batch_in_part<pair % kBuildParts>(pair, args);
  return std::unique_ptr<TypedBatch<Model, Real>>(static_cast<TypedBatch<Model, Real>*>(b.release()));
}

}  // namespace fs
