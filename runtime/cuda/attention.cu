//===- attention.cu - qforge_rt_attention on the GPU ----------*- CUDA -*-===//
//
// Picks the tiling of the flash-attention kernel (attention_kernel.cuh) per
// head dim, as measured by bench/attention_variants.cu on the H100 (see
// bench/RESULTS.md), and checks what the kernel cannot take.
//
//===----------------------------------------------------------------------===//

#include "attention.h"
#include "attention_int8_kernel.cuh"

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

template <typename T>
cudaError_t launchInt8ForHeadDim(const qforge_attention_desc &d,
                                 void *workspace, cudaStream_t stream) {
  namespace q8 = attention_int8;
  q8::Operands operands =
      q8::carve(workspace, d.batch, d.seq_q, d.seq_kv, d.head_dim);
  q8::Inputs inputs{d.q,
                    d.k,
                    d.v,
                    d.q_batch_stride,
                    d.q_row_stride,
                    d.k_batch_stride,
                    d.k_row_stride,
                    d.v_batch_stride,
                    d.v_row_stride,
                    d.batch,
                    int(d.seq_q),
                    int(d.seq_kv),
                    d.scale * 1.4426950408889634f};
  q8::Args args{operands,         d.out,        d.out_batch_stride,
                d.out_row_stride, int(d.seq_q), int(d.seq_kv),
                d.causal};
  auto run = [&](auto prepare, auto launch) {
    cudaError_t error = prepare(inputs, operands, stream);
    return error != cudaSuccess ? error : launch(args, d.batch, stream);
  };
  switch (d.head_dim) {
  case 32:
    return run(q8::prepare<T, 32>, q8::launch<T, 32, 4, 2>);
  case 64:
    return run(q8::prepare<T, 64>, q8::launch<T, 64, 4, 2>);
  default:
    return run(q8::prepare<T, 128>, q8::launch<T, 128, 4, 1>);
  }
}

} // namespace

size_t attentionWorkspaceBytes(const qforge_attention_desc &d) {
  return d.mode == QFORGE_ATTENTION_INT8
             ? attention_int8::workspaceBytes(d.batch, d.seq_q, d.seq_kv,
                                              d.head_dim)
             : 0;
}

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

cudaError_t launchAttention(const qforge_attention_desc &d, void *workspace,
                            cudaStream_t stream) {
  if (d.mode == QFORGE_ATTENTION_INT8)
    return d.dtype == QFORGE_F16
               ? launchInt8ForHeadDim<__half>(d, workspace, stream)
               : launchInt8ForHeadDim<__nv_bfloat16>(d, workspace, stream);
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
