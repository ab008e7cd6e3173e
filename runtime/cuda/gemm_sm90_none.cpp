//===- gemm_sm90_none.cpp - no Hopper int8 GEMM in this build ---*- C++ -*-===//
//
// Linked instead of gemm_sm90.cu when QFORGE_CUDA_ARCHITECTURES leaves out
// Hopper: the backend then runs every int8 GEMM through cuBLASLt.
//
//===----------------------------------------------------------------------===//

#include "gemm_sm90.h"

namespace qforge::rt::cuda {

bool int8GemmSm90Available() { return false; }

cudaError_t launchInt8GemmSm90(const Sm90GemmArgs &, const EpilogueParams &,
                               cudaStream_t) {
  return cudaErrorNotSupported;
}

} // namespace qforge::rt::cuda
