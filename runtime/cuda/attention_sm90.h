//===- attention_sm90.h - int8 flash attention on Hopper --------*- C++ -*-===//
//
// The QFORGE_ATTENTION_INT8 flash kernel on sm_90a tensor cores (wgmma,
// operands brought by the tensor copy engine) for head dim 128. It reads
// the operands attention_int8::prepare wrote (the same quantized Q, K, V^T
// and scales as the mma.sync kernel) and computes the same arithmetic
// (qforge_rt.h); only the product instructions and the data movement
// differ. Compiled for sm_90a only (the object library of gemm_sm90.cu);
// elsewhere `int8AttentionSm90Available` is false and the mma.sync kernel
// runs.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_RT_CUDA_ATTENTION_SM90_H
#define QFORGE_RT_CUDA_ATTENTION_SM90_H

#include "qforge_rt.h"

#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace qforge::rt::cuda {

namespace attention_int8 {
struct Args;
}

/// The head dim the Hopper kernel takes (one 128-byte swizzle row).
constexpr int kSm90AttentionHeadDim = 128;

/// Tensor maps of the quantized operands, all int8 with 128-byte swizzle:
/// q dims {128, seqQ, batch}, k {128, keys, batch}, vt {keys, 128, batch};
/// boxes of 128 x 128 bytes (one block of queries, keys or V^T columns).
struct Sm90AttentionMaps {
  CUtensorMap q, k, vt;
};

/// Whether the Hopper kernel can run on the current device (an sm_90 GPU
/// and this library built with its sm_90a image).
bool int8AttentionSm90Available();

/// Launches the Hopper kernel for `batch` heads on `stream`; T is the
/// output type (QFORGE_F16 or QFORGE_BF16).
cudaError_t launchInt8AttentionSm90(const Sm90AttentionMaps &maps,
                                    const attention_int8::Args &args,
                                    int64_t batch, qforge_dtype type,
                                    cudaStream_t stream);

} // namespace qforge::rt::cuda

#endif // QFORGE_RT_CUDA_ATTENTION_SM90_H
