// The CUDA executor: groups runs by shape, draws their data and initial parameters on the host (the same
// code and streams as the CPU executor), and trains each group with the persistent batch kernel.
#include <algorithm>
#include <map>

#include "host/executor_cuda.h"
#include "host/host_run.h"
#include "host/util.h"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/flow_kernel.cuh"
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

using OnDone = std::function<void(long, const RunResult&)>;

// Trains the runs `idx` of `inputs` (one shape) in one launch and hands each result to `emit`.
template <typename Model, typename Real>
void launch_group(const ModelInfo& info, const std::vector<RunInput>& inputs, const std::vector<long>& idx,
                  const CudaOptions& opt, const CudaDeviceInfo& dev, const std::function<void(long, RunResult)>& emit) {
  const long R = long(idx.size());
  std::vector<HostRun<Model, Real>> runs;
  runs.reserve(static_cast<size_t>(R));
  for (long i : idx) runs.emplace_back(inputs[size_t(i)], info);
  const Sizes sz = runs[0].sz;
  const int opt_words = opt_state_per_param(runs[0].fc.opt.kind);

  std::vector<typename Model::Config> h_cfg;
  std::vector<FlowConfig> h_fc;
  std::vector<int> h_idata;
  std::vector<Real> h_rdata, h_theta, h_fixed;
  std::vector<long> h_series_offset, h_schedule, h_schedule_offset, h_n_records;
  long series_words = 0;
  for (auto& r : runs) {
    h_cfg.push_back(r.cfg);
    h_fc.push_back(r.fc);
    h_idata.insert(h_idata.end(), r.idata.begin(), r.idata.end());
    h_rdata.insert(h_rdata.end(), r.rdata.begin(), r.rdata.end());
    h_theta.insert(h_theta.end(), r.theta.begin(), r.theta.end());
    h_fixed.insert(h_fixed.end(), r.fixed.begin(), r.fixed.end());
    h_series_offset.push_back(series_words);
    series_words += long(r.schedule.size()) * sz.n_obs;
    h_schedule_offset.push_back(long(h_schedule.size()));
    h_n_records.push_back(long(r.schedule.size()));
    h_schedule.insert(h_schedule.end(), r.schedule.begin(), r.schedule.end());
  }

  DeviceBuffer<typename Model::Config> d_cfg(static_cast<size_t>(R));
  DeviceBuffer<FlowConfig> d_fc(static_cast<size_t>(R));
  DeviceBuffer<int> d_idata(h_idata.size());
  DeviceBuffer<Real> d_rdata(h_rdata.size()), d_theta(h_theta.size()), d_fixed(h_fixed.size());
  DeviceBuffer<Real> d_series(static_cast<size_t>(series_words));
  DeviceBuffer<long> d_series_offset(static_cast<size_t>(R));
  DeviceBuffer<long> d_schedule(h_schedule.size()), d_schedule_offset(h_schedule_offset.size()),
      d_n_records(h_n_records.size());
  DeviceBuffer<FlowOutcome> d_outcome(static_cast<size_t>(R));
  DeviceBuffer<unsigned long long> d_next(1);
  d_cfg.upload(h_cfg.data(), h_cfg.size());
  d_fc.upload(h_fc.data(), h_fc.size());
  d_idata.upload(h_idata.data(), h_idata.size());
  d_rdata.upload(h_rdata.data(), h_rdata.size());
  d_theta.upload(h_theta.data(), h_theta.size());
  d_fixed.upload(h_fixed.data(), h_fixed.size());
  d_series_offset.upload(h_series_offset.data(), h_series_offset.size());
  d_schedule.upload(h_schedule.data(), h_schedule.size());
  d_schedule_offset.upload(h_schedule_offset.data(), h_schedule_offset.size());
  d_n_records.upload(h_n_records.data(), h_n_records.size());
  d_series.poison();
  d_outcome.poison();
  FS_CUDA_CHECK(cudaMemset(d_next.get(), 0, sizeof(unsigned long long)));

  const int threads = opt.threads_per_block;
  const size_t smem = flow_smem_bytes<Real>(sz, opt_words);
  const bool use_smem = !opt.force_global && smem <= size_t(dev.smem_per_block_optin);
  auto kernel = kernel_flow<Model, Real>;
  const size_t dyn_smem = use_smem ? smem : 0;
  if (use_smem)
    FS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(dyn_smem)));
  int per_sm = 0;
  FS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, dyn_smem));
  long slots = std::max(1L, long(per_sm) * dev.sm_count);
  if (opt.max_slots > 0) slots = std::min(slots, opt.max_slots);
  slots = std::min(slots, R);

  const long ws_words = flow_workspace_words(sz, opt_words);
  DeviceBuffer<Real> d_work(use_smem ? 0 : size_t(slots * ws_words));

  FlowBatch<Model, Real> b;
  b.n_runs = R;
  b.sz = sz;
  b.n_obs = sz.n_obs;
  b.opt_words = opt_words;
  b.use_smem = use_smem;
  b.cfg = d_cfg.get();
  b.fc = d_fc.get();
  b.idata = d_idata.get();
  b.rdata = d_rdata.get();
  b.theta = d_theta.get();
  b.fixed = d_fixed.get();
  b.series = d_series.get();
  b.series_offset = d_series_offset.get();
  b.schedule = d_schedule.get();
  b.schedule_offset = d_schedule_offset.get();
  b.n_records = d_n_records.get();
  b.outcome = d_outcome.get();
  b.workspace = d_work.get();
  b.workspace_words = ws_words;
  b.next_run = d_next.get();
  kernel<<<unsigned(slots), unsigned(threads), dyn_smem>>>(b);
  FS_CUDA_CHECK(cudaGetLastError());
  FS_CUDA_CHECK(cudaDeviceSynchronize());

  std::vector<FlowOutcome> h_out(static_cast<size_t>(R));
  std::vector<Real> h_series(static_cast<size_t>(series_words));
  d_outcome.download(h_out.data(), h_out.size());
  d_series.download(h_series.data(), h_series.size());
  d_theta.download(h_theta.data(), h_theta.size());
  for (long r = 0; r < R; ++r) {
    const FlowOutcome& o = h_out[size_t(r)];
    if ((o.status != kFlowOk && o.status != kFlowDiverged) || o.records < 0 || o.records > h_n_records[size_t(r)])
      throw RuntimeError("CUDA executor: run " + std::to_string(idx[size_t(r)]) + " left no outcome");
    emit(idx[size_t(r)], finish_run(runs[size_t(r)], inputs[size_t(idx[size_t(r)])], o,
                                    h_theta.data() + r * sz.n_theta, h_series.data() + h_series_offset[size_t(r)]));
  }
}

// Runs of one shape and precision can share a launch.
template <typename Model>
std::string shape_key(const RunInput& in, const ModelInfo& info) {
  const auto cfg = Model::configure(in.params);
  const Sizes sz = Model::sizes(cfg);
  const FlowConfig fc = train_config(in.params, in.sweep_seed, info);
  return std::to_string(sz.n_theta) + "/" + std::to_string(sz.n_fixed) + "/" + std::to_string(sz.n_idata) + "/" +
         std::to_string(sz.n_rdata) + "/" + std::to_string(sz.n_scratch) + "/" + std::to_string(int(fc.opt.kind)) +
         "/" + (fc.fp64 ? "64" : "32");
}

template <typename Model>
std::vector<RunResult> execute_model(const ModelEntry& entry, const std::vector<RunInput>& inputs,
                                     const CudaOptions& opt, const OnDone& on_done) {
  const CudaDeviceInfo dev = cuda_probe(opt.device);
  if (!dev.available) throw RuntimeError("--backend cuda: " + dev.reason);
  FS_CUDA_CHECK(cudaSetDevice(opt.device));

  std::map<std::string, std::vector<long>> groups;
  std::vector<std::string> order;
  for (long i = 0; i < long(inputs.size()); ++i) {
    const std::string key = shape_key<Model>(inputs[size_t(i)], entry.info);
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(i);
  }
  std::vector<RunResult> results(inputs.size());
  auto emit = [&](long i, RunResult r) {
    results[size_t(i)] = std::move(r);
    if (on_done) on_done(i, results[size_t(i)]);
  };
  for (const auto& key : order) {
    const auto& all = groups[key];
    const bool fp64 = inputs[size_t(all[0])].params.choice("precision") == "fp64";
    // Memory per run: initial and final parameters, data and series; keep a launch under a quarter
    // of the device's memory.
    const auto cfg = Model::configure(inputs[size_t(all[0])].params);
    const Sizes sz = Model::sizes(cfg);
    const size_t word = fp64 ? 8 : 4;
    size_t n_rec = 0;  // the most records of any run in the group (steps differ where lr and flow_time do)
    for (long i : all) n_rec = std::max(n_rec, record_schedule(train_config(inputs[size_t(i)].params, 0, entry.info)).size());
    const size_t per_run = (size_t(sz.n_theta + sz.n_fixed + sz.n_rdata) + n_rec * size_t(sz.n_obs)) * word +
                           n_rec * 8 + size_t(sz.n_idata) * 4 + 256;
    long chunk = std::max(1L, long(dev.global_mem / 4 / per_run));
    if (opt.max_runs_per_launch > 0) chunk = std::min(chunk, opt.max_runs_per_launch);
    for (size_t start = 0; start < all.size(); start += size_t(chunk)) {
      std::vector<long> idx(all.begin() + long(start), all.begin() + long(std::min(all.size(), start + size_t(chunk))));
      if (fp64)
        launch_group<Model, double>(entry.info, inputs, idx, opt, dev, emit);
      else
        launch_group<Model, float>(entry.info, inputs, idx, opt, dev, emit);
    }
  }
  return results;
}

}  // namespace

std::vector<RunResult> execute_cuda(const ModelEntry& entry, const std::vector<RunInput>& inputs,
                                    const CudaOptions& opt, const OnDone& on_done) {
#define FS_DISPATCH(M) \
  if (entry.info.name == M::kName) return execute_model<M>(entry, inputs, opt, on_done);
  FLOWSWEEP_MODELS(FS_DISPATCH)
#undef FS_DISPATCH
  throw RuntimeError("CUDA executor: no kernels for model " + entry.info.name);
}

}  // namespace fs
