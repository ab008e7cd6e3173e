//===- attention_sm90.h - int8 flash attention on Hopper --------*- C++ -*-===//
//
// The QFORGE_ATTENTION_INT8 flash kernel on sm_90a tensor cores (wgmma,
// operands brought by the tensor copy engine) for head dims 64 and 128. It
// reads
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

/// Whether the Hopper kernel takes head dim `d` (a Q or K row is one
/// swizzle row: 64 or 128 bytes).
inline bool sm90AttentionTakesHeadDim(int64_t d) { return d == 64 || d == 128; }

/// Tensor maps of the quantized operands, all int8, for head dim D:
/// q dims {D, seqQ, batch} and k {D, keys, batch} with boxes {D, 128} in
/// the D-byte swizzle; vt {keys, D, batch} with boxes {128, D} in the
/// 128-byte swizzle (one block of queries, keys or V^T columns).
struct Sm90AttentionMaps {
  CUtensorMap q, k, vt;
};

/// Whether the Hopper kernel can run on the current device (an sm_90 GPU
/// and this library built with its sm_90a image).
bool int8AttentionSm90Available();

/// Launches the Hopper kernel for `batch` heads of head dim `headDim` on
/// `stream`; `type` is the output type (QFORGE_F16 or QFORGE_BF16).
cudaError_t launchInt8AttentionSm90(const Sm90AttentionMaps &maps,
                                    const attention_int8::Args &args,
                                    int64_t batch, int64_t headDim,
                                    qforge_dtype type, cudaStream_t stream);

} // namespace qforge::rt::cuda

#endif // QFORGE_RT_CUDA_ATTENTION_SM90_H
