// The models' entries, compiled in the translation units that CMakeLists.txt writes: part K makes the
// entries of the models whose number modulo kBuildParts is K (host/build_parts.h).
#pragma once

#include <type_traits>

#include "host/executor_cpu.h"
#include "host/model_entry.h"

namespace fs {
namespace {

// The model contract (kernels/model_api.h), checked when a model is registered: a missing or misspelt
// static is named here rather than deep inside a template instantiation.
template <typename T>
T& any();
#define FS_MODEL_PROVIDES(trait, ...)    \
  template <typename M, typename = void> \
  struct trait : std::false_type {};     \
  template <typename M>                  \
  struct trait<M, std::void_t<decltype(__VA_ARGS__)>> : std::true_type {};
FS_MODEL_PROVIDES(has_info, ModelInfo(M::info()))
FS_MODEL_PROVIDES(has_configure, typename M::Config(M::configure(any<const Params>())))
FS_MODEL_PROVIDES(has_sizes, Sizes(M::sizes(any<const typename M::Config>())))
FS_MODEL_PROVIDES(has_make_data, M::template make_data<double>(any<const typename M::Config>(), any<Stream>(),
                                                               any<int*>(), any<double*>()))
FS_MODEL_PROVIDES(has_init, M::template init<double>(any<const typename M::Config>(), any<Stream>(), any<const int*>(),
                                                     any<const double*>(), any<double*>(), any<double*>()))
FS_MODEL_PROVIDES(has_loss_grad,
                  double(M::template loss_grad<HostTeam, double>(any<const HostTeam>(), any<const typename M::Config>(),
                                                                 any<const StepContext>(), any<const int*>(),
                                                                 any<const double*>(), any<const double*>(),
                                                                 any<const double*>(), any<double*>(), any<double*>())))
FS_MODEL_PROVIDES(has_observe,
                  M::template observe<HostTeam, double>(any<const HostTeam>(), any<const typename M::Config>(),
                                                        any<const int*>(), any<const double*>(), any<const double*>(),
                                                        any<const double*>(), any<double*>(), any<double*>()))
FS_MODEL_PROVIDES(has_detect, M::template detect<double>(any<const typename M::Config>(), any<const double*>(),
                                                         any<const double*>(), any<long>(),
                                                         any<typename M::DetectState>(), any<long*>()))
FS_MODEL_PROVIDES(has_final_config, std::vector<double>(M::template final_config<double>(
                                        any<const typename M::Config>(), any<const FlowConfig>(), any<const double*>(),
                                        any<const double*>(), any<const double*>(), any<const Series>())))
FS_MODEL_PROVIDES(has_attention_table,
                  M::template attention_table<HostTeam, double>(any<const HostTeam>(), any<const typename M::Config>(),
                                                                any<const int*>(), any<const double*>(),
                                                                any<const double*>(), any<const double*>(),
                                                                any<double*>()))
#undef FS_MODEL_PROVIDES

template <typename Model>
void check_contract() {
  static_assert(std::is_base_of<ModelBase, Model>::value, "a model derives from fs::ModelBase (kernels/model_api.h)");
  static_assert(std::is_trivially_copyable<typename Model::Config>::value,
                "Model::Config must be plain data: it is copied to the device as bytes");
  static_assert(std::is_convertible<decltype(Model::kName), const char*>::value, "static constexpr const char* kName");
  static_assert(has_info<Model>::value, "static ModelInfo info()");
  static_assert(has_configure<Model>::value, "static Config configure(const Params&)");
  static_assert(has_sizes<Model>::value, "static Sizes sizes(const Config&)");
  static_assert(has_make_data<Model>::value, "template <Real> static void make_data(Config, Stream&, int*, Real*)");
  static_assert(has_init<Model>::value,
                "template <Real> static void init(Config, Stream&, const int*, const Real*, Real*, Real*)");
  static_assert(has_loss_grad<Model>::value,
                "template <Team, Real> FS_HD static Real loss_grad(...) (kernels/model_api.h)");
  static_assert(has_observe<Model>::value,
                "template <Team, Real> FS_HD static void observe(...) (kernels/model_api.h)");
  static_assert(has_detect<Model>::value,
                "struct DetectState and template <Real> FS_HD static void detect(Config, const Real* fixed, "
                "const Real* obs, long step, DetectState&, long* fired) (kernels/model_api.h)");
  static_assert(std::is_trivially_copyable<typename Model::DetectState>::value &&
                    sizeof(typename Model::DetectState) <= size_t(kDetectStateBytes),
                "Model::DetectState must be plain data of at most kDetectStateBytes (kernels/detect.h)");
  static_assert(has_final_config<Model>::value, "template <Real> static std::vector<double> final_config(...)");
  static_assert(has_attention_table<Model>::value,
                "template <Team, Real> FS_HD static void attention_table(...), or ModelBase's (kernels/model_api.h)");
}

template <typename Model>
ModelEntry make_entry() {
  check_contract<Model>();
  ModelEntry e;
  e.info = Model::info();
  add_generic_detection(e.info);
  const ModelInfo info = e.info;
  e.check = [](const Params& p) {
    (void)Model::configure(p);
    (void)train_steps(p);
    (void)train_record_every(p);
  };
  e.start = [info](const RunInput& in) { return start_host_run<Model>(in, info); };
  e.dump = [info](const RunInput& in, long steps) { return dump_flow<Model>(in, info, steps); };
  e.cost = [](const Params& p) {
    const Sizes sz = Model::sizes(Model::configure(p));
    return double(train_steps(p) + 1) * double(sz.n_theta + sz.n_scratch);
  };
  return e;
}

}  // namespace

template <int K>
ModelEntry make_entry_in_part(int model) {
  ModelEntry e;
#define FS_MAKE(M)                                        \
  if constexpr (model_index<M>() % kBuildParts == K) {        \
    if (model == model_index<M>()) e = make_entry<M>();   \
  }
  FLOWSWEEP_MODELS(FS_MAKE)
#undef FS_MAKE
  return e;
}

}  // namespace fs
