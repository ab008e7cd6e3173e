//===- attention.h - flash attention kernel of the runtime ------*- C++ -*-===//
//
// qforge_rt_attention on the GPU (runtime/cuda/attention.cu). The CUDA
// backend checks the descriptor against attentionSupport() and launches.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_RT_CUDA_ATTENTION_H
#define QFORGE_RT_CUDA_ATTENTION_H

#include "qforge_rt.h"

#include <cuda_runtime.h>

namespace qforge::rt::cuda {

/// Why the kernel cannot take `desc` (a sentence for the error message), or
/// nullptr when it can.
const char *attentionUnsupportedReason(const qforge_attention_desc &desc);

/// Bytes of device workspace launchAttention needs for `desc` (the
/// quantized operands of QFORGE_ATTENTION_INT8; 0 otherwise).
size_t attentionWorkspaceBytes(const qforge_attention_desc &desc);

/// Launches flash attention for a supported descriptor on `stream`;
/// `workspace` holds attentionWorkspaceBytes(desc) bytes, 256-byte aligned.
cudaError_t launchAttention(const qforge_attention_desc &desc, void *workspace,
                            cudaStream_t stream);

} // namespace qforge::rt::cuda

#endif // QFORGE_RT_CUDA_ATTENTION_H
