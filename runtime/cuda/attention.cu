//===- attention.cu - qforge_rt_attention on the GPU ----------*- CUDA -*-===//
//
// Picks the tiling of the flash-attention kernel (attention_kernel.cuh) per
// head dim, as measured by bench/attention_variants.cu on the H100 (see
// bench/RESULTS.md), and checks what the kernel cannot take.
//
//===----------------------------------------------------------------------===//

#include "attention.h"
#include "attention_int8_kernel.cuh"
#include "attention_sm90.h"

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

/// A three-dimensional int8 tensor map {inner, rows, batch}, dense, boxes
/// of {boxInner, boxRows} bytes in the boxInner-byte swizzle (64 or 128;
/// attention_sm90.h).
bool encodeOperand(TensorMapEncoder encode, CUtensorMap &map,
                   const int8_t *data, int64_t inner, int64_t rows,
                   int64_t batch, int boxInner, int boxRows) {
  cuuint64_t dims[3] = {cuuint64_t(inner), cuuint64_t(rows), cuuint64_t(batch)};
  cuuint64_t strides[2] = {cuuint64_t(inner), cuuint64_t(inner * rows)};
  cuuint32_t box[3] = {cuuint32_t(boxInner), cuuint32_t(boxRows), 1};
  cuuint32_t elementStrides[3] = {1, 1, 1};
  return encode(&map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 3,
                const_cast<int8_t *>(data), dims, strides, box, elementStrides,
                CU_TENSOR_MAP_INTERLEAVE_NONE,
                boxInner == 128 ? CU_TENSOR_MAP_SWIZZLE_128B
                                : CU_TENSOR_MAP_SWIZZLE_64B,
                CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

/// The Hopper kernel on operands `prepare` wrote.
cudaError_t launchInt8Sm90(const qforge_attention_desc &d,
                           const attention_int8::Args &args,
                           TensorMapEncoder encode, cudaStream_t stream) {
  const int dim = int(d.head_dim);
  const attention_int8::Operands &in = args.in;
  Sm90AttentionMaps maps;
  if (!encodeOperand(encode, maps.q, in.q, dim, d.seq_q, d.batch, dim, 128) ||
      !encodeOperand(encode, maps.k, in.k, dim, in.keys, d.batch, dim, 128) ||
      !encodeOperand(encode, maps.vt, in.vt, in.keys, dim, d.batch, 128, dim))
    return cudaErrorInvalidValue;
  return launchInt8AttentionSm90(maps, args, d.batch, dim, d.dtype, stream);
}

template <typename T>
cudaError_t launchInt8ForHeadDim(const qforge_attention_desc &d,
                                 void *workspace, cudaStream_t stream,
                                 TensorMapEncoder hopperEncoder) {
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
  // The Hopper kernel reads the same prepared operands.
  auto hopper = [&](const q8::Args &a, int64_t, cudaStream_t s) {
    return launchInt8Sm90(d, a, hopperEncoder, s);
  };
  const bool onHopper =
      hopperEncoder != nullptr && sm90AttentionTakesHeadDim(d.head_dim);
  switch (d.head_dim) {
  case 32:
    return run(q8::prepare<T, 32>, q8::launch<T, 32, 4, 2>);
  case 64:
    if (onHopper)
      return run(q8::prepare<T, 64>, hopper);
    return run(q8::prepare<T, 64>, q8::launch<T, 64, 4, 2>);
  default:
    if (onHopper)
      return run(q8::prepare<T, 128>, hopper);
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
                            cudaStream_t stream,
                            TensorMapEncoder hopperEncoder) {
  if (d.mode == QFORGE_ATTENTION_INT8)
    return d.dtype == QFORGE_F16
               ? launchInt8ForHeadDim<__half>(d, workspace, stream,
                                              hopperEncoder)
               : launchInt8ForHeadDim<__nv_bfloat16>(d, workspace, stream,
                                                     hopperEncoder);
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
