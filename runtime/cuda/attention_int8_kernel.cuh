//===- attention_int8_kernel.cuh - int8 flash attention ----*- CUDA -*-===//
//
// qforge_rt_attention with mode QFORGE_ATTENTION_INT8: both products of
// attention on int8 tensor cores (mma.sync m16n8k32: twice the nominal
// rate of the f16 products; 1.2-1.4x the f16 kernel measured on the H100),
// templated on the tiling for bench/attention_variants.cu.
//
// Two preparing kernels quantize the f16 / bf16 inputs into a workspace
// (qforge_rt.h gives the arithmetic, the CPU backend is its reference):
// the first quantizes Q and sums K's and maximizes |V|'s channels per 256
// keys, the second quantizes K and V from those partials (each a block
// function of its own, the blocks of one launch split between them: one
// launch boundary instead of four, and no atomics):
//   Q:    per row, symmetric int8 (scale max|row| / 127), the sign of the
//         softmax scale folded in; the scale carries |scale| and log2(e);
//   K:    centred per channel (its mean over the keys subtracted, which
//         the softmax does not see), then per block of 128 keys (one scale
//         per block: the scores of a block share one factor per row, so
//         its max is the max of the integer products);
//   V:    per channel over all keys of a batch, transposed to [D, keys]
//         (the second product reads V along the keys: an 8-bit B operand
//         holds 4 consecutive keys of one channel), with the keys of every
//         32 in the order the accumulators of the first product hand P to
//         the second (see keyPosition).
// The flash kernel then follows attention_kernel.cuh with 128 keys per
// step: S = Q K^T in i32; per row and block the max of the products, P =
// exp2(s - block max) rounded to u8 as 255 * P (the block's largest term
// is 255); O += P V in i32 per block, added to the f32 O with the block's
// weight exp2(block max - running max). The softmax is bound by issue
// slots and the exp2 unit, not the tensor cores, so every step is a
// single instruction where it can be: both products accumulate from the
// integer bits of 1.5 * 2^23, which makes each i32 sum a float (2^23 +
// 2^22 + sum) without a conversion instruction (those run at a quarter
// rate); the exponent is one FMA of those bits; rounding to u8 is one add
// of the same bias; the row sums add the u8 terms four at a time (dp4a).
// A non-finite input makes its scale non-finite (maxima that keep a NaN),
// and the output rows that see it NaN, as the float softmax would.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_RT_CUDA_ATTENTION_INT8_KERNEL_CUH
#define QFORGE_RT_CUDA_ATTENTION_INT8_KERNEL_CUH

#include "attention_kernel.cuh"

namespace qforge::rt::cuda::attention_int8 {

using attention::commitAsync;
using attention::copyAsync16;
using attention::exp2Approx;
using attention::loadMatrices;
using attention::waitAsync;

constexpr int kBlockKV = 128; // keys per block: K's scale, P's rounding unit
constexpr float kLog2Of255 = 7.99435343685885793f;

/// Keys rounded up to whole blocks: the row length of the transposed V and
/// of K's scales (the padding is zero).
inline int64_t paddedKeys(int64_t seqKV) {
  return (seqKV + kBlockKV - 1) / kBlockKV * kBlockKV;
}

/// The quantized operands in the workspace (compact, batch-major).
struct Operands {
  int8_t *q;      // [batch, seqQ, D]
  int8_t *k;      // [batch, keys, D], keys = paddedKeys(seqKV)
  int8_t *vt;     // [batch, D, keys], keys permuted per 32
  float *qFactor; // [batch, seqQ]: Q's scale * softmax scale * log2 e
  float *kScale;  // [batch, keys / kBlockKV]
  float *vScale;  // [batch, D]
  float *kSums;   // [batch, chunks, D]: K's finite values summed per
                  // kSumRows rows (its channel means come from them)
  float *vMax;    // [batch, chunks, D]: max |v| per kSumRows rows
  int64_t keys;
};

/// Rows per partial sum of K's channel means (and partial max of |V|'s).
constexpr int kSumRows = 256;
inline int64_t sumChunks(int64_t seqKV) {
  return (seqKV + kSumRows - 1) / kSumRows;
}

/// Bytes of the workspace for one call and the views into it.
inline size_t workspaceBytes(int64_t batch, int64_t seqQ, int64_t seqKV,
                             int64_t d) {
  auto round = [](size_t bytes) { return (bytes + 255) / 256 * 256; };
  size_t keys = size_t(paddedKeys(seqKV)), b = size_t(batch);
  return round(b * seqQ * d) + round(b * keys * d) * 2 + round(b * seqQ * 4) +
         round(b * keys / kBlockKV * 4) + round(b * d * 4) +
         round(b * size_t(sumChunks(seqKV)) * d * 4) * 2;
}
inline Operands carve(void *workspace, int64_t batch, int64_t seqQ,
                      int64_t seqKV, int64_t d) {
  auto round = [](size_t bytes) { return (bytes + 255) / 256 * 256; };
  char *p = static_cast<char *>(workspace);
  size_t keys = size_t(paddedKeys(seqKV)), b = size_t(batch);
  Operands o{};
  o.keys = int64_t(keys);
  o.q = reinterpret_cast<int8_t *>(p), p += round(b * seqQ * d);
  o.k = reinterpret_cast<int8_t *>(p), p += round(b * keys * d);
  o.vt = reinterpret_cast<int8_t *>(p), p += round(b * keys * d);
  o.qFactor = reinterpret_cast<float *>(p), p += round(b * seqQ * 4);
  o.kScale = reinterpret_cast<float *>(p), p += round(b * keys / kBlockKV * 4);
  o.vScale = reinterpret_cast<float *>(p), p += round(b * d * 4);
  o.kSums = reinterpret_cast<float *>(p);
  p += round(b * size_t(sumChunks(seqKV)) * d * 4);
  o.vMax = reinterpret_cast<float *>(p);
  return o;
}

/// Where key `key` (0..31 of a 32-key step) sits in the transposed V: the
/// u8 operand register k of P holds, per thread, the accumulator columns
/// {2t, 2t+1} of two consecutive 8-key tiles, so operand position
/// 16h + 4t + r is key 16h + 8 (r / 2) + 2t + r % 2.
__host__ __device__ inline int keyPosition(int key) {
  int half = key / 16, inHalf = key % 16;
  int thread = inHalf % 8 / 2, r = inHalf / 8 * 2 + inHalf % 2;
  return half * 16 + thread * 4 + r;
}

template <typename T> __device__ __forceinline__ float widen(T x);
template <> __device__ __forceinline__ float widen<__half>(__half x) {
  return __half2float(x);
}
template <>
__device__ __forceinline__ float widen<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

/// round-half-even(x * inverse) in [-127, 127], as the CPU reference.
__device__ __forceinline__ int quantize127(float x, float inverse) {
  return max(-127, min(127, __float2int_rn(__fmul_rn(x, inverse))));
}

/// max(a, b) that keeps a NaN (fmaxf drops it): a non-finite input makes
/// its scale non-finite, which the flash kernel turns into NaN outputs.
__device__ __forceinline__ float maxKeepingNaN(float a, float b) {
  return isnan(a) || isnan(b) ? __int_as_float(0x7fc00000) : fmaxf(a, b);
}

/// Rows per warp of quantizeRows: their loads are all issued before
/// any reduction (one 8-byte load in flight per lane ran at a third of the
/// memory bandwidth).
constexpr int kQuantizeRowsPerWarp = 4;
/// Q: one warp per kQuantizeRowsPerWarp rows of D elements (D / 32 per
/// lane, consecutive), block `block` of 256 threads; each row is negated
/// for a negative factor, the scale times |factor|.
template <typename T, int D>
__device__ __forceinline__ void
quantizeRows(int block, const T *source, int64_t batchStride, int64_t rowStride,
             int rows, int8_t *target, float *scales, float factor) {
  constexpr int kPerLane = D / 32, kRows = kQuantizeRowsPerWarp;
  // The lane's elements of a row in one load (strides are multiples of 8
  // elements).
  struct alignas(sizeof(T) * kPerLane) Chunk {
    T e[kPerLane];
  };
  const int lane = int(threadIdx.x) % 32;
  const int firstRow = (block * 8 + int(threadIdx.x) / 32) * kRows;
  const int64_t batch = blockIdx.y;
  Chunk chunks[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
    if (firstRow + r < rows)
      chunks[r] = *reinterpret_cast<const Chunk *>(
          source + batch * batchStride + int64_t(firstRow + r) * rowStride +
          lane * kPerLane);
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int row = firstRow + r;
    if (row >= rows)
      break;
    float x[kPerLane];
    float absMax = 0.0f;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) {
      x[e] = widen(chunks[r].e[e]);
      x[e] = factor < 0.0f ? -x[e] : x[e];
      absMax = maxKeepingNaN(absMax, fabsf(x[e]));
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2)
      absMax =
          maxKeepingNaN(absMax, __shfl_xor_sync(0xffffffffu, absMax, offset));
    const float inverse = absMax > 0.0f ? __fdiv_rn(127.0f, absMax) : 0.0f;
    uint32_t packed = 0;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e)
      packed |= uint32_t(quantize127(x[e], inverse) & 0xFF) << (8 * e);
    int8_t *to = target + (batch * rows + row) * D + lane * kPerLane;
    if constexpr (kPerLane == 4)
      *reinterpret_cast<uint32_t *>(to) = packed;
    else if constexpr (kPerLane == 2)
      *reinterpret_cast<uint16_t *>(to) = uint16_t(packed);
    else
      *to = int8_t(packed);
    if (lane == 0)
      scales[batch * rows + row] =
          __fmul_rn(__fdiv_rn(absMax, 127.0f), fabsf(factor));
  }
}

/// 8 consecutive elements (16 bytes) as floats; zeros when !valid.
template <typename T>
__device__ __forceinline__ void load8(float (&x)[8], const T *from,
                                      bool valid) {
  uint4 raw =
      valid ? *reinterpret_cast<const uint4 *>(from) : uint4{0, 0, 0, 0};
  const T *e = reinterpret_cast<const T *>(&raw);
#pragma unroll
  for (int i = 0; i < 8; ++i)
    x[i] = widen(e[i]);
}

/// The max over a block of 256 threads (every thread gets it; NaN if any).
__device__ __forceinline__ float blockMax256(float x) {
  __shared__ float warpMax[8];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    x = maxKeepingNaN(x, __shfl_xor_sync(0xffffffffu, x, offset));
  if (threadIdx.x % 32 == 0)
    warpMax[threadIdx.x / 32] = x;
  __syncthreads();
  x = warpMax[0];
#pragma unroll
  for (int w = 1; w < 8; ++w)
    x = maxKeepingNaN(x, warpMax[w]);
  return x;
}

/// Per channel, `combine` over `value(x)` of rows [first, first + Rows)
/// (below `rows`) of one batch's [rows, D] view, in `acc` (which holds the
/// starting value): 256 threads, each 8 channels (group = thread % (D / 8))
/// of every (256 / (D / 8))-th row, then the lanes of a warp that share a
/// group combined; lanes below D / 8 of each warp hold their warp's result.
template <int D, int Rows, typename T, typename Value, typename Combine>
__device__ __forceinline__ void
combineColumns(float (&acc)[8], const T *view, int64_t rowStride, int first,
               int rows, Value value, Combine combine) {
  constexpr int kGroups = D / 8, kRowLanes = 256 / kGroups;
  const int group = int(threadIdx.x) % kGroups;
  for (int r = first + int(threadIdx.x) / kGroups; r < min(rows, first + Rows);
       r += kRowLanes) {
    float x[8];
    load8(x, view + int64_t(r) * rowStride + group * 8, true);
#pragma unroll
    for (int e = 0; e < 8; ++e)
      acc[e] = combine(acc[e], value(x[e]));
  }
#pragma unroll
  for (int e = 0; e < 8; ++e) {
#pragma unroll
    for (int offset = 16; offset >= kGroups; offset /= 2)
      acc[e] = combine(acc[e], __shfl_xor_sync(0xffffffffu, acc[e], offset));
  }
}

/// The block's per-channel results of combineColumns: each warp's lanes
/// below D / 8 put their channels in shared memory, then thread c < D
/// combines the 8 warps' values of channel c in warp order and calls
/// `use(c, value)`.
template <int D, typename Combine, typename Use>
__device__ __forceinline__ void combineWarps(const float (&acc)[8], float start,
                                             Combine combine, Use use) {
  constexpr int kGroups = D / 8;
  __shared__ float warpPart[8][D];
  if (threadIdx.x % 32 < kGroups)
#pragma unroll
    for (int e = 0; e < 8; ++e)
      warpPart[threadIdx.x / 32][int(threadIdx.x) % kGroups * 8 + e] = acc[e];
  __syncthreads();
  for (int c = int(threadIdx.x); c < D; c += 256) {
    float total = start;
    for (int w = 0; w < 8; ++w)
      total = combine(total, warpPart[w][c]);
    use(c, total);
  }
}

/// K's channel sums over rows [chunk, chunk + 1) * kSumRows (finite values
/// only, so that a NaN or Inf stays in its own block); fixed summation
/// order, no atomics.
template <typename T, int D>
__device__ __forceinline__ void keySums(int chunk, int chunks, const T *k,
                                        int64_t batchStride, int64_t rowStride,
                                        int rows, float *sums) {
  const int64_t batch = blockIdx.y;
  auto add = [](float a, float b) { return __fadd_rn(a, b); };
  float sum[8] = {};
  combineColumns<D, kSumRows>(
      sum, k + batch * batchStride, rowStride, chunk * kSumRows, rows,
      [](float x) { return isfinite(x) ? x : 0.0f; }, add);
  combineWarps<D>(sum, 0.0f, add, [&](int c, float total) {
    sums[(batch * chunks + chunk) * D + c] = total;
  });
}

/// K: one block of 256 threads per kBlockKV keys, 8 elements per load;
/// centred per channel (the mean over the batch's keys subtracted: every
/// score of a query row moves by the same q . mean, which the softmax
/// ignores, and the 8 bits go to what varies between keys), then one scale
/// per block (the max |k - mean| over its rows); rows past the last key
/// zero. Key block `block` of `blocks`.
template <typename T, int D>
__device__ __forceinline__ void
quantizeKeys(int block, int blocks, const T *k, int64_t batchStride,
             int64_t rowStride, int rows, const float *sums, int chunks,
             int8_t *target, float *scales) {
  constexpr int kGroups = D / 8, kSteps = kBlockKV * kGroups / 256;
  __shared__ float mean[D];
  const int64_t batch = blockIdx.y;
  const int first = block * kBlockKV;
  for (int c = int(threadIdx.x); c < D; c += 256) {
    float total = 0.0f;
    for (int chunk = 0; chunk < chunks; ++chunk)
      total = __fadd_rn(total, sums[(batch * chunks + chunk) * D + c]);
    mean[c] = __fdiv_rn(total, float(rows));
  }
  __syncthreads();
  float x[kSteps][8];
  float absMax = 0.0f;
#pragma unroll
  for (int step = 0; step < kSteps; ++step) {
    int i = step * 256 + int(threadIdx.x), row = first + i / kGroups;
    load8(x[step],
          k + batch * batchStride + int64_t(row) * rowStride + i % kGroups * 8,
          row < rows);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      if (row < rows)
        x[step][e] = __fsub_rn(x[step][e], mean[i % kGroups * 8 + e]);
      absMax = maxKeepingNaN(absMax, fabsf(x[step][e]));
    }
  }
  absMax = blockMax256(absMax);
  const float inverse = absMax > 0.0f ? __fdiv_rn(127.0f, absMax) : 0.0f;
  int8_t *to = target + (batch * blocks * kBlockKV + first) * D;
#pragma unroll
  for (int step = 0; step < kSteps; ++step) {
    uint32_t word[2] = {0, 0};
#pragma unroll
    for (int e = 0; e < 8; ++e)
      word[e / 4] |= uint32_t(quantize127(x[step][e], inverse) & 0xFF)
                     << (8 * (e % 4));
    *reinterpret_cast<uint2 *>(to + (step * 256 + int(threadIdx.x)) * 8) =
        uint2{word[0], word[1]};
  }
  if (threadIdx.x == 0)
    scales[batch * blocks + block] = __fdiv_rn(absMax, 127.0f);
}

/// V's max |v| per channel over rows [chunk, chunk + 1) * kSumRows
/// (combineColumns, the block's warps combined in shared memory), one
/// partial per chunk that quantizeValues folds in (a NaN kept).
template <typename T, int D>
__device__ __forceinline__ void valueMax(int chunk, int chunks, const T *v,
                                         int64_t batchStride, int64_t rowStride,
                                         int rows, float *parts) {
  const int64_t batch = blockIdx.y;
  auto largest = [](float a, float b) { return maxKeepingNaN(a, b); };
  float m[8] = {};
  combineColumns<D, kSumRows>(
      m, v + batch * batchStride, rowStride, chunk * kSumRows, rows,
      [](float x) { return fabsf(x); }, largest);
  combineWarps<D>(m, 0.0f, largest, [&](int c, float channelMax) {
    parts[(batch * chunks + chunk) * D + c] = channelMax;
  });
}

/// V quantized per channel (its max |v| folded from valueMax's partials)
/// and transposed: block `block` takes kBlockKV keys of a batch; writes
/// vt[batch, channel, keys] (keyPosition order, zeros past the last key)
/// and, from the first block, the channel scales.
template <typename T, int D>
__device__ __forceinline__ void
quantizeValues(int block, const T *v, int64_t batchStride, int64_t rowStride,
               int rows, const float *parts, int chunks, int8_t *vt,
               float *vScale, int64_t keys) {
  // Rows padded by 16 bytes (kept 16-byte aligned for the copy out): the
  // 16-byte reads of 8 consecutive rows fall in different banks.
  constexpr int kPitch = kBlockKV + 16, kGroups = D / 8;
  __shared__ __align__(16) int8_t tile[D][kPitch];
  __shared__ float inverses[D]; // 127 / max |v| per channel
  const int64_t batch = blockIdx.y;
  const int first = block * kBlockKV;
  for (int channel = int(threadIdx.x); channel < D; channel += 256) {
    float absMax = 0.0f;
    for (int chunk = 0; chunk < chunks; ++chunk)
      absMax =
          maxKeepingNaN(absMax, parts[(batch * chunks + chunk) * D + channel]);
    inverses[channel] = absMax > 0.0f ? __fdiv_rn(127.0f, absMax) : 0.0f;
    if (block == 0)
      vScale[batch * D + channel] = __fdiv_rn(absMax, 127.0f);
  }
  __syncthreads();
  // Keys fastest across threads: the 32 lanes of a warp write 32 bytes of
  // one shared row per store (no bank conflicts; 8 channels per thread
  // with channels fastest put 16 lanes in one bank).
  for (int i = int(threadIdx.x); i < kBlockKV * kGroups; i += 256) {
    int key = i % kBlockKV, group = i / kBlockKV, row = first + key;
    float x[8];
    load8(x, v + batch * batchStride + int64_t(row) * rowStride + group * 8,
          row < rows);
    int position = key / 32 * 32 + keyPosition(key % 32);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      int channel = group * 8 + e;
      tile[channel][position] = int8_t(quantize127(x[e], inverses[channel]));
    }
  }
  __syncthreads();
  // 16 bytes per store: D rows of kBlockKV / 16 chunks.
  constexpr int kChunks = kBlockKV / 16;
  for (int i = int(threadIdx.x); i < D * kChunks; i += 256) {
    int channel = i / kChunks, chunk = i % kChunks;
    *reinterpret_cast<uint4 *>(vt + (batch * D + channel) * keys + first +
                               chunk * 16) =
        *reinterpret_cast<const uint4 *>(&tile[channel][chunk * 16]);
  }
}

/// What the flash kernel reads besides the operands.
struct Args {
  Operands in;
  void *out;
  int64_t outBatch, outRow;
  int seqQ, seqKV;
  int causal;
};

/// The integer bits of 1.5 * 2^23: an i32 sum started from them reads as
/// the float kBias + sum while |sum| <= 2^22 (products of one block: at
/// most 128 * 127 * 127 for S, 128 * 255 * 127 for P V).
constexpr int kBiasBits = 0x4B400000;
constexpr float kBias = 12582912.0f;

/// x in [0, 255.5) -> its nearest integer (ties to even) in the low byte.
__device__ __forceinline__ uint32_t roundToByte(float x) {
  return __float_as_uint(__fadd_rn(x, kBias));
}
/// Low bytes of four words, a in the lowest.
__device__ __forceinline__ uint32_t packBytes(uint32_t a, uint32_t b,
                                              uint32_t c, uint32_t d) {
  return __byte_perm(__byte_perm(a, b, 0x0040), __byte_perm(c, d, 0x0040),
                     0x5410);
}

__device__ __forceinline__ void mmaS8(int (&d)[4], const uint32_t (&a)[4],
                                      uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mmaU8S8(int (&d)[4], const uint32_t (&a)[4],
                                        uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/// The largest of row h's 32 biased products of a 16-row tile (this
/// thread's part: s[n][2h], s[n][2h + 1]). They are positive floats or
/// -inf (masked), whose order is that of their bits as signed integers:
/// a three-way integer max (one DPX instruction on Hopper) takes two per
/// step, in a tree rather than a chain.
__device__ __forceinline__ float rowMaxOfBits(const float (&s)[16][4], int h) {
  int v[32];
#pragma unroll
  for (int n = 0; n < 16; ++n) {
    v[2 * n] = __float_as_int(s[n][2 * h]);
    v[2 * n + 1] = __float_as_int(s[n][2 * h + 1]);
  }
  int w[11]; // 32 -> 11 -> 4 -> 1
#pragma unroll
  for (int i = 0; i < 10; ++i)
    w[i] = __vimax3_s32(v[3 * i], v[3 * i + 1], v[3 * i + 2]);
  w[10] = max(v[30], v[31]);
  int x0 = __vimax3_s32(w[0], w[1], w[2]), x1 = __vimax3_s32(w[3], w[4], w[5]);
  int x2 = __vimax3_s32(w[6], w[7], w[8]), x3 = max(w[9], w[10]);
  return __int_as_float(max(max(x0, x1), max(x2, x3)));
}

/// The softmax of one 128-key block for this thread's two rows of a
/// 16-row tile (lane / 4 and 8 below), from the biased products of Q K^T
/// in the m16n8 accumulator layout (s[n][e]: key 8n + 2 (lane % 4) + e % 2,
/// the lower row for e < 2; the layout of mma.sync and of each warp's part
/// of wgmma alike, so both kernels run this): per row the block max of the
/// products (one factor per row and block, >= 0: their order is the
/// scores'), P = 255 exp2(s - max) as one FMA and exp2 rounded to u8 into
/// the A fragments of P V, the running max and sum, and the weights of the
/// old O (alpha) and of this block's P V (weight).
__device__ __forceinline__ void
softmaxBlock(const float (&s)[16][4], float blockScale,
             const float (&rowFactor)[2], float (&rowMax)[2],
             float (&rowSum)[2], uint32_t (&pFrag)[4][4], float (&alpha)[2],
             float (&weight)[2]) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    // A zero factor (a zero row of Q or block of K: all scores 0) is
    // raised to the least normal so that -inf * factor stays -inf.
    const float factor =
        fmaxf(__fmul_rn(rowFactor[h], blockScale), 1.17549435e-38f);
    float maxBits = rowMaxOfBits(s, h);
    maxBits = fmaxf(maxBits, __shfl_xor_sync(0xffffffffu, maxBits, 1));
    maxBits = fmaxf(maxBits, __shfl_xor_sync(0xffffffffu, maxBits, 2));
    const bool empty = maxBits == -INFINITY; // no key of the row here
    const float blockMax =
        empty ? -INFINITY : __fmul_rn(__fsub_rn(maxBits, kBias), factor);
    const float newMax = fmaxf(rowMax[h], blockMax);
    alpha[h] = rowMax[h] == -INFINITY
                   ? 0.0f
                   : exp2Approx(__fsub_rn(rowMax[h], newMax));
    weight[h] = empty ? 0.0f : exp2Approx(__fsub_rn(blockMax, newMax));
    rowMax[h] = newMax;
    // exp2((bits - maxBits) * factor + log2 255) as one FMA.
    const float shift =
        empty ? 0.0f : __fsub_rn(kLog2Of255, __fmul_rn(maxBits, factor));
    uint32_t sum = 0; // of the u8 terms, 4 per dp4a
    // P's operand registers h and 2 + h of each 32-key step (this thread's
    // row lane / 4 + 8h): keys {2t, 2t+1} of 8-key tiles 4c, 4c+1, then
    // 4c+2, 4c+3 (keyPosition).
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      uint32_t bytes[4][2];
#pragma unroll
      for (int n = 0; n < 4; ++n)
#pragma unroll
        for (int x = 0; x < 2; ++x)
          bytes[n][x] = roundToByte(
              exp2Approx(__fmaf_rn(s[4 * c + n][2 * h + x], factor, shift)));
      pFrag[c][h] =
          packBytes(bytes[0][0], bytes[0][1], bytes[1][0], bytes[1][1]);
      pFrag[c][2 + h] =
          packBytes(bytes[2][0], bytes[2][1], bytes[3][0], bytes[3][1]);
      sum = __dp4a(pFrag[c][h], 0x01010101u, sum);
      sum = __dp4a(pFrag[c][2 + h], 0x01010101u, sum);
    }
    rowSum[h] =
        __fmaf_rn(rowSum[h], alpha[h], __fmul_rn(float(sum), weight[h]));
  }
}

/// The tiling: Warps warps of MTiles 16-row tiles; kBlockKV keys per step.
template <int D, int Warps, int MTiles> struct Tiling {
  static constexpr int kThreads = Warps * 32;
  static constexpr int kRowsPerWarp = 16 * MTiles;
  static constexpr int kBlockQ = Warps * kRowsPerWarp;
  // 16 bytes of padding per row: the 8 rows of an ldmatrix in 8 bank groups.
  static constexpr int kRowPitch = D + 16;          // Q and K rows
  static constexpr int kValuePitch = kBlockKV + 16; // rows of V^T
  static constexpr int sharedBytes() {
    return kBlockQ * kRowPitch + 2 * kBlockKV * kRowPitch + 2 * D * kValuePitch;
  }
};

/// Rows [first, first + Rows) of a byte matrix (Bytes per row, `stride`
/// apart) into shared memory rows `pitch` apart; rows at or past `valid`
/// read as zero.
template <int Rows, int Bytes, int Threads>
__device__ __forceinline__ void loadBytes(int8_t *shared, int pitch,
                                          const int8_t *global, int64_t stride,
                                          int first, int valid) {
  constexpr int kChunks = Bytes / 16;
  constexpr int kSteps = (Rows * kChunks + Threads - 1) / Threads;
#pragma unroll
  for (int step = 0; step < kSteps; ++step) {
    int chunk = step * Threads + int(threadIdx.x);
    if (Rows * kChunks % Threads != 0 && chunk >= Rows * kChunks)
      break;
    int row = chunk / kChunks, col = chunk % kChunks * 16;
    bool inside = first + row < valid;
    const int8_t *source =
        inside ? global + int64_t(first + row) * stride + col : global;
    copyAsync16(shared + row * pitch + col, source, inside);
  }
}

/// MinBlocks: blocks per SM the registers must allow (launch bounds).
template <typename T, int D, int Warps, int MTiles, int MinBlocks = 1>
__global__ void __launch_bounds__(Warps * 32, MinBlocks)
    flashAttentionInt8Kernel(const Args args) {
  using Tile = Tiling<D, Warps, MTiles>;
  constexpr int RP = Tile::kRowPitch, VP = Tile::kValuePitch;
  constexpr int kThreads = Tile::kThreads, kBlockQ = Tile::kBlockQ;
  constexpr int kKeyTiles = kBlockKV / 8;           // 8-key accumulator tiles
  constexpr int kKeySteps = kBlockKV / 32;          // 32-key operand steps
  static_assert(kKeyTiles == 16 && kKeySteps == 4); // softmaxBlock's block
  extern __shared__ __align__(16) unsigned char sharedRaw[];
  int8_t *sQ = reinterpret_cast<int8_t *>(sharedRaw);
  int8_t *sK = sQ + kBlockQ * RP;      // two stages
  int8_t *sV = sK + 2 * kBlockKV * RP; // two stages of V^T
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int64_t batch = blockIdx.y;
  const int qStart = int(blockIdx.x) * kBlockQ;
  const int64_t keys = args.in.keys;
  const int8_t *q = args.in.q + batch * args.seqQ * D;
  const int8_t *k = args.in.k + batch * keys * D;
  const int8_t *vt = args.in.vt + batch * D * keys;
  const float *kScale = args.in.kScale + batch * (keys / kBlockKV);
  T *out = static_cast<T *>(args.out) + batch * args.outBatch;
  const int lastKey =
      args.causal ? min(args.seqKV, qStart + kBlockQ) : args.seqKV;
  const int tiles = (lastKey + kBlockKV - 1) / kBlockKV;
  const int warpFirstRow = qStart + warp * Tile::kRowsPerWarp;

  auto loadKeys = [&](int stage, int first) {
    loadBytes<kBlockKV, D, kThreads>(sK + stage * kBlockKV * RP, RP, k, D,
                                     first, int(keys));
  };
  auto loadValues = [&](int stage, int first) {
    // D rows of V^T, the bytes of keys [first, first + kBlockKV) each.
    loadBytes<D, kBlockKV, kThreads>(sV + stage * D * VP, VP, vt + first, keys,
                                     0, D);
  };
  loadBytes<kBlockQ, D, kThreads>(sQ, RP, q, D, qStart, args.seqQ);
  loadKeys(0, 0);
  commitAsync();
  loadValues(0, 0);
  commitAsync();

  // Per row tile, this thread's two rows: lane / 4 and lane / 4 + 8.
  float rowFactor[MTiles][2], rowMax[MTiles][2], rowSum[MTiles][2];
  // A non-finite Q row, or K block this row sees: the output row is NaN
  // (as the float softmax would make it).
  bool poisoned[MTiles][2];
#pragma unroll
  for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      int row = warpFirstRow + mt * 16 + lane / 4 + 8 * h;
      rowFactor[mt][h] =
          row < args.seqQ ? args.in.qFactor[batch * args.seqQ + row] : 0.0f;
      poisoned[mt][h] = !isfinite(rowFactor[mt][h]);
      rowMax[mt][h] = -INFINITY;
      rowSum[mt][h] = 0.0f;
    }
  uint32_t qFrag[MTiles][D / 32][4]; // loaded once, at the first step
  float o[MTiles][D / 8][4];
#pragma unroll
  for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.0f;

  for (int t = 0; t < tiles; ++t) {
    const int stage = t & 1;
    const bool more = t + 1 < tiles;
    const float blockScale = kScale[t];
    if (!isfinite(blockScale))
#pragma unroll
      for (int mt = 0; mt < MTiles; ++mt)
        poisoned[mt][0] = poisoned[mt][1] = true;
    if (more) {
      loadKeys(stage ^ 1, (t + 1) * kBlockKV);
      commitAsync();
      loadValues(stage ^ 1, (t + 1) * kBlockKV);
      commitAsync();
      waitAsync<3>(); // K of this step (and Q)
    } else {
      waitAsync<1>();
    }
    __syncthreads();
    if (t == 0) {
#pragma unroll
      for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
        for (int kc = 0; kc < D / 32; ++kc)
          loadMatrices(
              qFrag[mt][kc],
              sQ + (warp * Tile::kRowsPerWarp + mt * 16 + lane % 16) * RP +
                  kc * 32 + lane / 16 * 16);
    }
    const int8_t *keyTile = sK + stage * kBlockKV * RP;
    const int8_t *valueTile = sV + stage * D * VP;

    // S = Q K^T from the bias: acc reads as the float kBias + dot.
    int acc[MTiles][kKeyTiles][4];
#pragma unroll
    for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n)
        acc[mt][n][0] = acc[mt][n][1] = acc[mt][n][2] = acc[mt][n][3] =
            kBiasBits;
#pragma unroll
    for (int kc = 0; kc < D / 32; ++kc) {
#pragma unroll
      for (int n2 = 0; n2 < kKeyTiles / 2; ++n2) {
        uint32_t b[4];
        loadMatrices(b, keyTile + (n2 * 16 + lane / 16 * 8 + lane % 8) * RP +
                            kc * 32 + lane / 8 % 2 * 16);
#pragma unroll
        for (int mt = 0; mt < MTiles; ++mt) {
          mmaS8(acc[mt][2 * n2], qFrag[mt][kc], b[0], b[1]);
          mmaS8(acc[mt][2 * n2 + 1], qFrag[mt][kc], b[2], b[3]);
        }
      }
    }
    float s[MTiles][kKeyTiles][4]; // the biased products as floats
#pragma unroll
    for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          s[mt][n][e] = __int_as_float(acc[mt][n][e]);

    const int firstKey = t * kBlockKV;
    const bool partial = firstKey + kBlockKV > args.seqKV;
    const bool diagonal = args.causal && firstKey + kBlockKV - 1 > warpFirstRow;
    if (partial || diagonal) {
#pragma unroll
      for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
        for (int n = 0; n < kKeyTiles; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            int key = firstKey + n * 8 + lane % 4 * 2 + (e & 1);
            int row = warpFirstRow + mt * 16 + lane / 4 + (e >= 2 ? 8 : 0);
            if ((partial && key >= args.seqKV) || (diagonal && key > row))
              s[mt][n][e] = -INFINITY;
          }
    }

    float alpha[MTiles][2], weight[MTiles][2];
    uint32_t pFrag[MTiles][kKeySteps][4];
#pragma unroll
    for (int mt = 0; mt < MTiles; ++mt)
      softmaxBlock(s[mt], blockScale, rowFactor[mt], rowMax[mt], rowSum[mt],
                   pFrag[mt], alpha[mt], weight[mt]);

    if (more)
      waitAsync<2>(); // V of this step
    else
      waitAsync<0>();
    __syncthreads();

    // O = O * alpha + weight * (P V): P V from the bias, so that
    // weight * (bits - kBias) + O * alpha is two FMAs.
    float biasTimesWeight[MTiles][2];
#pragma unroll
    for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h)
        biasTimesWeight[mt][h] = -__fmul_rn(kBias, weight[mt][h]);
#pragma unroll
    for (int n2 = 0; n2 < D / 16; ++n2) {
      int pv[MTiles][2][4];
#pragma unroll
      for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
        for (int x = 0; x < 2; ++x)
          pv[mt][x][0] = pv[mt][x][1] = pv[mt][x][2] = pv[mt][x][3] = kBiasBits;
#pragma unroll
      for (int c = 0; c < kKeySteps; ++c) {
        uint32_t b[4];
        loadMatrices(b, valueTile + (n2 * 16 + lane / 16 * 8 + lane % 8) * VP +
                            c * 32 + lane / 8 % 2 * 16);
#pragma unroll
        for (int mt = 0; mt < MTiles; ++mt) {
          mmaU8S8(pv[mt][0], pFrag[mt][c], b[0], b[1]);
          mmaU8S8(pv[mt][1], pFrag[mt][c], b[2], b[3]);
        }
      }
#pragma unroll
      for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
        for (int x = 0; x < 2; ++x)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            o[mt][2 * n2 + x][e] =
                __fmaf_rn(__int_as_float(pv[mt][x][e]), weight[mt][e / 2],
                          __fmaf_rn(o[mt][2 * n2 + x][e], alpha[mt][e / 2],
                                    biasTimesWeight[mt][e / 2]));
    }
    __syncthreads(); // this stage's buffers may be refilled next step
  }

  // out = O / (row sum) * (V's channel scale).
  const float *vScale = args.in.vScale + batch * D;
#pragma unroll
  for (int mt = 0; mt < MTiles; ++mt) {
    float inverse[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float total = rowSum[mt][h];
      total += __shfl_xor_sync(0xffffffffu, total, 1);
      total += __shfl_xor_sync(0xffffffffu, total, 2);
      inverse[h] = poisoned[mt][h] ? __int_as_float(0x7fc00000) : 1.0f / total;
    }
    const int row = warpFirstRow + mt * 16 + lane / 4;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      int col = n * 8 + lane % 4 * 2;
      float2 vs = *reinterpret_cast<const float2 *>(vScale + col);
      if (row < args.seqQ)
        *reinterpret_cast<uint32_t *>(out + int64_t(row) * args.outRow + col) =
            attention::pack<T>(o[mt][n][0] * inverse[0] * vs.x,
                               o[mt][n][1] * inverse[0] * vs.y);
      if (row + 8 < args.seqQ)
        *reinterpret_cast<uint32_t *>(out + int64_t(row + 8) * args.outRow +
                                      col) =
            attention::pack<T>(o[mt][n][2] * inverse[1] * vs.x,
                               o[mt][n][3] * inverse[1] * vs.y);
    }
  }
}

/// The problem as the preparing kernels read it (element strides).
struct Inputs {
  const void *q, *k, *v;
  int64_t qBatch, qRow, kBatch, kRow, vBatch, vRow;
  int64_t batch;
  int seqQ, seqKV;
  float scaleLog2;
};

/// The preparing kernels' view of one call.
struct PrepareArgs {
  Inputs x;
  Operands in;
  int qBlocks;   // of quantizeRows
  int chunks;    // of kSumRows keys: keySums' and valueMax's blocks
  int keyBlocks; // of kBlockKV keys: quantizeKeys' and quantizeValues'
};

/// The first pass: blocks [0, qBlocks) quantize Q, the next `chunks` sum
/// K's channels, the last `chunks` take V's channel maxima (independent
/// reads: one launch).
template <typename T, int D>
__global__ void __launch_bounds__(256) reduceKernel(const PrepareArgs a) {
  const Inputs &x = a.x;
  int block = int(blockIdx.x);
  if (block < a.qBlocks) {
    quantizeRows<T, D>(block, static_cast<const T *>(x.q), x.qBatch, x.qRow,
                       x.seqQ, a.in.q, a.in.qFactor, x.scaleLog2);
    return;
  }
  block -= a.qBlocks;
  if (block < a.chunks)
    keySums<T, D>(block, a.chunks, static_cast<const T *>(x.k), x.kBatch,
                  x.kRow, x.seqKV, a.in.kSums);
  else
    valueMax<T, D>(block - a.chunks, a.chunks, static_cast<const T *>(x.v),
                   x.vBatch, x.vRow, x.seqKV, a.in.vMax);
}

/// The second pass: blocks [0, keyBlocks) quantize K, the rest V, from the
/// first pass's partials.
template <typename T, int D>
__global__ void __launch_bounds__(256) quantizeKernel(const PrepareArgs a) {
  const Inputs &x = a.x;
  int block = int(blockIdx.x);
  if (block < a.keyBlocks)
    quantizeKeys<T, D>(block, a.keyBlocks, static_cast<const T *>(x.k),
                       x.kBatch, x.kRow, x.seqKV, a.in.kSums, a.chunks, a.in.k,
                       a.in.kScale);
  else
    quantizeValues<T, D>(block - a.keyBlocks, static_cast<const T *>(x.v),
                         x.vBatch, x.vRow, x.seqKV, a.in.vMax, a.chunks,
                         a.in.vt, a.in.vScale, a.in.keys);
}

/// Quantizes the inputs into `in` on `stream`.
template <typename T, int D>
cudaError_t prepare(const Inputs &x, const Operands &in, cudaStream_t stream) {
  constexpr int kRowsPerBlock = 8 * kQuantizeRowsPerWarp;
  PrepareArgs a{x, in, (x.seqQ + kRowsPerBlock - 1) / kRowsPerBlock,
                int(sumChunks(x.seqKV)), int(in.keys / kBlockKV)};
  reduceKernel<T, D>
      <<<dim3(unsigned(a.qBlocks + 2 * a.chunks), unsigned(x.batch)), 256, 0,
         stream>>>(a);
  quantizeKernel<T, D>
      <<<dim3(unsigned(2 * a.keyBlocks), unsigned(x.batch)), 256, 0, stream>>>(
          a);
  return cudaGetLastError();
}

/// Launches one instance of the flash kernel on `stream`.
template <typename T, int D, int Warps, int MTiles, int MinBlocks = 1>
cudaError_t launch(const Args &args, int64_t batch, cudaStream_t stream) {
  using Tile = Tiling<D, Warps, MTiles>;
  dim3 grid((args.seqQ + Tile::kBlockQ - 1) / Tile::kBlockQ, unsigned(batch));
  return attention::launchWithSharedMemory<
      flashAttentionInt8Kernel<T, D, Warps, MTiles, MinBlocks>>(
      grid, Tile::kThreads, Tile::sharedBytes(), args, stream);
}

} // namespace qforge::rt::cuda::attention_int8

#endif // QFORGE_RT_CUDA_ATTENTION_INT8_KERNEL_CUH
