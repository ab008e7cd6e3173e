//===- attention.cu - qforge_rt_attention on the GPU ----------*- CUDA -*-===//
//
// Picks the tiling of the flash-attention kernel (attention_kernel.cuh) per
// head dim, as measured by bench/attention_variants.cu on the H100 (see
// bench/RESULTS.md), and checks what the kernel cannot take.
//
//===----------------------------------------------------------------------===//

#include "attention.h"
#include "attention_kernel.cuh"

namespace qforge::rt::cuda {
namespace {

template <typename T>
cudaError_t launchForHeadDim(const attention::Args &args, int64_t batch,
                             int64_t headDim, cudaStream_t stream) {
  switch (headDim) {
  case 32:
    return attention::launch<T, 32, 4, 2>(args, batch, stream);
  case 64:
    return attention::launch<T, 64, 4, 2>(args, batch, stream);
  default:
    return attention::launch<T, 128, 4, 2, 32>(args, batch, stream);
  }
}

} // namespace

const char *attentionUnsupportedReason(const qforge_attention_desc &d) {
  if (d.dtype != QFORGE_F16 && d.dtype != QFORGE_BF16)
    return "the cuda attention kernel takes f16 or bf16 only";
  if (d.head_dim != 32 && d.head_dim != 64 && d.head_dim != 128)
    return "the cuda attention kernel takes head_dim 32, 64 or 128 only";
  for (const void *p : {d.q, d.k, d.v, static_cast<const void *>(d.out)})
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0)
      return "the cuda attention kernel needs 16-byte aligned tensors";
  for (int64_t stride :
       {d.q_batch_stride, d.q_row_stride, d.k_batch_stride, d.k_row_stride,
        d.v_batch_stride, d.v_row_stride, d.out_batch_stride, d.out_row_stride})
    if (stride % 8 != 0)
      return "the cuda attention kernel needs strides that are multiples "
             "of 8 elements";
  if (d.batch > 65535)
    return "the cuda attention kernel takes at most 65535 batches";
  if (d.seq_q > (int64_t(1) << 30) || d.seq_kv > (int64_t(1) << 30))
    return "the cuda attention kernel takes at most 2^30 rows";
  return nullptr;
}

cudaError_t launchAttention(const qforge_attention_desc &d,
                            cudaStream_t stream) {
  attention::Args args{d.q,
                       d.k,
                       d.v,
                       d.out,
                       d.q_batch_stride,
                       d.q_row_stride,
                       d.k_batch_stride,
                       d.k_row_stride,
                       d.v_batch_stride,
                       d.v_row_stride,
                       d.out_batch_stride,
                       d.out_row_stride,
                       int(d.seq_q),
                       int(d.seq_kv),
                       d.scale * 1.4426950408889634f,
                       d.causal};
  if (d.dtype == QFORGE_F16)
    return launchForHeadDim<__half>(args, d.batch, d.head_dim, stream);
  return launchForHeadDim<__nv_bfloat16>(args, d.batch, d.head_dim, stream);
}

} // namespace qforge::rt::cuda
