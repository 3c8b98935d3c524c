// A batch's device side: its slots, the slice kernel that advances them and the copies in and out.
//
// One slice of one batch: the runs prepared on the host are scattered into free slots and appended to
// the active list; the slice kernel advances every active run by up to `budget` steps; a flag kernel and
// CUB's DevicePartition split the active list into finished and running slots on the device; only the
// finished runs' parameters, records and states are gathered and copied back. The budget is sized from
// the measured time of the last slice so that a slice takes a fraction of a second.
//
// Included only by the translation units that CMakeLists.txt writes: build part K compiles the batches of
// the (model, precision) pairs u with u % kBuildParts == K, every kernel of a pair with its host code.
#pragma once

#include <cub/device/device_partition.cuh>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "host/cuda_check.cuh"
#include "host/executor_cuda_batch.h"
#include "kernels/cuda/flow_kernel.cuh"

namespace fs {
namespace {

constexpr int kCopyThreads = 256;

unsigned copy_blocks(long n) { return unsigned(std::max(1L, std::min(4096L, (n + kCopyThreads - 1) / kCopyThreads))); }

// A stream that is destroyed with its owner.
class DeviceStream {
 public:
  DeviceStream() { FS_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~DeviceStream() { FS_CUDA_CHECK_LOG(cudaStreamDestroy(s_)); }
  DeviceStream(const DeviceStream&) = delete;
  DeviceStream& operator=(const DeviceStream&) = delete;
  operator cudaStream_t() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

class DeviceEvent {
 public:
  DeviceEvent() { FS_CUDA_CHECK(cudaEventCreate(&e_)); }
  ~DeviceEvent() { FS_CUDA_CHECK_LOG(cudaEventDestroy(e_)); }
  DeviceEvent(const DeviceEvent&) = delete;
  DeviceEvent& operator=(const DeviceEvent&) = delete;
  operator cudaEvent_t() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

template <typename Model, typename Real>
class Batch final : public TypedBatch<Model, Real> {
 public:
  using Config = typename Model::Config;

  Batch(const Sizes& sz, int opt_words, long max_records, long table_width, long slots, const CudaOptions& opt,
        const CudaDeviceInfo& dev)
      : sz_(sz),
        opt_words_(opt_words),
        n_opt_(sz.n_theta * opt_words),
        max_records_(max_records),
        table_w_(table_width),
        S_(slots),
        budget_(opt.max_steps_per_slice > 0 ? opt.max_steps_per_slice : 16),
        fixed_budget_(opt.max_steps_per_slice > 0) {
    const long warps = kFlowBlockThreads / kTeamLanes;
    auto static_smem = [](auto kernel) {
      cudaFuncAttributes attr{};
      FS_CUDA_CHECK(cudaFuncGetAttributes(&attr, kernel));
      return attr.sharedSizeBytes;  // counts against the same opt-in limit as the dynamic part
    };
    const size_t optin = size_t(dev.smem_per_block_optin);
    // The most of a run on chip that the options allow and a block of `teams` runs fits.
    auto placement_for = [&](long teams, size_t static_bytes) {
      const Placement most = opt.placement == CudaPlacement::kAuto   ? Placement::kRunOnChip
                             : opt.placement == CudaPlacement::kHot  ? Placement::kHotOnChip
                             : opt.placement == CudaPlacement::kWork ? Placement::kWorkOnChip
                                                                     : Placement::kGlobal;
      for (Placement p : {Placement::kRunOnChip, Placement::kHotOnChip, Placement::kWorkOnChip}) {
        if (int(p) > int(most) || (p == Placement::kHotOnChip && sz.n_hot == 0)) continue;
        if (flow_smem_bytes<Real>(sz, opt_words, p) * size_t(teams) + static_bytes <= optin) return p;
      }
      return Placement::kGlobal;
    };
    const bool warps_fit =
        placement_for(warps, static_smem(kernel_flow_slice<Model, Real, WarpTeam>)) == Placement::kRunOnChip;
    auto shape_for = [&](CudaTeam team) {
      LaunchShape l;
      l.kernel = team == CudaTeam::kWarp    ? kernel_flow_slice<Model, Real, WarpTeam>
                 : team == CudaTeam::kBlock ? kernel_flow_slice<Model, Real, BlockTeam>
                                            : kernel_flow_slice<Model, Real, SoloTeam>;
      l.teams_per_block = team == CudaTeam::kWarp ? warps : team == CudaTeam::kBlock ? 1 : kFlowBlockThreads;
      const size_t static_bytes = static_smem(l.kernel);
      l.placement = placement_for(l.teams_per_block, static_bytes);
      l.smem_per_team = flow_smem_bytes<Real>(sz, opt_words, l.placement);
      l.dyn_smem = l.smem_per_team * size_t(l.teams_per_block);
      // The limit belongs to the kernel function, which every batch of this model, precision and team
      // shares: a batch of a smaller shape must not lower it under a larger one's launch, so it is raised
      // to the most the device allows, and each launch asks for its own size.
      if (l.placement != Placement::kGlobal)
        FS_CUDA_CHECK(
            cudaFuncSetAttribute(l.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(optin - static_bytes)));
      int per_sm = 0;
      FS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, l.kernel, kFlowBlockThreads, l.dyn_smem));
      // No more teams than slots: a team's global workspace is allocated whether or not a run is there.
      l.max_blocks =
          std::max(1L, std::min(long(per_sm) * dev.sm_count, (S_ + l.teams_per_block - 1) / l.teams_per_block));
      return l;
    };
    // auto: where a block's runs fit in shared memory, a warp per run when a slice has runs enough to fill
    // the warps that can be resident, and a block per run below that, so that a few hundred runs still
    // reach every SM (H100, 2026-11-24, cooccurrence d=16 m=m1=32: a block 25% faster at 256 runs, a warp
    // 8% faster at 4096). Which team runs a slice never changes a bit (kernels/team.h).
    // A run of fewer parameters than a warp has lanes gets a thread (value_softmax d=n=4, 10^5 runs: 157
    // against 127 M run-steps/s on a warp in fp32, 126 against 97 M in fp64).
    if (opt.team == CudaTeam::kAuto && sz.n_theta < kTeamLanes) {
      many_ = few_ = shape_for(CudaTeam::kThread);
    } else if (opt.team == CudaTeam::kAuto && warps_fit) {
      many_ = shape_for(CudaTeam::kWarp);
      few_ = shape_for(CudaTeam::kBlock);
    } else {
      many_ = few_ = shape_for(opt.team == CudaTeam::kAuto ? CudaTeam::kBlock : opt.team);
    }

    d_cfg_ = DeviceBuffer<Config>(size_t(S_));
    d_fc_ = DeviceBuffer<FlowConfig>(size_t(S_));
    d_idata_ = DeviceBuffer<int>(size_t(S_ * sz.n_idata));
    d_rdata_ = DeviceBuffer<Real>(size_t(S_ * sz.n_rdata));
    d_theta_ = DeviceBuffer<Real>(size_t(S_ * sz.n_theta));
    d_fixed_ = DeviceBuffer<Real>(size_t(S_ * sz.n_fixed));
    d_opt_ = DeviceBuffer<Real>(size_t(S_ * n_opt_));
    d_carry_ = DeviceBuffer<Real>(size_t(S_ * sz.n_carry));
    d_series_ = DeviceBuffer<Real>(size_t(S_ * max_records_ * sz.n_obs));
    d_table_ = DeviceBuffer<Real>(size_t(S_ * table_w_));
    d_schedule_ = DeviceBuffer<long>(size_t(S_ * max_records_));
    d_n_records_ = DeviceBuffer<long>(size_t(S_));
    d_state_ = DeviceBuffer<FlowState>(size_t(S_));
    d_active_ = DeviceBuffer<long>(size_t(S_));
    d_parted_ = DeviceBuffer<long>(size_t(S_));
    d_flags_ = DeviceBuffer<char>(size_t(S_));
    d_n_finished_ = DeviceBuffer<int>(1);
    d_next_ = DeviceBuffer<unsigned long long>(1);
    long global_teams = 0;
    for (const LaunchShape* l : {&many_, &few_})
      if (l->placement != Placement::kRunOnChip)
        global_teams = std::max(global_teams, l->max_blocks * l->teams_per_block);
    d_work_ = DeviceBuffer<Real>(size_t(global_teams * flow_workspace_words(sz)));
    size_t cub_bytes = 0;
    FS_CUDA_CHECK(cub::DevicePartition::Flagged(nullptr, cub_bytes, d_active_.get(), d_flags_.get(), d_parted_.get(),
                                                d_n_finished_.get(), int(S_), stream_));
    d_cub_ = DeviceBuffer<unsigned char>(std::max<size_t>(1, cub_bytes));
    // One staging area for rows moving in or out, as large as the largest slot array.
    const size_t widest = std::max({size_t(sz.n_idata) * sizeof(int), size_t(sz.n_rdata + sz.n_fixed) * sizeof(Real),
                                    size_t(n_opt_ + sz.n_theta + sz.n_carry) * sizeof(Real),
                                    size_t(max_records_ * sz.n_obs) * sizeof(Real), size_t(table_w_) * sizeof(Real),
                                    size_t(max_records_) * sizeof(long),
                                    sizeof(Config) + sizeof(FlowConfig) + sizeof(FlowState) + sizeof(long)});
    d_stage_ = DeviceBuffer<unsigned char>(size_t(S_) * widest + 64);
    d_idx_ = DeviceBuffer<long>(size_t(S_));
    // Every slot poisoned: a value no run wrote reads as NaN (or -1), never as a plausible number. On this
    // batch's stream, so the poison is ordered before the first runs are scattered in.
    poison(d_series_);
    poison(d_table_);
    poison(d_theta_);
    poison(d_opt_);
    poison(d_state_);
    FS_CUDA_CHECK(cudaStreamSynchronize(stream_));
    slots_.resize(size_t(S_));
    for (long s = S_ - 1; s >= 0; --s) free_.push_back(s);
  }

  void enqueue(Prepared<Model, Real>&& p) override { waiting_.push_back(std::move(p)); }
  long free_slots() const override { return long(free_.size()) - long(waiting_.size()); }
  long occupied() const override { return S_ - long(free_.size()); }
  long waiting() const override { return long(waiting_.size()); }

  void launch(double target_s) override {
    place();
    launched_ = n_active_ > 0;
    if (!launched_) return;
    SliceBatch<Model, Real> b;
    b.sz = sz_;
    b.n_obs = sz_.n_obs;
    b.opt_words = opt_words_;
    const LaunchShape& l = n_active_ >= many_.max_blocks * many_.teams_per_block ? many_ : few_;
    b.placement = l.placement;
    b.cfg = d_cfg_.get();
    b.fc = d_fc_.get();
    b.idata = d_idata_.get();
    b.rdata = d_rdata_.get();
    b.theta = d_theta_.get();
    b.fixed = d_fixed_.get();
    b.opt_state = d_opt_.get();
    b.carry = d_carry_.get();
    b.series = d_series_.get();
    b.table = d_table_.get();
    b.table_width = table_w_;
    b.schedule = d_schedule_.get();
    b.n_records = d_n_records_.get();
    b.max_records = max_records_;
    b.state = d_state_.get();
    b.active = d_active_.get();
    b.n_active = n_active_;
    b.budget = budget_;
    b.workspace = d_work_.get();
    b.workspace_words = flow_workspace_words(sz_);
    b.next = d_next_.get();
    target_s_ = target_s;
    FS_CUDA_CHECK(cudaMemsetAsync(d_next_.get(), 0, sizeof(unsigned long long), stream_));
    FS_CUDA_CHECK(cudaEventRecord(start_, stream_));
    const unsigned blocks = unsigned(std::min((n_active_ + l.teams_per_block - 1) / l.teams_per_block, l.max_blocks));
    l.kernel<<<blocks, unsigned(kFlowBlockThreads), l.dyn_smem, stream_>>>(b, l.smem_per_team);
    FS_CUDA_CHECK(cudaGetLastError());
    FS_CUDA_CHECK(cudaEventRecord(stop_, stream_));
    // The compaction: flags, then finished slots first and running ones after them.
    kernel_finished_flags<<<copy_blocks(n_active_), kCopyThreads, 0, stream_>>>(d_state_.get(), d_active_.get(),
                                                                                n_active_, d_flags_.get());
    FS_CUDA_CHECK(cudaGetLastError());
    size_t cub_bytes = d_cub_.size();
    FS_CUDA_CHECK(cub::DevicePartition::Flagged(d_cub_.get(), cub_bytes, d_active_.get(), d_flags_.get(),
                                                d_parted_.get(), d_n_finished_.get(), int(n_active_), stream_));
  }

  void harvest(std::vector<std::unique_ptr<ReturnedRun>>& returned, std::atomic<long>& steps_taken,
               double& kernel_s) override {
    if (!launched_) return;
    int nf = 0;
    FS_CUDA_CHECK(cudaMemcpyAsync(&nf, d_n_finished_.get(), sizeof nf, cudaMemcpyDeviceToHost, stream_));
    FS_CUDA_CHECK(cudaStreamSynchronize(stream_));
    float ms = 0;
    FS_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    kernel_s += double(ms) * 1e-3;
    if (!fixed_budget_) {  // the next slice's budget from this one's time, within a factor of four
      const double scale = ms > 0 ? target_s_ * 1e3 / double(ms) : 4.0;
      budget_ = std::max(1L, long(double(budget_) * std::min(4.0, std::max(0.25, scale))));
    }
    const long n_fin = nf;
    if (n_fin < 0 || n_fin > n_active_)
      throw RuntimeError("CUDA executor: the compaction returned " + std::to_string(n_fin));
    // Running slots come after the finished ones (in reverse order): they become the active list.
    const long running = n_active_ - n_fin;
    if (running > 0)
      FS_CUDA_CHECK(cudaMemcpyAsync(d_active_.get(), d_parted_.get() + n_fin, size_t(running) * sizeof(long),
                                    cudaMemcpyDeviceToDevice, stream_));
    if (n_fin > 0) {
      std::vector<long> slots(static_cast<size_t>(n_fin));
      FS_CUDA_CHECK(cudaMemcpyAsync(slots.data(), d_parted_.get(), size_t(n_fin) * sizeof(long), cudaMemcpyDeviceToHost,
                                    stream_));
      FS_CUDA_CHECK(cudaStreamSynchronize(stream_));
      std::vector<Real> theta, series, table;
      std::vector<FlowState> states;
      gather(slots, d_theta_.get(), sz_.n_theta, theta);
      gather(slots, d_series_.get(), max_records_ * sz_.n_obs, series);
      gather(slots, d_table_.get(), table_w_, table);
      gather(slots, d_state_.get(), 1, states);
      for (long r = 0; r < n_fin; ++r) {
        Slot& sl = slots_[size_t(slots[size_t(r)])];
        const FlowOutcome o = outcome_of(states[size_t(r)]);
        steps_taken += o.steps - sl.counted;
        if ((o.status != kFlowOk && o.status != kFlowDiverged) || o.records < 0 ||
            o.records > long(sl.run->schedule.size()))
          throw RuntimeError("CUDA executor: run " + sl.input.id + " left no outcome");
        returned.push_back(std::make_unique<Returned<Model, Real>>(
            sl.key, std::move(sl.input), std::move(sl.run), o, theta.data() + r * sz_.n_theta,
            series.data() + r * max_records_ * sz_.n_obs, max_records_ * sz_.n_obs, table.data() + r * table_w_,
            table_w_));
        free_.push_back(slots[size_t(r)]);
      }
    }
    n_active_ = running;
    launched_ = false;
  }

  void save(std::vector<SavedRun>& out, std::atomic<long>& steps_taken) override {
    std::vector<long> slots;
    for (long s = 0; s < S_; ++s)
      if (slots_[size_t(s)].run) slots.push_back(s);
    if (!slots.empty()) {
      std::vector<Real> theta, opt, carry, series, table;
      std::vector<FlowState> states;
      gather(slots, d_theta_.get(), sz_.n_theta, theta);
      gather(slots, d_opt_.get(), n_opt_, opt);
      gather(slots, d_carry_.get(), sz_.n_carry, carry);
      gather(slots, d_series_.get(), max_records_ * sz_.n_obs, series);
      gather(slots, d_table_.get(), table_w_, table);
      gather(slots, d_state_.get(), 1, states);
      for (size_t r = 0; r < slots.size(); ++r) {
        Slot& sl = slots_[size_t(slots[r])];
        steps_taken += states[r].step - sl.counted;
        sl.counted = states[r].step;
        out.push_back(
            {sl.key, sl.input.id,
             encode_checkpoint(states[r], theta.data() + r * size_t(sz_.n_theta), sz_.n_theta,
                               opt.data() + r * size_t(n_opt_), n_opt_, carry.data() + r * size_t(sz_.n_carry),
                               sz_.n_carry, series.data() + r * size_t(max_records_ * sz_.n_obs), sz_.n_obs,
                               table.data() + r * size_t(table_w_), table_w_)});
      }
    }
    for (const auto& w : waiting_)
      if (!w.checkpoint.empty()) out.push_back({w.key, w.input.id, w.checkpoint});
  }

 private:
  struct Slot {
    long key = 0;
    long counted = 0;  // the step up to which its steps are counted
    RunInput input;
    std::unique_ptr<HostRun<Model, Real>> run;
  };

  template <typename T>
  void poison(DeviceBuffer<T>& b) {
    if (b.size()) FS_CUDA_CHECK(cudaMemsetAsync(b.get(), 0xff, b.size() * sizeof(T), stream_));
  }

  // Rows of the given slots, packed, copied to the host. (No allocation here: a cudaFree would wait
  // for every other batch's kernel.)
  template <typename T>
  void gather(const std::vector<long>& slots, const T* d_src, long width, std::vector<T>& out) {
    const long n = long(slots.size());
    out.resize(size_t(n * width));
    if (n * width == 0) return;
    FS_CUDA_CHECK(
        cudaMemcpyAsync(d_idx_.get(), slots.data(), slots.size() * sizeof(long), cudaMemcpyHostToDevice, stream_));
    T* d_dst = reinterpret_cast<T*>(d_stage_.get());
    kernel_gather_rows<T><<<copy_blocks(n * width), kCopyThreads, 0, stream_>>>(d_dst, d_src, d_idx_.get(), n, width);
    FS_CUDA_CHECK(cudaGetLastError());
    FS_CUDA_CHECK(cudaMemcpyAsync(out.data(), d_dst, out.size() * sizeof(T), cudaMemcpyDeviceToHost, stream_));
    FS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  // Packed rows into the given slots.
  template <typename T>
  void scatter(const std::vector<T>& rows, T* d_dst, const long* d_slots, long n, long width) {
    if (n * width == 0) return;
    T* d_src = reinterpret_cast<T*>(d_stage_.get());
    FS_CUDA_CHECK(cudaMemcpyAsync(d_src, rows.data(), size_t(n * width) * sizeof(T), cudaMemcpyHostToDevice, stream_));
    kernel_scatter_rows<T><<<copy_blocks(n * width), kCopyThreads, 0, stream_>>>(d_dst, d_src, d_slots, n, width);
    FS_CUDA_CHECK(cudaGetLastError());
    // The staging area is reused by the next array: the host buffer must also outlive the copy.
    FS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  // Moves the waiting runs into free slots and appends them to the active list.
  void place() {
    const long n = std::min<long>(long(waiting_.size()), long(free_.size()));
    if (n == 0) return;
    std::vector<long> slots(static_cast<size_t>(n));
    std::vector<Config> cfg;
    std::vector<FlowConfig> fc;
    std::vector<int> idata;
    std::vector<Real> rdata, theta, fixed, opt, carry, series, table;
    std::vector<long> schedule, n_records;
    std::vector<FlowState> state;
    const Real nan = std::numeric_limits<Real>::quiet_NaN();
    for (long r = 0; r < n; ++r) {
      Prepared<Model, Real>& p = waiting_.front();
      const long s = free_.back();
      free_.pop_back();
      slots[size_t(r)] = s;
      HostRun<Model, Real>& run = *p.run;
      cfg.push_back(run.cfg);
      fc.push_back(run.fc);
      idata.insert(idata.end(), run.idata.begin(), run.idata.end());
      rdata.insert(rdata.end(), run.rdata.begin(), run.rdata.end());
      theta.insert(theta.end(), run.theta.begin(), run.theta.end());
      fixed.insert(fixed.end(), run.fixed.begin(), run.fixed.end());
      opt.insert(opt.end(), run.opt_state.begin(), run.opt_state.end());
      carry.insert(carry.end(), p.carry.begin(), p.carry.end());
      const size_t done_words = size_t(p.state.next_record * sz_.n_obs);
      series.insert(series.end(), run.series.begin(), run.series.begin() + long(done_words));
      series.resize(series.size() + size_t(max_records_ * sz_.n_obs) - done_words, nan);
      table.insert(table.end(), run.table.begin(), run.table.end());
      schedule.insert(schedule.end(), run.schedule.begin(), run.schedule.end());
      schedule.resize(size_t((r + 1) * max_records_), -1);
      n_records.push_back(long(run.schedule.size()));
      state.push_back(p.state);
      run.release_flow_buffers();  // the device holds them from here on
      Slot& sl = slots_[size_t(s)];
      sl.key = p.key;
      sl.counted = p.state.step;
      sl.input = std::move(p.input);
      sl.run = std::move(p.run);
      waiting_.pop_front();
    }
    FS_CUDA_CHECK(
        cudaMemcpyAsync(d_idx_.get(), slots.data(), size_t(n) * sizeof(long), cudaMemcpyHostToDevice, stream_));
    const long* d_slots = d_idx_.get();
    scatter(cfg, d_cfg_.get(), d_slots, n, 1);
    scatter(fc, d_fc_.get(), d_slots, n, 1);
    scatter(idata, d_idata_.get(), d_slots, n, sz_.n_idata);
    scatter(rdata, d_rdata_.get(), d_slots, n, sz_.n_rdata);
    scatter(theta, d_theta_.get(), d_slots, n, sz_.n_theta);
    scatter(fixed, d_fixed_.get(), d_slots, n, sz_.n_fixed);
    scatter(opt, d_opt_.get(), d_slots, n, n_opt_);
    scatter(carry, d_carry_.get(), d_slots, n, sz_.n_carry);
    scatter(series, d_series_.get(), d_slots, n, max_records_ * sz_.n_obs);
    scatter(table, d_table_.get(), d_slots, n, table_w_);
    scatter(schedule, d_schedule_.get(), d_slots, n, max_records_);
    scatter(n_records, d_n_records_.get(), d_slots, n, 1);
    scatter(state, d_state_.get(), d_slots, n, 1);
    FS_CUDA_CHECK(cudaMemcpyAsync(d_active_.get() + n_active_, slots.data(), size_t(n) * sizeof(long),
                                  cudaMemcpyHostToDevice, stream_));
    FS_CUDA_CHECK(cudaStreamSynchronize(stream_));
    n_active_ += n;
  }

  Sizes sz_;
  int opt_words_;
  long n_opt_, max_records_, table_w_, S_;
  long budget_;
  bool fixed_budget_;
  // One way to launch the slice kernel: the team, how many teams share a block, where runs' state lives.
  struct LaunchShape {
    void (*kernel)(SliceBatch<Model, Real>, size_t) = nullptr;
    long teams_per_block = 1;
    Placement placement = Placement::kGlobal;
    size_t smem_per_team = 0, dyn_smem = 0;
    long max_blocks = 1;  // blocks resident on the device at once, and no more teams than slots
  };
  // The shape for a slice whose runs fill every team that can be resident, and the one for fewer runs: the
  // same unless auto chooses per slice (a warp per run, and a block).
  LaunchShape many_, few_;
  DeviceStream stream_;
  DeviceEvent start_, stop_;
  DeviceBuffer<Config> d_cfg_;               // (S)
  DeviceBuffer<FlowConfig> d_fc_;            // (S)
  DeviceBuffer<int> d_idata_;                // (S, n_idata)
  DeviceBuffer<Real> d_rdata_;               // (S, n_rdata)
  DeviceBuffer<Real> d_theta_;               // (S, n_theta)
  DeviceBuffer<Real> d_fixed_;               // (S, n_fixed)
  DeviceBuffer<Real> d_opt_;                 // (S, n_theta * opt_words)
  DeviceBuffer<Real> d_carry_;               // (S, n_carry)
  DeviceBuffer<Real> d_series_;              // (S, max_records, n_obs)
  DeviceBuffer<Real> d_table_;               // (S, table_w): FlowBuffers::table
  DeviceBuffer<long> d_schedule_;            // (S, max_records)
  DeviceBuffer<long> d_n_records_;           // (S)
  DeviceBuffer<FlowState> d_state_;          // (S)
  DeviceBuffer<long> d_active_;              // (S): slots in flight, the first n_active_ valid
  DeviceBuffer<long> d_parted_;              // (S): the active list split, finished first
  DeviceBuffer<char> d_flags_;               // (S)
  DeviceBuffer<int> d_n_finished_;           // (1)
  DeviceBuffer<unsigned long long> d_next_;  // (1): the slice's work counter
  DeviceBuffer<Real> d_work_;                // (teams, workspace words) without shared memory
  DeviceBuffer<unsigned char> d_cub_;        // CUB's temporary storage
  DeviceBuffer<unsigned char> d_stage_;      // rows moving in or out
  DeviceBuffer<long> d_idx_;                 // (S): the slots those rows belong to
  std::vector<Slot> slots_;
  std::vector<long> free_;
  std::deque<Prepared<Model, Real>> waiting_;
  long n_active_ = 0;
  bool launched_ = false;
  double target_s_ = 0.2;
};

}  // namespace

template <int K>
std::unique_ptr<BatchBase> make_batch_in_part(int pair, const BatchArgs& args) {
#define FS_OPEN(M, R)                                                                                               \
  if constexpr (model_pair<M, R>() % kBuildParts == K) {                                                            \
    if (pair == model_pair<M, R>())                                                                                 \
      return std::make_unique<Batch<M, R>>(args.sz, args.opt_words, args.max_records, args.table_width, args.slots, \
                                           args.opt, args.dev);                                                     \
  }
#define FS_OPEN_BOTH(M) FS_OPEN(M, float) FS_OPEN(M, double)
  FLOWSWEEP_MODELS(FS_OPEN_BOTH)
#undef FS_OPEN_BOTH
#undef FS_OPEN
  throw std::logic_error("build part " + std::to_string(K) + " holds no pair " + std::to_string(pair));
}

}  // namespace fs
