//===- sm90_none.cpp - no Hopper kernels in this build ----------*- C++ -*-===//
//
// Linked instead of gemm_sm90.cu and attention_sm90.cu when
// QFORGE_CUDA_ARCHITECTURES leaves out Hopper: the backend then runs every
// int8 GEMM through cuBLASLt and int8 attention on the mma.sync kernel.
//
//===----------------------------------------------------------------------===//

#include "attention_sm90.h"
#include "gemm_sm90.h"

namespace qforge::rt::cuda {

bool int8GemmSm90Available() { return false; }

cudaError_t launchInt8GemmSm90(const Sm90GemmArgs &, const EpilogueParams &,
                               cudaStream_t) {
  return cudaErrorNotSupported;
}

bool int8AttentionSm90Available() { return false; }

cudaError_t launchInt8AttentionSm90(const Sm90AttentionMaps &,
                                    const attention_int8::Args &, int64_t,
                                    int64_t, qforge_dtype, cudaStream_t) {
  return cudaErrorNotSupported;
}

} // namespace qforge::rt::cuda
