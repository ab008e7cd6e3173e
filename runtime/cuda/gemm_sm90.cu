//===- gemm_sm90.cu - int8 GEMM on Hopper, epilogue fused ------*- CUDA -*-===//
//
// A warp-specialized kernel of 9 warps per 128 x BlockN output block. Warp
// 8 (one thread) streams 128-byte-wide K slices of X and W into a ring of
// shared memory stages with the tensor copy engine, each stage completing
// on a "full" mbarrier. Warpgroups 0 and 1 each multiply 64 rows of a stage
// with wgmma m64nBlockNk32 (s8 x s8 -> s32, operands read from shared memory
// in the 128-byte swizzle the copy engine wrote), keep one stage's products
// in flight, and release a stage through its "empty" mbarrier once the
// products reading it are done. Rows, columns and K beyond the matrix
// arrive as zeros from the copy engine (its out-of-bounds fill), so any M
// and K work; the epilogue skips rows and columns past the end.
//
// BlockN = 128: two blocks share an SM (3 stages each), so that one
// block's epilogue runs while the other's main loop keeps the tensor cores
// busy; 288 threads x 2 blocks leave each thread 112 registers, which the
// 64 accumulators fit. (A producer warpgroup with setmaxnreg would leave 80
// registers at two blocks per SM: too few for wgmma n128.) BlockN = 256:
// one block per SM, 4 stages, 128 accumulators per thread; fewer operand
// bytes per product through shared memory, whose bandwidth bounds the
// narrower block's main loop.
//
// Persistent: as many blocks as are resident, each taking output blocks in
// turn, the producer filling the next block's stages during this one's
// epilogue. With BlockN = 256 two CTAs may form a cluster that shares W's
// tiles by multicast (the `hopper256x2` route). 2-byte outputs of the
// 256-wide kernels leave in 16-byte stores (storeAccumulatorsWide) or,
// staged, through shared memory and the tensor copy engine, which stores
// them while the warpgroups go on to the next block (stageAccumulators).
//
// The epilogue is numerics.h's epilogueValue + EpilogueStore
// (epilogue.cuh): the same arithmetic in the same order as the separate
// epilogue pass and the CPU reference, so results are bit-identical to the
// cuBLASLt path.
//
//===----------------------------------------------------------------------===//

#include "gemm_sm90.h"

#include "epilogue.cuh"
#include "sm90.cuh"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>

namespace qforge::rt::cuda {
namespace {

constexpr int kConsumerThreads = 256;           // warpgroups 0 and 1
constexpr int kThreads = kConsumerThreads + 32; // + the producer warp
constexpr int kLhsTileBytes = kSm90GemmBlockM * kSm90GemmBlockK;
constexpr int kMaxDevices = 64; // devices whose resident clusters are kept

/// The epilogue's per-column operands, staged in shared memory before the
/// main loop: read from global memory between the epilogue's stores, the
/// compiler could not hoist them past the stores (the pointers may alias)
/// and each column pair waited a full load latency.
struct alignas(16) ColumnTerms {
  float scale;
  int32_t biasInt;
  float biasFloat;
};

/// The two kernel variants: 128 x 128 blocks two per SM (3 stages each,
/// one block's epilogue overlapping the other's main loop; 64 accumulators
/// per thread) and 128 x 256 blocks one per SM (wgmma n256, 4 stages,
/// 128 accumulators). The wider block reads fewer operand bytes per
/// product (shared memory bandwidth) and wins at hidden 4096; the narrower
/// wins where a 128 x 256 grid leaves SMs idle or its epilogue dominates.
///
/// Staged (128 x 256 blocks, 2-byte outputs): the epilogue writes its
/// outputs to shared memory and the tensor copy engine stores them, so that
/// the stores drain while the warpgroups run the next block's main loop
/// instead of the warpgroups waiting on them; the staging area (64 KB)
/// costs the fourth stage.
template <int BlockN, bool Staged = false> struct Tiling {
  static_assert(BlockN == 128 || BlockN == 256);
  static_assert(!Staged || BlockN == 256);
  static constexpr int kBlocksPerSM = BlockN == 128 ? 2 : 1;
  static constexpr int kStages = BlockN == 128 || Staged ? 3 : 4;
  static constexpr int kRhsTileBytes = BlockN * kSm90GemmBlockK;
  static constexpr int kStageBytes = kLhsTileBytes + kRhsTileBytes;
  // Each consumer's 64 x BlockN outputs as BlockN / 64 boxes of 64 x 64
  // 2-byte values (128-byte rows, the copy engine's swizzle).
  static constexpr int kStoreBoxBytes = 64 * 128;
  static constexpr int kStagingBytes =
      Staged ? 2 * (BlockN / 64) * kStoreBoxBytes : 0;
  // Tiles, the staged outputs, each consumer's column terms, 2 mbarriers
  // per stage, plus slack to align the start to 1024 bytes (the 128-byte
  // swizzle pattern repeats every 8 rows).
  static constexpr int kColumnBytes = 2 * BlockN * 16;
  static constexpr int kSharedBytes = kStages * kStageBytes + kStagingBytes +
                                      kColumnBytes + 2 * kStages * 8 + 1024;
  static constexpr int kAccumulators = BlockN / 2; // 64 x BlockN / 128
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

using namespace sm90;

/// Stores two adjacent outputs of one row (col even, N % 8 == 0).
template <typename Out>
__device__ __forceinline__ void storePair(Out *dst, float first, float second,
                                          const EpilogueParams &p) {
  Pack<2, Out> pair;
  pair.v[0] = EpilogueStore<Out>::apply(first, p);
  pair.v[1] = EpilogueStore<Out>::apply(second, p);
  *reinterpret_cast<Pack<2, Out> *>(dst) = pair;
}

/// One consumer thread's share of its block's column terms (columns t,
/// t + 128, ... of the block), loaded from global memory before the main
/// loop so that the loads' latency hides behind the products, and stored
/// to the warpgroup's shared copy after it.
template <int BlockN> struct ColumnShare {
  ColumnTerms terms[BlockN / 128];

  __device__ __forceinline__ void load(int64_t n, int64_t colBase,
                                       const EpilogueParams &p) {
#pragma unroll
    for (int i = 0; i < BlockN / 128; ++i) {
      int64_t col = colBase + threadIdx.x % 128 + i * 128;
      ColumnTerms t{0.0f, 0, 0.0f};
      if (col < n) {
        t.scale = rhsScaleOf(p, 0, col);
        t.biasInt = p.biasInt ? p.biasInt[col] : 0;
        t.biasFloat = p.biasFloat ? p.biasFloat[col] : 0.0f;
      }
      terms[i] = t;
    }
  }

  __device__ __forceinline__ void store(ColumnTerms *shared) const {
#pragma unroll
    for (int i = 0; i < BlockN / 128; ++i)
      shared[threadIdx.x % 128 + i * 128] = terms[i];
  }
};

/// Synchronizes the 128 threads of consumer warpgroup `consumer` (named
/// barrier 1 or 2: 0 is __syncthreads', which the producer warp does not
/// join). Immediate ids: a register id makes ptxas reserve all 16
/// barriers, which would allow one block per SM.
__device__ __forceinline__ void warpgroupBarrier(int consumer) {
  if (consumer == 0)
    asm volatile("bar.sync 1, 128;" ::: "memory");
  else
    asm volatile("bar.sync 2, 128;" ::: "memory");
}

/// numerics.h's gelu as a call: inlined at each of the 128 accumulators of
/// a 128 x 256 block, erf's code alone outgrew the instruction cache (the
/// GELU GEMM ran at half speed). Same arithmetic, so the same bits:
/// epilogueValue applies its activation last, to the value computed here
/// with none.
__device__ __noinline__ float geluOutOfLine(float x) { return gelu(x); }
constexpr int kLinear = 0; // epilogueValue's "no activation"

/// Columns c and c + 1 of one accumulator row through the epilogue
/// arithmetic (before the output conversion).
template <int Activation, bool IntBias>
__device__ __forceinline__ void pairValues(int32_t accFirst, int32_t accSecond,
                                           const ColumnTerms *terms, int c,
                                           float lhsScale, float &a, float &b) {
  ColumnTerms first = terms[c], second = terms[c + 1];
  a = epilogueValue(accFirst, IntBias ? first.biasInt : 0, lhsScale,
                    first.scale, first.biasFloat, kLinear);
  b = epilogueValue(accSecond, IntBias ? second.biasInt : 0, lhsScale,
                    second.scale, second.biasFloat, kLinear);
  if constexpr (Activation == 1) {
    a = relu(a);
    b = relu(b);
  } else if constexpr (Activation == 2) {
    a = geluOutOfLine(a);
    b = geluOutOfLine(b);
  }
}

/// Two outputs as the 32-bit word they are stored as (2-byte types).
template <typename Out>
__device__ __forceinline__ uint32_t packedPair(float a, float b,
                                               const EpilogueParams &p) {
  Pack<2, Out> pair;
  pair.v[0] = EpilogueStore<Out>::apply(a, p);
  pair.v[1] = EpilogueStore<Out>::apply(b, p);
  uint32_t word;
  memcpy(&word, &pair, sizeof word);
  return word;
}

/// The epilogue of 2-byte outputs (f16, bf16) stored 16 bytes a lane: per
/// group of four 8-column chunks, the lanes of a quad (one row, two
/// columns of each chunk apiece) transpose their words with two xor
/// shuffles, so that lane q holds the whole chunk q. A warp's store then
/// writes 64 contiguous bytes of each of 8 rows instead of 16: a quarter of
/// the store instructions, which the epilogue's time waited on. Needs
/// `out` 16-byte aligned; N % 8 == 0 keeps a chunk wholly in or out.
template <int BlockN, int Activation, bool IntBias, typename Out>
__device__ __forceinline__ void
storeAccumulatorsWide(const int32_t (&acc)[BlockN / 2],
                      const ColumnTerms *terms, Out *out, int64_t m, int64_t n,
                      const int64_t (&rows)[2], const float (&lhsScales)[2],
                      int64_t colBase, const EpilogueParams &p) {
  static_assert(sizeof(Out) == 2);
  int q = threadIdx.x % 4;
  bool b0 = q & 1, b1 = q & 2;
#pragma unroll
  for (int g = 0; g < BlockN / 32; ++g) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      uint32_t w[4]; // chunk 4g + k, columns 2q and 2q + 1
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        int j = 4 * g + k;
        float a, b;
        pairValues<Activation, IntBias>(acc[4 * j + 2 * half],
                                        acc[4 * j + 2 * half + 1], terms,
                                        j * 8 + q * 2, lhsScales[half], a, b);
        w[k] = packedPair<Out>(a, b, p);
      }
      // Lanes q and q ^ 2 swap halves: q keeps chunks 2 b1 and 2 b1 + 1,
      // its own words and its partner's.
      uint32_t r0 = __shfl_xor_sync(~0u, b1 ? w[0] : w[2], 2);
      uint32_t r1 = __shfl_xor_sync(~0u, b1 ? w[1] : w[3], 2);
      uint32_t own0 = b1 ? w[2] : w[0], own1 = b1 ? w[3] : w[1];
      // Lanes q and q ^ 1 swap chunks: q keeps chunk 2 b1 + b0 = q.
      uint32_t u0 = __shfl_xor_sync(~0u, b0 ? own0 : own1, 1);
      uint32_t u1 = __shfl_xor_sync(~0u, b0 ? r0 : r1, 1);
      uint32_t k0 = b0 ? own1 : own0, k1 = b0 ? r1 : r0;
      // Chunk q's words by source lane: q: k0, q ^ 1: u0, q ^ 2: k1,
      // q ^ 3: u1; the word of lane s holds columns 2s, 2s + 1.
      auto from = [&](int x) { // the word of lane q ^ x
        return x == 0 ? k0 : x == 1 ? u0 : x == 2 ? k1 : u1;
      };
      uint4 chunk = make_uint4(from(q), from(q ^ 1), from(q ^ 2), from(q ^ 3));
      int64_t col = colBase + (4 * g + q) * 8;
      if (rows[half] < m && col < n)
        *reinterpret_cast<uint4 *>(out + rows[half] * n + col) = chunk;
    }
  }
}

/// The accumulators of one consumer thread through the epilogue. wgmma's
/// D fragment: warp w of the warpgroup holds rows 16w..16w+15; per 8-column
/// chunk j a lane holds (row l/4, cols 2(l%4), +1) in d[4j], d[4j+1] and
/// the same columns 8 rows down in d[4j+2], d[4j+3]. Activation and
/// IntBias are compile-time so that the unrolled per-accumulator code holds
/// only the arithmetic this GEMM runs: with all activations inline per
/// accumulator the 128 x 256 kernel's epilogue outgrew the instruction
/// cache (ncu: 56% of stalls waiting for instructions).
template <int BlockN, int Activation, bool IntBias, typename Out>
__device__ __forceinline__ void
storeAccumulators(const int32_t (&acc)[BlockN / 2], const ColumnTerms *terms,
                  Out *out, int64_t m, int64_t n, int64_t rowBase,
                  int64_t colBase, const EpilogueParams &p) {
  int lane = threadIdx.x % 32, warp = (threadIdx.x / 32) % 4;
  int64_t rows[2] = {rowBase + warp * 16 + lane / 4,
                     rowBase + warp * 16 + lane / 4 + 8};
  float lhsScales[2] = {rows[0] < m ? lhsScaleOf(p, rows[0]) : 0.0f,
                        rows[1] < m ? lhsScaleOf(p, rows[1]) : 0.0f};
  // (Not at BlockN 128: two blocks per SM leave 96 registers a thread,
  // and the transposes spilled 700 bytes.)
  if constexpr (sizeof(Out) == 2 && BlockN == 256) {
    if (reinterpret_cast<uintptr_t>(out) % 16 == 0) {
      storeAccumulatorsWide<BlockN, Activation, IntBias>(
          acc, terms, out, m, n, rows, lhsScales, colBase, p);
      return;
    }
  }
#pragma unroll
  for (int j = 0; j < BlockN / 8; ++j) {
    int c = j * 8 + (lane % 4) * 2;
    int64_t col = colBase + c;
    if (col >= n)
      break;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      if (rows[half] >= m)
        continue;
      float a, b;
      pairValues<Activation, IntBias>(acc[4 * j + 2 * half],
                                      acc[4 * j + 2 * half + 1], terms, c,
                                      lhsScales[half], a, b);
      storePair(out + rows[half] * n + col, a, b, p);
    }
  }
}

/// The staged epilogue: this thread's outputs (the D fragment as in
/// storeAccumulators) into its warpgroup's staging boxes, 64 columns a box,
/// each 128-byte row's 16-byte chunks in the copy engine's swizzle (chunk c
/// of row r at c ^ (r % 8)): the 8 rows of a warp's store land in 8
/// different chunks, so its 4-byte stores meet no bank twice. Rows past M
/// are computed with a zero scale and clipped by the copy engine.
template <int BlockN, int Activation, bool IntBias, typename Out>
__device__ __forceinline__ void
stageAccumulators(const int32_t (&acc)[BlockN / 2], const ColumnTerms *terms,
                  uint8_t *staging, int64_t m, int64_t rowBase,
                  const EpilogueParams &p) {
  static_assert(sizeof(Out) == 2);
  int lane = threadIdx.x % 32, warp = (threadIdx.x / 32) % 4;
  int q = lane % 4;
  // Rows warp * 16 + lane / 4 (+ 8): both halves are lane / 4 modulo 8,
  // so one swizzle term serves both, and per chunk the address is this
  // thread's base plus a constant (the boxes, the half) and the chunk's
  // swizzled offset.
  uint8_t *base = staging + (warp * 16 + lane / 4) * 128 + q * 4;
  int swizzle = (lane / 4) * 16;
  float lhsScales[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    int64_t row = rowBase + warp * 16 + lane / 4 + 8 * half;
    lhsScales[half] = row < m ? lhsScaleOf(p, row) : 0.0f;
  }
#pragma unroll
  for (int chunk = 0; chunk < 8; ++chunk) {
    uint8_t *chunkBase = base + ((chunk * 16) ^ swizzle);
#pragma unroll
    for (int box = 0; box < BlockN / 64; ++box) {
      int j = box * 8 + chunk; // the 8-column chunk of the block
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        float a, b;
        pairValues<Activation, IntBias>(acc[4 * j + 2 * half],
                                        acc[4 * j + 2 * half + 1], terms,
                                        j * 8 + q * 2, lhsScales[half], a, b);
        *reinterpret_cast<uint32_t *>(
            chunkBase + box * Tiling<256, true>::kStoreBoxBytes +
            half * 8 * 128) = packedPair<Out>(a, b, p);
      }
    }
  }
}

/// The output block of unit `unit` for the CTA of rank `rank` in its
/// cluster. A unit is Cluster row blocks side by side in one column block
/// (the CTAs of a cluster share its W tile). Units run in groups of
/// kGroupRows row blocks, column by column inside a group, so the blocks
/// resident at once share a few rows of X and a band of W's columns that
/// stay in L2; row-major order would sweep all of W (up to 128 MB for a
/// 16384 x 4096 weight) through L2 in every wave.
constexpr int kGroupRows = 8;
template <int BlockN, int Cluster>
__device__ __forceinline__ void blockOrigin(int unit, int rank, int64_t m,
                                            int64_t n, int &rowBlock,
                                            int &colBlock) {
  constexpr int kGroupUnits = kGroupRows / Cluster;
  int rowBlocks = int((m + kSm90GemmBlockM - 1) / kSm90GemmBlockM);
  int rowUnits = (rowBlocks + Cluster - 1) / Cluster;
  int colBlocks = int((n + BlockN - 1) / BlockN);
  int groupSize = kGroupUnits * colBlocks;
  int firstRow = (unit / groupSize) * kGroupUnits;
  int rowsInGroup = min(kGroupUnits, rowUnits - firstRow);
  int inGroup = unit % groupSize;
  rowBlock =
      ((firstRow + inGroup % rowsInGroup) * Cluster + rank) * kSm90GemmBlockM;
  colBlock = (inGroup / rowsInGroup) * BlockN;
}

/// The block's epilogue with its activation and int bias as compile-time
/// arguments (see storeAccumulators).
template <int BlockN, typename Out>
__device__ __forceinline__ void
storeOutputs(const int32_t (&acc)[BlockN / 2], const ColumnTerms *terms,
             Out *out, int64_t m, int64_t n, int64_t rowBase, int64_t colBase,
             const EpilogueParams &p) {
  withActivation(p.activation, [&](auto activation) {
    constexpr int kActivation = decltype(activation)::value;
    if (p.biasInt)
      storeAccumulators<BlockN, kActivation, true>(acc, terms, out, m, n,
                                                   rowBase, colBase, p);
    else
      storeAccumulators<BlockN, kActivation, false>(acc, terms, out, m, n,
                                                    rowBase, colBase, p);
  });
}

/// stageAccumulators with the activation and int bias compile-time.
template <int BlockN, typename Out>
__device__ __forceinline__ void
stageOutputs(const int32_t (&acc)[BlockN / 2], const ColumnTerms *terms,
             uint8_t *staging, int64_t m, int64_t rowBase,
             const EpilogueParams &p) {
  withActivation(p.activation, [&](auto activation) {
    constexpr int kActivation = decltype(activation)::value;
    if (p.biasInt)
      stageAccumulators<BlockN, kActivation, true, Out>(acc, terms, staging, m,
                                                        rowBase, p);
    else
      stageAccumulators<BlockN, kActivation, false, Out>(acc, terms, staging, m,
                                                         rowBase, p);
  });
}

#endif // __CUDA_ARCH_FEAT_SM90_ALL

template <int BlockN>
__device__ __forceinline__ void wgmma(int32_t (&acc)[BlockN / 2], uint64_t a,
                                      uint64_t b, int accumulate) {
  if constexpr (BlockN == 256)
    wgmma256(acc, a, b, accumulate);
  else
    wgmma128(acc, a, b, accumulate);
}

/// The fused GEMM. Cluster 1: each CTA loads its X and W tiles. Cluster 2
/// (BlockN 256): the two CTAs of a cluster compute vertically adjacent
/// output blocks of one column block and each loads half of the shared W
/// tile into both CTAs' shared memory (multicast): a third fewer bytes
/// from L2 per product (3-8% faster at hidden 4096 on the H100; the main
/// loop was not L2-bound, ncu: 59% of L2 throughput). A stage is then
/// refilled only once the consumers of both CTAs have released it.
template <int BlockN, int Cluster, typename Out, bool Staged>
__global__ void __launch_bounds__(kThreads,
                                  Tiling<BlockN, Staged>::kBlocksPerSM)
    int8GemmKernel(const __grid_constant__ CUtensorMap lhsMap,
                   const __grid_constant__ CUtensorMap rhsMap,
                   const __grid_constant__ CUtensorMap outMap,
                   Out *__restrict__ out, int64_t m, int64_t n, int64_t k,
                   EpilogueParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  static_assert(Cluster == 1 || (Cluster == 2 && BlockN == 256));
  static_assert(!Staged || sizeof(Out) == 2);
  using Tile = Tiling<BlockN, Staged>;
  constexpr int kStages = Tile::kStages;
  constexpr int kRhsPartRows = BlockN / Cluster; // W rows each CTA loads
  extern __shared__ uint8_t rawShared[];
  uint8_t *shared = reinterpret_cast<uint8_t *>(
      (reinterpret_cast<uintptr_t>(rawShared) + 1023) & ~uintptr_t(1023));
  uint8_t *lhsTiles = shared;
  uint8_t *rhsTiles = shared + kStages * kLhsTileBytes;
  uint8_t *staging = rhsTiles + kStages * Tile::kRhsTileBytes;
  auto *columnTerms =
      reinterpret_cast<ColumnTerms *>(staging + Tile::kStagingBytes);
  uint64_t *full = reinterpret_cast<uint64_t *>(
      reinterpret_cast<uint8_t *>(columnTerms) + Tile::kColumnBytes);
  uint64_t *empty = full + kStages;
  constexpr int kConsumerWarps = kConsumerThreads / 32;
  int rank = Cluster == 1 ? 0 : int(clusterRank());
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      barrierInit(&full[s], 1);
      barrierInit(&empty[s], kConsumerWarps * Cluster);
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  // Both CTAs' mbarriers exist before either copies into the other.
  if constexpr (Cluster == 1)
    __syncthreads();
  else
    clusterSync();

  int kTiles = int((k + kSm90GemmBlockK - 1) / kSm90GemmBlockK);
  int rowBlocks = int((m + kSm90GemmBlockM - 1) / kSm90GemmBlockM);
  int units =
      ((rowBlocks + Cluster - 1) / Cluster) * int((n + BlockN - 1) / BlockN);
  int firstUnit = int(blockIdx.x) / Cluster, unitStride = gridDim.x / Cluster;

  // Persistent: each CTA takes units firstUnit, + unitStride, ... Producer
  // and consumers walk the same sequence of K slices across all of them
  // (`slice` counts on from one output block to the next), so the producer
  // fills the next block's stages while the consumers run this block's
  // epilogue.
  if (threadIdx.x >= kConsumerThreads) { // the producer warp
    if (threadIdx.x == kConsumerThreads) {
      asm volatile(
          "prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(&lhsMap))
          : "memory");
      asm volatile(
          "prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(&rhsMap))
          : "memory");
      int slice = 0;
      for (int unit = firstUnit; unit < units; unit += unitStride) {
        int rowBlock, colBlock;
        blockOrigin<BlockN, Cluster>(unit, rank, m, n, rowBlock, colBlock);
        // A row block past the end (the second of a cluster's pair) loads
        // its partner's rows, to keep the pair's stages in step, and
        // stores nothing; likewise a W half past the last column.
        int lhsRow = min(rowBlock, (rowBlocks - 1) * kSm90GemmBlockM);
        int rhsRow = colBlock + rank * kRhsPartRows;
        if (rhsRow >= n)
          rhsRow = colBlock;
        for (int t = 0; t < kTiles; ++t, ++slice) {
          int s = slice % kStages;
          if (slice >= kStages) // the stage's previous slice released
            barrierWait(&empty[s], ((slice / kStages) - 1) & 1);
          barrierExpectBytes(&full[s], Tile::kStageBytes);
          copyTile(lhsTiles + s * kLhsTileBytes, &lhsMap, t * kSm90GemmBlockK,
                   lhsRow, &full[s]);
          uint8_t *rhsPart = rhsTiles + s * Tile::kRhsTileBytes +
                             rank * kRhsPartRows * kSm90GemmBlockK;
          if constexpr (Cluster == 1)
            copyTile(rhsPart, &rhsMap, t * kSm90GemmBlockK, rhsRow, &full[s]);
          else
            copyTileMulticast(rhsPart, &rhsMap, t * kSm90GemmBlockK, rhsRow,
                              &full[s], uint16_t((1 << Cluster) - 1));
        }
      }
    }
  } else {
    int consumer = threadIdx.x / 128; // warpgroup 0 or 1
    // (Staged) the thread that stores its warpgroup's outputs.
    bool storeIssuer = threadIdx.x % 128 == 0;
    ColumnTerms *terms = columnTerms + consumer * BlockN;
    // Not zeroed: each block's first product overwrites (scale-d false); a
    // register written by an ordinary instruction would serialize the
    // wgmma pipeline.
    int32_t acc[Tile::kAccumulators];
    auto release = [&](int s) {
      if (threadIdx.x % 32 != 0)
        return;
      if constexpr (Cluster == 1)
        barrierArrive(&empty[s]);
      else
        for (int r = 0; r < Cluster; ++r)
          barrierArriveCluster(&empty[s], uint32_t(r));
    };
    int slice = 0;
    for (int unit = firstUnit; unit < units; unit += unitStride) {
      int rowBlock, colBlock;
      blockOrigin<BlockN, Cluster>(unit, rank, m, n, rowBlock, colBlock);
      ColumnShare<BlockN> share;
      share.load(n, colBlock, p);
      for (int t = 0; t < kTiles; ++t, ++slice) {
        int s = slice % kStages;
        barrierWait(&full[s], (slice / kStages) & 1);
        const uint8_t *a = lhsTiles + s * kLhsTileBytes + consumer * 64 * 128;
        const uint8_t *b = rhsTiles + s * Tile::kRhsTileBytes;
        wgmmaFence();
#pragma unroll
        for (int step = 0; step < kSm90GemmBlockK / 32; ++step)
          wgmma<BlockN>(acc, operandDescriptor(a + step * 32),
                        operandDescriptor(b + step * 32), t > 0 || step > 0);
        wgmmaCommit();
        // The previous slice's products are done: its stage may be refilled.
        wgmmaWait<1>();
        if (t > 0)
          release((slice - 1) % kStages);
      }
      wgmmaWait<0>();
      fenceAccumulators(acc);
      release((slice - 1) % kStages); // the block's last, before its epilogue
      // The warpgroup's previous epilogue has read its column terms (and
      // the copy engine its staged outputs): replace them, and wait until
      // all are written.
      if constexpr (Staged)
        if (storeIssuer)
          storeWaitRead<0>();
      warpgroupBarrier(consumer);
      share.store(terms);
      warpgroupBarrier(consumer);
      if constexpr (Staged) {
        uint8_t *mine =
            staging + consumer * (BlockN / 64) * Tile::kStoreBoxBytes;
        stageOutputs<BlockN, Out>(acc, terms, mine, m, rowBlock + consumer * 64,
                                  p);
        fenceSharedForCopies();
        warpgroupBarrier(consumer);
        if (storeIssuer) {
#pragma unroll
          for (int b = 0; b < BlockN / 64; ++b)
            if (colBlock + 64 * b < n)
              storeTile(&outMap, mine + b * Tile::kStoreBoxBytes,
                        colBlock + 64 * b, rowBlock + consumer * 64);
          storeCommit();
        }
      } else {
        storeOutputs<BlockN>(acc, terms, out, m, n, rowBlock + consumer * 64,
                             colBlock, p);
      }
    }
    if constexpr (Staged)
      if (storeIssuer)
        storeWaitAll();
  }
  // No CTA of a cluster leaves while the other may still arrive on its
  // mbarriers.
  if constexpr (Cluster > 1)
    clusterSync();
#else
  __trap(); // never launched: int8GemmSm90Available() is false
#endif
}

/// Clusters (of Cluster CTAs) resident at once of `kernel` with `config`,
/// asked once per device and kernel.
template <int BlockN, int Cluster, typename Out, bool Staged>
cudaError_t residentClusters(int device, const cudaLaunchConfig_t &config,
                             int &clusters) {
  static std::atomic<int> known[kMaxDevices];
  if (device < kMaxDevices && known[device].load() > 0) {
    clusters = known[device].load();
    return cudaSuccess;
  }
  cudaError_t status = cudaOccupancyMaxActiveClusters(
      &clusters, int8GemmKernel<BlockN, Cluster, Out, Staged>, &config);
  if (status == cudaSuccess && clusters <= 0)
    status = cudaErrorInvalidConfiguration;
  if (status == cudaSuccess && device < kMaxDevices)
    known[device].store(clusters);
  return status;
}

template <int BlockN, int Cluster, typename Out, bool Staged = false>
cudaError_t launchTiled(const Sm90GemmArgs &args, const EpilogueParams &p,
                        cudaStream_t stream) {
  auto kernel = int8GemmKernel<BlockN, Cluster, Out, Staged>;
  int bytes = Tiling<BlockN, Staged>::kSharedBytes;
  cudaError_t status = cudaFuncSetAttribute(
      kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (status != cudaSuccess)
    return status;
  int64_t rowBlocks = (args.m + kSm90GemmBlockM - 1) / kSm90GemmBlockM;
  int64_t units =
      ((rowBlocks + Cluster - 1) / Cluster) * ((args.n + BlockN - 1) / BlockN);
  cudaLaunchAttribute clusterShape{};
  clusterShape.id = cudaLaunchAttributeClusterDimension;
  clusterShape.val.clusterDim.x = Cluster;
  clusterShape.val.clusterDim.y = 1;
  clusterShape.val.clusterDim.z = 1;
  cudaLaunchConfig_t config{};
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = size_t(bytes);
  config.stream = stream;
  config.attrs = &clusterShape;
  config.numAttrs = 1;
  config.gridDim = dim3(unsigned(units * Cluster));
  int64_t clusters = units;
  if (args.persistent) { // as many clusters as are resident at once
    int device = 0, resident = 0;
    status = cudaGetDevice(&device);
    if (status == cudaSuccess)
      status = residentClusters<BlockN, Cluster, Out, Staged>(device, config,
                                                              resident);
    if (status != cudaSuccess)
      return status;
    clusters = std::min<int64_t>(units, resident);
  }
  config.gridDim = dim3(unsigned(clusters * Cluster));
  return cudaLaunchKernelEx(&config, kernel, args.lhs, args.rhs, args.outMap,
                            static_cast<Out *>(args.out), args.m, args.n,
                            args.k, p);
}

template <typename Out>
cudaError_t launchTyped(const Sm90GemmArgs &args, const EpilogueParams &p,
                        cudaStream_t stream) {
  if (args.blockN == 128)
    return launchTiled<128, 1, Out>(args, p, stream);
  if constexpr (sizeof(Out) == 2) {
    if (args.stagedStore)
      return args.cluster == 2
                 ? launchTiled<256, 2, Out, true>(args, p, stream)
                 : launchTiled<256, 1, Out, true>(args, p, stream);
  }
  return args.cluster == 2 ? launchTiled<256, 2, Out>(args, p, stream)
                           : launchTiled<256, 1, Out>(args, p, stream);
}

} // namespace

bool currentDeviceRunsSm90a(const void *kernel) {
  int device = 0, major = 0, minor = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor,
                             device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor,
                             device) != cudaSuccess)
    return false;
  if (major != 9 || minor != 0)
    return false;
  // The sm_90a image loads only where it was built for.
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, kernel) == cudaSuccess;
}

bool int8GemmSm90Available() {
  return currentDeviceRunsSm90a(
      reinterpret_cast<const void *>(int8GemmKernel<128, 1, __half, false>));
}

cudaError_t launchInt8GemmSm90(const Sm90GemmArgs &args,
                               const EpilogueParams &p, cudaStream_t stream) {
  switch (args.outType) {
  case QFORGE_F32:
    return launchTyped<float>(args, p, stream);
  case QFORGE_F16:
    return launchTyped<__half>(args, p, stream);
  case QFORGE_BF16:
    return launchTyped<__nv_bfloat16>(args, p, stream);
  case QFORGE_I8:
    return launchTyped<int8_t>(args, p, stream);
  default:
    return cudaErrorInvalidValue;
  }
}

} // namespace qforge::rt::cuda
