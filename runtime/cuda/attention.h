//===- attention.h - flash attention kernel of the runtime ------*- C++ -*-===//
//
// qforge_rt_attention on the GPU (runtime/cuda/attention.cu). The CUDA
// backend checks the descriptor against attentionSupport() and launches.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_RT_CUDA_ATTENTION_H
#define QFORGE_RT_CUDA_ATTENTION_H

#include "qforge_rt.h"

#include <cuda.h>
#include <cuda_runtime.h>

namespace qforge::rt::cuda {

/// Why the kernel cannot take `desc` (a sentence for the error message), or
/// nullptr when it can.
const char *attentionUnsupportedReason(const qforge_attention_desc &desc);

/// Bytes of device workspace launchAttention needs for `desc` (the
/// quantized operands of QFORGE_ATTENTION_INT8; 0 otherwise).
size_t attentionWorkspaceBytes(const qforge_attention_desc &desc);

/// The driver's cuTensorMapEncodeTiled (resolved by the backend at run
/// time: the runtime does not link the driver).
using TensorMapEncoder = decltype(&::cuTensorMapEncodeTiled);

/// Launches flash attention for a supported descriptor on `stream`;
/// `workspace` holds attentionWorkspaceBytes(desc) bytes, 256-byte aligned.
/// With `hopperEncoder` (non-null only where int8AttentionSm90Available())
/// int8 attention of head dim 128 runs the Hopper kernel, whose operands'
/// tensor maps it encodes; otherwise the mma.sync kernels run.
cudaError_t launchAttention(const qforge_attention_desc &desc, void *workspace,
                            cudaStream_t stream,
                            TensorMapEncoder hopperEncoder);

} // namespace qforge::rt::cuda

#endif // QFORGE_RT_CUDA_ATTENTION_H
