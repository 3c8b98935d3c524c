// The CUDA executor's entry points in a build without a CUDA toolkit.
#include "host/executor_cuda.h"
#include "host/util.h"

namespace fs {

bool cuda_compiled() { return false; }

CudaDeviceInfo cuda_probe(int) {
  CudaDeviceInfo info;
  info.reason = "this flowsweep was built without a CUDA toolkit";
  return info;
}

std::unique_ptr<Executor> make_cuda_executor(const ModelEntry&, const CudaOptions&) {
  throw RuntimeError("--backend cuda: this flowsweep was built without a CUDA toolkit");
}

std::vector<RunResult> execute_cuda(const ModelEntry&, const std::vector<RunInput>&, const CudaOptions&,
                                    const std::function<void(long, const RunResult&)>&) {
  throw RuntimeError("--backend cuda: this flowsweep was built without a CUDA toolkit");
}

}  // namespace fs
