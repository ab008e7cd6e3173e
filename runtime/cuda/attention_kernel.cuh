//===- attention_kernel.cuh - flash attention, tensor cores --*- CUDA -*-===//
//
// The kernel of qforge_rt_attention for f16 / bf16 (FlashAttention-2's
// forward pass), templated on its tiling so that bench/attention_variants.cu
// can time the candidates that runtime/cuda/attention.cu chooses from.
//
// A block of Warps warps takes Warps * 16 * MTiles query rows of one
// batch (each warp 16 * MTiles rows, MTiles row tiles of 16 that share
// every key / value fragment it loads) and walks the keys in steps of KV.
// K and V tiles are double-buffered in shared memory (cp.async: the next
// tile loads while this one computes; the S product waits for K only);
// S = Q K^T and O += P V are mma.sync m16n8k16 with f32 accumulators; the
// softmax is online: per row a running max and sum, O rescaled when the max
// grows, P passed from the accumulators of the first product to the
// operands of the second in registers (the m16n8 accumulator layout is the
// m16k16 operand layout). The [seq_q, seq_kv] scores never reach memory.
//
// Rounding: scores, max, sum and O are f32; P is rounded to the input type
// for the second product (the row sums use P before rounding); exp2 is
// ex2.approx with the scale folded into log2(e).
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_RT_CUDA_ATTENTION_KERNEL_CUH
#define QFORGE_RT_CUDA_ATTENTION_KERNEL_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

namespace qforge::rt::cuda::attention {

constexpr int kDefaultBlockKV = 64; // keys per tile

/// The problem as the kernel reads it (element strides, unit along D).
struct Args {
  const void *q, *k, *v;
  void *out;
  int64_t qBatch, qRow, kBatch, kRow, vBatch, vRow, outBatch, outRow;
  int seqQ, seqKV;
  float scaleLog2; // scale * log2(e): exp(scale * s) = exp2(scaleLog2 * s)
  int causal;      // 1: query i sees keys j <= i only
};

/// Elements per shared-memory row: 16 bytes of padding put the 8 rows an
/// ldmatrix reads in 8 different bank groups.
template <int D> constexpr int kPitch = D + 8;

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
__device__ __forceinline__ void
mma<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma<__nv_bfloat16>(float (&d)[4],
                                                   const uint32_t (&a)[4],
                                                   uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/// Two floats rounded to T, `lo` in the low half.
template <typename T>
__device__ __forceinline__ uint32_t pack(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack<__half>(float lo, float hi) {
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

/// exp2(x * scale + shift), 0 for a masked key (-inf: with scale 0 the
/// product would be NaN).
__device__ __forceinline__ float softmaxTerm(float x, float scale,
                                             float shift) {
  return x == -INFINITY ? 0.0f : exp2Approx(__fmaf_rn(x, scale, shift));
}

/// The tiling of one kernel instance: Warps warps of MTiles 16-row tiles
/// each, KV keys per step.
template <int D, int Warps, int MTiles, int KV = kDefaultBlockKV>
struct Tiling {
  static constexpr int kBlockKV = KV;
  static constexpr int kThreads = Warps * 32;
  static constexpr int kRowsPerWarp = 16 * MTiles;
  static constexpr int kBlockQ = Warps * kRowsPerWarp;
  static constexpr int kPitch = D + 8;
  template <typename T> static constexpr int sharedBytes() {
    return (kBlockQ + 4 * kBlockKV) * kPitch * int(sizeof(T));
  }
};

/// Rows [first, first + Rows) of a [rows, D] view into shared memory
/// (pitch D + 8), asynchronously; rows at or past `valid` read as zero.
template <int D, int Rows, int Threads, typename T>
__device__ __forceinline__ void
loadTile(T *shared, const T *global, int64_t rowStride, int first, int valid) {
  constexpr int kChunksPerRow = D / 8; // 16-byte chunks
  static_assert(Rows * kChunksPerRow % Threads == 0, "whole steps");
#pragma unroll
  for (int step = 0; step < Rows * kChunksPerRow / Threads; ++step) {
    int chunk = step * Threads + int(threadIdx.x);
    int row = chunk / kChunksPerRow, col = chunk % kChunksPerRow * 8;
    bool inside = first + row < valid;
    const T *source =
        inside ? global + int64_t(first + row) * rowStride + col : global;
    copyAsync16(shared + row * (D + 8) + col, source, inside);
  }
}

template <typename T, int D, int Warps, int MTiles, int KV = kDefaultBlockKV>
__global__ void __launch_bounds__(Warps * 32)
    flashAttentionKernel(const Args args) {
  using Tile = Tiling<D, Warps, MTiles, KV>;
  constexpr int kBlockKV = Tile::kBlockKV;
  constexpr int P = Tile::kPitch;
  constexpr int kThreads = Tile::kThreads;
  constexpr int kBlockQ = Tile::kBlockQ;
  constexpr int kKeyTiles = kBlockKV / 8; // 8-key accumulator tiles
  extern __shared__ __align__(16) unsigned char sharedRaw[];
  T *sQ = reinterpret_cast<T *>(sharedRaw);
  T *sK = sQ + kBlockQ * P;      // two stages
  T *sV = sK + 2 * kBlockKV * P; // two stages
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int64_t batch = blockIdx.y;
  const int qStart = int(blockIdx.x) * kBlockQ;
  const T *q = static_cast<const T *>(args.q) + batch * args.qBatch;
  const T *k = static_cast<const T *>(args.k) + batch * args.kBatch;
  const T *v = static_cast<const T *>(args.v) + batch * args.vBatch;
  T *out = static_cast<T *>(args.out) + batch * args.outBatch;
  // Causal: no key past the block's last query row is seen by any row.
  const int lastKey =
      args.causal ? min(args.seqKV, qStart + kBlockQ) : args.seqKV;
  const int tiles = (lastKey + kBlockKV - 1) / kBlockKV;
  const int warpFirstRow = qStart + warp * Tile::kRowsPerWarp;
  const bool negate = args.scaleLog2 < 0.0f;
  const float scale = fabsf(args.scaleLog2);

  // Groups in flight, oldest first: {Q, K0}, {V0}, then per step {K}, {V}.
  loadTile<D, kBlockQ, kThreads>(sQ, q, args.qRow, qStart, args.seqQ);
  loadTile<D, kBlockKV, kThreads>(sK, k, args.kRow, 0, args.seqKV);
  commitAsync();
  loadTile<D, kBlockKV, kThreads>(sV, v, args.vRow, 0, args.seqKV);
  commitAsync();

  // Q's operand fragments stay in registers for the whole walk when they
  // are few (32 registers); above that (head dim 128 with 2 row tiles)
  // they are re-read from shared memory for each key tile.
  constexpr bool kQInRegisters = MTiles * D <= 128;
  uint32_t qFrag[kQInRegisters ? MTiles : 1][kQInRegisters ? D / 16 : 1][4];
  float o[MTiles][D / 8][4];
#pragma unroll
  for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.0f;
  // Per row tile, this thread's two rows: lane / 4 and lane / 4 + 8.
  float rowMax[MTiles][2], rowSum[MTiles][2]; // sums: this thread's share
#pragma unroll
  for (int mt = 0; mt < MTiles; ++mt) {
    rowMax[mt][0] = rowMax[mt][1] = -INFINITY;
    rowSum[mt][0] = rowSum[mt][1] = 0.0f;
  }

  for (int t = 0; t < tiles; ++t) {
    const int stage = t & 1;
    const bool more = t + 1 < tiles;
    if (more) {
      // Stage t+1's buffers were last read in step t-1 (synced below).
      int next = (t + 1) * kBlockKV;
      loadTile<D, kBlockKV, kThreads>(sK + (stage ^ 1) * kBlockKV * P, k,
                                      args.kRow, next, args.seqKV);
      commitAsync();
      loadTile<D, kBlockKV, kThreads>(sV + (stage ^ 1) * kBlockKV * P, v,
                                      args.vRow, next, args.seqKV);
      commitAsync();
      waitAsync<3>(); // K of this step (and Q)
    } else {
      waitAsync<1>();
    }
    __syncthreads();
    // Q's fragment (row tile mt, head-dim step kk) for the first product.
    auto loadQ = [&](uint32_t(&fragment)[4], int mt, int kk) {
      loadMatrices(fragment,
                   sQ + (warp * Tile::kRowsPerWarp + mt * 16 + lane % 16) * P +
                       kk * 16 + lane / 16 * 8);
    };
    if constexpr (kQInRegisters) {
      if (t == 0) {
#pragma unroll
        for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
          for (int kk = 0; kk < D / 16; ++kk)
            loadQ(qFrag[mt][kk], mt, kk);
      }
    }
    const T *keys = sK + stage * kBlockKV * P;
    const T *values = sV + stage * kBlockKV * P;

    // S = Q K^T for this warp's rows x 64 keys; each K fragment feeds
    // every row tile.
    float s[MTiles][kKeyTiles][4];
#pragma unroll
    for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n)
        s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t qStep[MTiles][4];
#pragma unroll
      for (int mt = 0; mt < MTiles; ++mt) {
        if constexpr (kQInRegisters) {
#pragma unroll
          for (int r = 0; r < 4; ++r)
            qStep[mt][r] = qFrag[mt][kk][r];
        } else {
          loadQ(qStep[mt], mt, kk);
        }
      }
#pragma unroll
      for (int n2 = 0; n2 < kKeyTiles / 2; ++n2) {
        uint32_t b[4];
        loadMatrices(b, keys + (n2 * 16 + lane % 8 + lane / 16 * 8) * P +
                            kk * 16 + lane / 8 % 2 * 8);
#pragma unroll
        for (int mt = 0; mt < MTiles; ++mt) {
          mma<T>(s[mt][2 * n2], qStep[mt], b[0], b[1]);
          mma<T>(s[mt][2 * n2 + 1], qStep[mt], b[2], b[3]);
        }
      }
    }

    // Online softmax on raw scores: the row max of the raw scores, then
    // p = exp2(s * c - max * c) in one FMA (c = |scale| log2(e); a
    // negative scale negates the scores first, max(scale s) being
    // scale min(s)). Keys past the end take no part (p = 0).
    const int firstKey = t * kBlockKV;
    const bool partial = firstKey + kBlockKV > args.seqKV;
    // Causal tiles on or past this warp's diagonal mask keys after the row.
    const bool diagonal = args.causal && firstKey + kBlockKV - 1 > warpFirstRow;
    if (negate || partial || diagonal) { // rare: most tiles skip this
#pragma unroll
      for (int mt = 0; mt < MTiles; ++mt)
#pragma unroll
        for (int n = 0; n < kKeyTiles; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            int key = firstKey + n * 8 + lane % 4 * 2 + (e & 1);
            int row = warpFirstRow + mt * 16 + lane / 4 + (e >= 2 ? 8 : 0);
            float x = negate ? -s[mt][n][e] : s[mt][n][e];
            bool hidden =
                (partial && key >= args.seqKV) || (diagonal && key > row);
            s[mt][n][e] = hidden ? -INFINITY : x;
          }
    }
#pragma unroll
    for (int mt = 0; mt < MTiles; ++mt) {
      float alpha[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float m = rowMax[mt][h];
#pragma unroll
        for (int n = 0; n < kKeyTiles; ++n)
          m = fmaxf(m, fmaxf(s[mt][n][2 * h], s[mt][n][2 * h + 1]));
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
        // The first tile has a valid key in every row: m is finite from
        // there on; before it there is nothing to rescale.
        alpha[h] = rowMax[mt][h] == -INFINITY
                       ? 0.0f
                       : exp2Approx((rowMax[mt][h] - m) * scale);
        rowMax[mt][h] = m;
        const float shift = -m * scale;
        float sum = 0.0f;
#pragma unroll
        for (int n = 0; n < kKeyTiles; ++n) {
          s[mt][n][2 * h] = softmaxTerm(s[mt][n][2 * h], scale, shift);
          s[mt][n][2 * h + 1] = softmaxTerm(s[mt][n][2 * h + 1], scale, shift);
          sum += s[mt][n][2 * h] + s[mt][n][2 * h + 1];
        }
        rowSum[mt][h] = __fmaf_rn(rowSum[mt][h], alpha[h], sum);
      }
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        o[mt][n][0] *= alpha[0];
        o[mt][n][1] *= alpha[0];
        o[mt][n][2] *= alpha[1];
        o[mt][n][3] *= alpha[1];
      }
    }

    if (more)
      waitAsync<2>(); // V of this step
    else
      waitAsync<0>();
    __syncthreads();

    // O += P V: P's accumulators are the operand fragments of 16-key steps.
#pragma unroll
    for (int kk = 0; kk < kBlockKV / 16; ++kk) {
      uint32_t a[MTiles][4];
#pragma unroll
      for (int mt = 0; mt < MTiles; ++mt) {
        a[mt][0] = pack<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        a[mt][1] = pack<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        a[mt][2] = pack<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        a[mt][3] = pack<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int n2 = 0; n2 < D / 16; ++n2) {
        uint32_t b[4];
        loadMatricesTransposed(
            b, values + (kk * 16 + lane % 8 + lane / 8 % 2 * 8) * P + n2 * 16 +
                   lane / 16 * 8);
#pragma unroll
        for (int mt = 0; mt < MTiles; ++mt) {
          mma<T>(o[mt][2 * n2], a[mt], b[0], b[1]);
          mma<T>(o[mt][2 * n2 + 1], a[mt], b[2], b[3]);
        }
      }
    }
    __syncthreads(); // this stage's buffers may be refilled next step
  }

  // out = O / (row sum), the sum gathered from the 4 threads of each row.
#pragma unroll
  for (int mt = 0; mt < MTiles; ++mt) {
    float inverse[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float total = rowSum[mt][h];
      total += __shfl_xor_sync(0xffffffffu, total, 1);
      total += __shfl_xor_sync(0xffffffffu, total, 2);
      inverse[h] = 1.0f / total;
    }
    const int row = qStart + warp * Tile::kRowsPerWarp + mt * 16 + lane / 4;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      int col = n * 8 + lane % 4 * 2;
      if (row < args.seqQ)
        *reinterpret_cast<uint32_t *>(out + int64_t(row) * args.outRow + col) =
            pack<T>(o[mt][n][0] * inverse[0], o[mt][n][1] * inverse[0]);
      if (row + 8 < args.seqQ)
        *reinterpret_cast<uint32_t *>(out + int64_t(row + 8) * args.outRow +
                                      col) =
            pack<T>(o[mt][n][2] * inverse[1], o[mt][n][3] * inverse[1]);
    }
  }
}

/// Launches `Kernel` with `bytes` of dynamic shared memory. Above 48 KiB a
/// kernel must opt in, once per device (the attribute belongs to the
/// device's copy of the kernel): one set of flags per kernel instance.
template <auto Kernel, typename KernelArgs>
cudaError_t launchWithSharedMemory(dim3 grid, int threads, int bytes,
                                   const KernelArgs &args,
                                   cudaStream_t stream) {
  static std::atomic<uint64_t> optedIn{0};
  int device = 0;
  if (cudaError_t error = cudaGetDevice(&device); error != cudaSuccess)
    return error;
  uint64_t bit = device < 64 ? uint64_t(1) << device : 0;
  if (!(optedIn.load(std::memory_order_relaxed) & bit)) {
    if (cudaError_t error = cudaFuncSetAttribute(
            Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
        error != cudaSuccess)
      return error;
    optedIn.fetch_or(bit, std::memory_order_relaxed);
  }
  Kernel<<<grid, threads, bytes, stream>>>(args);
  return cudaGetLastError();
}

/// Launches one instance on `stream` (grid: query blocks x batches).
template <typename T, int D, int Warps, int MTiles, int KV = kDefaultBlockKV>
cudaError_t launch(const Args &args, int64_t batch, cudaStream_t stream) {
  using Tile = Tiling<D, Warps, MTiles, KV>;
  dim3 grid((args.seqQ + Tile::kBlockQ - 1) / Tile::kBlockQ, unsigned(batch));
  return launchWithSharedMemory<flashAttentionKernel<T, D, Warps, MTiles, KV>>(
      grid, Tile::kThreads, Tile::template sharedBytes<T>(), args, stream);
}

} // namespace qforge::rt::cuda::attention

#endif // QFORGE_RT_CUDA_ATTENTION_KERNEL_CUH
