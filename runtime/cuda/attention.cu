//===- attention.cu - flash attention on tensor cores ------------*- CUDA -*-===//
//
// qforge_rt_attention for f16 / bf16 (FlashAttention-2's forward pass):
// one block of 4 warps takes 64 query rows of one batch, each warp 16 rows,
// and walks the keys in tiles of 64. K and V tiles are double-buffered in
// shared memory (cp.async, the next tile loads while this one computes);
// S = Q K^T and O += P V run as mma.sync m16n8k16 with f32 accumulators;
// the softmax is online: per row a running max and sum, O rescaled when the
// max grows, and P handed from the accumulators of the first product to the
// operands of the second in registers (the m16n8 accumulator layout is the
// m16k16 operand layout). The [seq_q, seq_kv] scores never reach memory.
//
// Rounding: scores, max, sum and O are f32; P is rounded to the input type
// for the second product (the row sums use P before rounding); exp2 is
// ex2.approx with the scale folded into log2(e).
//
//===----------------------------------------------------------------------===//

#include "attention.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace qforge::rt::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kBlockQ = kWarps * 16; // query rows per block, 16 per warp
constexpr int kBlockKV = 64;         // keys per tile
constexpr int kThreads = kWarps * 32;

/// Elements per shared-memory row: 16 bytes of padding put the 8 rows an
/// ldmatrix reads in 8 different bank groups.
template <int D> constexpr int kPitch = D + 8;

template <int D, typename T> constexpr int sharedBytes() {
  return (kBlockQ + 4 * kBlockKV) * kPitch<D> * int(sizeof(T));
}

struct Args {
  const void *q, *k, *v;
  void *out;
  int64_t qBatch, qRow, kBatch, kRow, vBatch, vRow, outBatch, outRow;
  int seqQ, seqKV;
  float scaleLog2; // scale * log2(e): exp(scale * s) = exp2(scaleLog2 * s)
};

__device__ __forceinline__ uint32_t sharedAddress(const void *p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

/// 16 bytes global -> shared, asynchronously; zeros when !valid.
__device__ __forceinline__ void copyAsync16(void *shared, const void *global,
                                            bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(
                   sharedAddress(shared)),
               "l"(global), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void commitAsync() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int Pending> __device__ __forceinline__ void waitAsync() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}

__device__ __forceinline__ void loadMatrices(uint32_t (&r)[4],
                                             const void *shared) {
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(sharedAddress(shared)));
}
__device__ __forceinline__ void loadMatricesTransposed(uint32_t (&r)[4],
                                                       const void *shared) {
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, "
      "[%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(sharedAddress(shared)));
}

/// d += a (16x16, row-major fragment) * b (16x8, column-major fragment).
template <typename T>
__device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4],
                                    uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma<__half>(float (&d)[4],
                                            const uint32_t (&a)[4],
                                            uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0),
                 "r"(b1));
}
template <>
__device__ __forceinline__ void mma<__nv_bfloat16>(float (&d)[4],
                                                   const uint32_t (&a)[4],
                                                   uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0),
                 "r"(b1));
}

/// Two floats rounded to T, `lo` in the low half.
template <typename T> __device__ __forceinline__ uint32_t pack(float lo, float hi);
template <> __device__ __forceinline__ uint32_t pack<__half>(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&h);
}
template <>
__device__ __forceinline__ uint32_t pack<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&h);
}

__device__ __forceinline__ float exp2Approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

/// Rows [first, first + kRows) of a [rows, D] view into shared memory
/// (pitch kPitch<D>), asynchronously; rows at or past `valid` read as zero.
template <int D, int kRows, typename T>
__device__ __forceinline__ void loadTile(T *shared, const T *global,
                                         int64_t rowStride, int first,
                                         int valid) {
  constexpr int kChunksPerRow = D / 8; // 16-byte chunks
  static_assert(kRows * kChunksPerRow % kThreads == 0, "whole steps");
#pragma unroll
  for (int step = 0; step < kRows * kChunksPerRow / kThreads; ++step) {
    int chunk = step * kThreads + int(threadIdx.x);
    int row = chunk / kChunksPerRow, col = chunk % kChunksPerRow * 8;
    bool inside = first + row < valid;
    const T *source =
        inside ? global + int64_t(first + row) * rowStride + col : global;
    copyAsync16(shared + row * kPitch<D> + col, source, inside);
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads)
    flashAttentionKernel(const Args args) {
  constexpr int P = kPitch<D>;
  constexpr int kKeyTiles = kBlockKV / 8; // 8-key accumulator tiles
  extern __shared__ __align__(16) unsigned char sharedBytesRaw[];
  T *sQ = reinterpret_cast<T *>(sharedBytesRaw);
  T *sK = sQ + kBlockQ * P;        // two stages
  T *sV = sK + 2 * kBlockKV * P;   // two stages
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int64_t batch = blockIdx.y;
  const int qStart = int(blockIdx.x) * kBlockQ;
  const T *q = static_cast<const T *>(args.q) + batch * args.qBatch;
  const T *k = static_cast<const T *>(args.k) + batch * args.kBatch;
  const T *v = static_cast<const T *>(args.v) + batch * args.vBatch;
  T *out = static_cast<T *>(args.out) + batch * args.outBatch;
  const int tiles = (args.seqKV + kBlockKV - 1) / kBlockKV;

  loadTile<D, kBlockQ>(sQ, q, args.qRow, qStart, args.seqQ);
  loadTile<D, kBlockKV>(sK, k, args.kRow, 0, args.seqKV);
  loadTile<D, kBlockKV>(sV, v, args.vRow, 0, args.seqKV);
  commitAsync();

  uint32_t qFrag[D / 16][4];
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n)
    o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  // This thread's two rows: lane / 4 and lane / 4 + 8 of the warp's 16.
  float rowMax[2] = {-INFINITY, -INFINITY};
  float rowSum[2] = {0.0f, 0.0f}; // this thread's share; summed at the end

  for (int t = 0; t < tiles; ++t) {
    const int stage = t & 1;
    if (t + 1 < tiles) {
      // Stage t+1's buffers were last read in step t-1 (synced below).
      int next = (t + 1) * kBlockKV;
      loadTile<D, kBlockKV>(sK + (stage ^ 1) * kBlockKV * P, k, args.kRow,
                            next, args.seqKV);
      loadTile<D, kBlockKV>(sV + (stage ^ 1) * kBlockKV * P, v, args.vRow,
                            next, args.seqKV);
      commitAsync();
      waitAsync<1>();
    } else {
      waitAsync<0>();
    }
    __syncthreads();
    if (t == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk)
        loadMatrices(qFrag[kk], sQ + (warp * 16 + lane % 16) * P + kk * 16 +
                                    lane / 16 * 8);
    }
    const T *keys = sK + stage * kBlockKV * P;
    const T *values = sV + stage * kBlockKV * P;

    // S = Q K^T for 16 rows x 64 keys.
    float s[kKeyTiles][4];
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n)
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int n2 = 0; n2 < kKeyTiles / 2; ++n2) {
        uint32_t b[4];
        loadMatrices(b, keys + (n2 * 16 + lane % 8 + lane / 16 * 8) * P +
                            kk * 16 + lane / 8 % 2 * 8);
        mma<T>(s[2 * n2], qFrag[kk], b[0], b[1]);
        mma<T>(s[2 * n2 + 1], qFrag[kk], b[2], b[3]);
      }
    }

    // Scale into log2 units; keys past the end count as -inf.
    const int firstKey = t * kBlockKV;
    const bool partial = firstKey + kBlockKV > args.seqKV;
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int key = firstKey + n * 8 + lane % 4 * 2 + (e & 1);
        s[n][e] = partial && key >= args.seqKV ? -INFINITY
                                               : s[n][e] * args.scaleLog2;
      }

    // Online softmax: new running max, rescale what came before.
    float alpha[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float m = rowMax[h];
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n)
        m = fmaxf(m, fmaxf(s[n][2 * h], s[n][2 * h + 1]));
      m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
      m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
      // The first tile has a valid key in every row: m is finite there.
      alpha[h] = exp2Approx(rowMax[h] - m);
      rowMax[h] = m;
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n) {
        s[n][2 * h] = exp2Approx(s[n][2 * h] - m);
        s[n][2 * h + 1] = exp2Approx(s[n][2 * h + 1] - m);
        sum += s[n][2 * h] + s[n][2 * h + 1];
      }
      rowSum[h] = rowSum[h] * alpha[h] + sum;
    }
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= alpha[0];
      o[n][1] *= alpha[0];
      o[n][2] *= alpha[1];
      o[n][3] *= alpha[1];
    }

    // O += P V: P's accumulators are the operand fragments of 16-key steps.
#pragma unroll
    for (int kk = 0; kk < kBlockKV / 16; ++kk) {
      uint32_t a[4] = {pack<T>(s[2 * kk][0], s[2 * kk][1]),
                       pack<T>(s[2 * kk][2], s[2 * kk][3]),
                       pack<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                       pack<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int n2 = 0; n2 < D / 16; ++n2) {
        uint32_t b[4];
        loadMatricesTransposed(b, values +
                                      (kk * 16 + lane % 8 + lane / 8 % 2 * 8) *
                                          P +
                                      n2 * 16 + lane / 16 * 8);
        mma<T>(o[2 * n2], a, b[0], b[1]);
        mma<T>(o[2 * n2 + 1], a, b[2], b[3]);
      }
    }
    __syncthreads(); // this stage's buffers may be refilled next step
  }

  // out = O / (row sum), the sum gathered from the 4 threads of each row.
  float inverse[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float total = rowSum[h];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    inverse[h] = 1.0f / total;
  }
  const int row = qStart + warp * 16 + lane / 4;
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
    int col = n * 8 + lane % 4 * 2;
    if (row < args.seqQ)
      *reinterpret_cast<uint32_t *>(out + int64_t(row) * args.outRow + col) =
          pack<T>(o[n][0] * inverse[0], o[n][1] * inverse[0]);
    if (row + 8 < args.seqQ)
      *reinterpret_cast<uint32_t *>(out + int64_t(row + 8) * args.outRow +
                                    col) =
          pack<T>(o[n][2] * inverse[1], o[n][3] * inverse[1]);
  }
}

template <typename T, int D>
cudaError_t launchTyped(const Args &args, int64_t batch, cudaStream_t stream) {
  auto kernel = flashAttentionKernel<T, D>;
  constexpr int bytes = sharedBytes<D, T>();
  // Above 48 KiB a kernel must opt in to dynamic shared memory (once).
  static cudaError_t optIn = cudaFuncSetAttribute(
      kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (optIn != cudaSuccess)
    return optIn;
  dim3 grid((args.seqQ + kBlockQ - 1) / kBlockQ, unsigned(batch));
  kernel<<<grid, kThreads, bytes, stream>>>(args);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launchForHeadDim(const Args &args, int64_t batch, int64_t headDim,
                             cudaStream_t stream) {
  switch (headDim) {
  case 32:
    return launchTyped<T, 32>(args, batch, stream);
  case 64:
    return launchTyped<T, 64>(args, batch, stream);
  default:
    return launchTyped<T, 128>(args, batch, stream);
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
  for (int64_t stride : {d.q_batch_stride, d.q_row_stride, d.k_batch_stride,
                         d.k_row_stride, d.v_batch_stride, d.v_row_stride,
                         d.out_batch_stride, d.out_row_stride})
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
  Args args{d.q,
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
            d.scale * 1.4426950408889634f};
  if (d.dtype == QFORGE_F16)
    return launchForHeadDim<__half>(args, d.batch, d.head_dim, stream);
  return launchForHeadDim<__nv_bfloat16>(args, d.batch, d.head_dim, stream);
}

} // namespace qforge::rt::cuda
