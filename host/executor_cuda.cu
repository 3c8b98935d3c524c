// The CUDA executor: runs in flight live in device slots across slices, one batch of slots per shape
// (sizes, optimiser, precision, record capacity), each batch on its own stream so shapes run at once (a
// batch, its slices and its kernels: host/executor_cuda_batch.cuh). While the kernels run, the host's
// threads (a WorkerPool) finish the runs the last slice handed back and draw the next runs' data and
// initial parameters (host/staging.h: the same code and streams as the CPU executor, so both backends
// start from the same bits).
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <thread>

#include "host/cuda_check.cuh"
#include "host/executor_cuda.h"
#include "host/executor_cuda_batch.h"
#include "host/staging.h"
#include "host/util.h"
#include "host/worker_pool.h"
#include "kernels/models.h"

namespace fs {

bool cuda_compiled() { return true; }

CudaDeviceInfo cuda_probe(int device) {
  CudaDeviceInfo info;
  info.device = device;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    info.reason = std::string("no usable CUDA device: ") + cudaGetErrorString(err);
    cudaGetLastError();
    return info;
  }
  if (count <= device) {
    info.reason = count == 0 ? "no CUDA device present" : "CUDA device " + std::to_string(device) + " not present";
    return info;
  }
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    info.reason = "cannot read the properties of CUDA device " + std::to_string(device);
    return info;
  }
  info.available = true;
  info.name = prop.name;
  info.sm_count = prop.multiProcessorCount;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.global_mem = prop.totalGlobalMem;
  info.smem_per_block_optin = int(prop.sharedMemPerBlockOptin);
  return info;
}

namespace {

using Clock = std::chrono::steady_clock;

template <typename Model>
class CudaExecutor final : public Executor {
 public:
  CudaExecutor(const ModelEntry& entry, const CudaOptions& opt)
      : info_(entry.info),
        opt_(opt),
        pool_(opt.host_threads > 0 ? opt.host_threads : int(std::max(1u, std::thread::hardware_concurrency()))) {
    dev_ = cuda_probe(opt.device);
    if (!dev_.available) throw RuntimeError("--backend cuda: " + dev_.reason);
    FS_CUDA_CHECK(cudaSetDevice(opt.device));
  }

  bool advance(double seconds, RunSource& source, std::vector<FinishedRun>& done) override {
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    const double target = std::min(seconds, 0.25);
    for (;;) {
      // Nothing in flight to overlap with: enough runs to fill a batch's slots, drawn at once.
      if (!source_empty_ && in_flight() == 0 && waiting() == 0) host_work(source, slots_per_batch(), done);
      if (in_flight() == 0 && waiting() == 0) break;
      for (auto& [k, b] : batches_) b->launch(target);
      // While the kernels run, the host finishes the runs the last slice handed back and draws the runs
      // for the slots still free and for those this slice will free (free_slots() counts the runs
      // already waiting against them, so the host never holds more than that).
      long want = prefetch_;
      for (const auto& [k, b] : batches_) want += b->free_slots();
      host_work(source, std::max(0L, want), done);
      for (auto& [k, b] : batches_) b->harvest(returned_, steps_taken, kernel_s);
      prefetch_ = std::max(prefetch_, long(returned_.size()));
      if (Clock::now() >= deadline || (stop && *stop)) break;
    }
    host_work(source, 0, done);
    return in_flight() > 0 || waiting() > 0 || !source_empty_;
  }

  void save(std::vector<SavedRun>& out) override {
    for (auto& [k, b] : batches_) b->save(out, steps_taken);
  }

  long in_flight() const override {
    long n = 0;
    for (const auto& [k, b] : batches_) n += b->occupied();
    return n;
  }

 private:
  long waiting() const {
    long n = 0;
    for (const auto& [k, b] : batches_) n += b->waiting();
    return n;
  }

  // The host's work between a launch and its harvest, on the pool: the runs handed back finished, and up
  // to `n` runs claimed from the source, built and staged, each queued on its shape's batch (in the
  // source's order, so slots fill as on one thread). A run that cannot be staged is finished as failed.
  void host_work(RunSource& source, long n, std::vector<FinishedRun>& done) {
    std::vector<PendingRun> pending;
    while (long(pending.size()) < n && !source_empty_) {
      PendingRun p;
      if (source.claim(p))
        pending.push_back(std::move(p));
      else
        source_empty_ = true;
    }
    const long n_back = long(returned_.size()), n_new = long(pending.size());
    std::vector<FinishedRun> finished(static_cast<size_t>(n_back));
    std::vector<Staged<Model>> staged(static_cast<size_t>(n_new));
    pool_.for_each(n_back + n_new, [&](long i) {
      if (i < n_back) {
        finished[size_t(i)] = returned_[size_t(i)]->finish();
        if (encode) finished[size_t(i)].record = encode(finished[size_t(i)]);
      } else {
        PendingRun& p = pending[size_t(i - n_back)];
        source.build(p);
        staged[size_t(i - n_back)] = stage_run<Model>(std::move(p), info_);
      }
    });
    returned_.clear();
    for (auto& f : finished) done.push_back(std::move(f));
    for (auto& s : staged) {
      if (s.fp64)
        queue(std::move(*s.fp64));
      else if (s.fp32)
        queue(std::move(*s.fp32));
      else
        done.push_back(std::move(s.failed));
    }
  }

  // Runs of one shape share a batch; record capacity grows in powers of two so lengths can differ.
  template <typename Real>
  void queue(Prepared<Model, Real>&& pr) {
    const HostRun<Model, Real>& run = *pr.run;
    const Sizes& sz = run.sz;
    long cap = 1;
    while (cap < long(run.schedule.size())) cap *= 2;
    const int opt_words = opt_state_per_param(run.fc.opt.kind);
    const BatchKey key = {sz.n_theta, sz.n_fixed,      sz.n_idata,        sz.n_rdata,      sz.n_scratch,
                          sz.n_carry, sz.n_hot,        sz.n_obs,          long(opt_words), long(sizeof(Real)),
                          cap,        sz.n_table_rows, sz.n_table_fields, run.n_table()};
    auto it = batches_.find(key);
    if (it == batches_.end()) it = batches_.emplace(key, open_batch<Real>(sz, opt_words, cap, run.n_table())).first;
    static_cast<TypedBatch<Model, Real>*>(it->second.get())->enqueue(std::move(pr));
  }

  // Slots of a batch before the device's memory is counted: twice the warps the device holds at once.
  long slots_per_batch() const { return opt_.max_slots > 0 ? opt_.max_slots : std::max(1L, 2L * 32L * dev_.sm_count); }

  // A batch as large as the device allows: twice the resident blocks (so a freed block always finds a
  // run), within half the free memory; halved until the allocation succeeds.
  template <typename Real>
  std::unique_ptr<BatchBase> open_batch(const Sizes& sz, int opt_words, long max_records, long table_width) {
    size_t free_b = 0, total_b = 0;
    FS_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    const size_t per_slot = (size_t(sz.n_theta) * size_t(1 + opt_words) + size_t(sz.n_fixed + sz.n_rdata + sz.n_carry) +
                             size_t(max_records * sz.n_obs) + size_t(table_width)) *
                                sizeof(Real) * 2 +
                            size_t(max_records) * sizeof(long) * 2 + size_t(sz.n_idata) * sizeof(int) * 2 + 512;
    long slots = std::min<long>(slots_per_batch(), long(free_b / 2 / per_slot));
    for (; slots >= 1; slots /= 2) {
      try {
        return make_batch<Model, Real>({sz, opt_words, max_records, table_width, slots, opt_, dev_});
      } catch (const RuntimeError& e) {
        cudaGetLastError();  // an out-of-memory error is not sticky: try with half the slots
        if (std::string(e.what()).find("out of memory") == std::string::npos) throw;
      }
    }
    throw RuntimeError("CUDA executor: not enough device memory for one run of this shape (" +
                       std::to_string(per_slot) + " bytes)");
  }

  const ModelInfo& info_;
  CudaOptions opt_;
  CudaDeviceInfo dev_;
  WorkerPool pool_;
  // A batch's shape: its sizes, optimiser words, precision, record capacity and table. Numbers, not text:
  // the loop thread looks up every run staged, 10^5 of them in a sweep of tiny runs.
  using BatchKey = std::array<long, 14>;
  std::map<BatchKey, std::unique_ptr<BatchBase>> batches_;
  std::vector<std::unique_ptr<ReturnedRun>> returned_;  // handed back by the last slice, not yet finished
  bool source_empty_ = false;
  long prefetch_ = 0;  // the most runs one slice has handed back
};

}  // namespace

std::unique_ptr<Executor> make_cuda_executor(const ModelEntry& entry, const CudaOptions& opt) {
#define FS_DISPATCH(M) \
  if (entry.info.name == M::kName) return std::make_unique<CudaExecutor<M>>(entry, opt);
  FLOWSWEEP_MODELS(FS_DISPATCH)
#undef FS_DISPATCH
  throw RuntimeError("CUDA executor: no kernels for model " + entry.info.name);
}

std::vector<RunResult> execute_cuda(const ModelEntry& entry, const std::vector<RunInput>& inputs,
                                    const CudaOptions& opt,
                                    const std::function<void(long, const RunResult&)>& on_done) {
  auto ex = make_cuda_executor(entry, opt);
  return execute_all(*ex, inputs, on_done);
}

}  // namespace fs
