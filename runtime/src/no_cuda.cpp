//===- no_cuda.cpp - the CUDA entry points of a build without CUDA --------===//

#include "backend.h"

namespace qforge::rt {

bool cudaBackendAvailable() { return false; }

qforge_status createCudaBackend(void *, bool, std::unique_ptr<Backend> &) {
  return fail(QFORGE_ERR_UNSUPPORTED,
              "this qforge runtime was built without CUDA "
              "(QFORGE_ENABLE_CUDA=OFF); use the cpu backend");
}

} // namespace qforge::rt
