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
// The epilogue is numerics.h's epilogueValue + EpilogueStore
// (epilogue.cuh): the same arithmetic in the same order as the separate
// epilogue pass and the CPU reference, so results are bit-identical to the
// cuBLASLt path.
//
//===----------------------------------------------------------------------===//

#include "gemm_sm90.h"

#include "epilogue.cuh"
#include "sm90.cuh"

#include <type_traits>

namespace qforge::rt::cuda {
namespace {

constexpr int kConsumerThreads = 256;           // warpgroups 0 and 1
constexpr int kThreads = kConsumerThreads + 32; // + the producer warp
constexpr int kLhsTileBytes = kSm90GemmBlockM * kSm90GemmBlockK;

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
template <int BlockN> struct Tiling {
  static_assert(BlockN == 128 || BlockN == 256);
  static constexpr int kBlocksPerSM = BlockN == 128 ? 2 : 1;
  static constexpr int kStages = BlockN == 128 ? 3 : 4;
  static constexpr int kRhsTileBytes = BlockN * kSm90GemmBlockK;
  static constexpr int kStageBytes = kLhsTileBytes + kRhsTileBytes;
  // Tiles, each consumer's column terms, 2 mbarriers per stage, plus
  // slack to align the start to 1024 bytes (the 128-byte swizzle pattern
  // repeats every 8 rows).
  static constexpr int kColumnBytes = 2 * BlockN * 16;
  static constexpr int kSharedBytes =
      kStages * kStageBytes + kColumnBytes + 2 * kStages * 8 + 1024;
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

/// Each consumer warpgroup's copy of its block's column terms (thread t
/// loads columns t, t + 128, ...); ready after the warpgroup's barrier.
template <int BlockN>
__device__ __forceinline__ void stageColumnTerms(ColumnTerms *terms, int64_t n,
                                                 int64_t colBase,
                                                 const EpilogueParams &p) {
#pragma unroll
  for (int c = threadIdx.x % 128; c < BlockN; c += 128) {
    int64_t col = colBase + c;
    ColumnTerms t{0.0f, 0, 0.0f};
    if (col < n) {
      t.scale = rhsScaleOf(p, 0, col);
      t.biasInt = p.biasInt ? p.biasInt[col] : 0;
      t.biasFloat = p.biasFloat ? p.biasFloat[col] : 0.0f;
    }
    terms[c] = t;
  }
}

/// numerics.h's gelu as a call: inlined at each of the 128 accumulators of
/// a 128 x 256 block, erf's code alone outgrew the instruction cache (the
/// GELU GEMM ran at half speed). Same arithmetic, so the same bits:
/// epilogueValue applies its activation last, to the value computed here
/// with none.
__device__ __noinline__ float geluOutOfLine(float x) { return gelu(x); }
constexpr int kLinear = 0; // epilogueValue's "no activation"

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
#pragma unroll
  for (int j = 0; j < BlockN / 8; ++j) {
    int c = j * 8 + (lane % 4) * 2;
    int64_t col = colBase + c;
    if (col >= n)
      break;
    ColumnTerms first = terms[c], second = terms[c + 1];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      if (rows[half] >= m)
        continue;
      float a =
          epilogueValue(acc[4 * j + 2 * half], IntBias ? first.biasInt : 0,
                        lhsScales[half], first.scale, first.biasFloat, kLinear);
      float b = epilogueValue(acc[4 * j + 2 * half + 1],
                              IntBias ? second.biasInt : 0, lhsScales[half],
                              second.scale, second.biasFloat, kLinear);
      if constexpr (Activation == 1) {
        a = relu(a);
        b = relu(b);
      } else if constexpr (Activation == 2) {
        a = geluOutOfLine(a);
        b = geluOutOfLine(b);
      }
      storePair(out + rows[half] * n + col, a, b, p);
    }
  }
}

/// The output block of this CTA (1-D grid). Blocks run in groups of
/// kGroupRows row blocks, column by column inside a group, so the blocks
/// resident at once share a few rows of X and a band of W's columns that
/// stay in L2; row-major order would sweep all of W (up to 128 MB for a
/// 16384 x 4096 weight) through L2 in every wave.
constexpr int kGroupRows = 8;
template <int BlockN>
__device__ __forceinline__ void blockOrigin(int64_t m, int64_t n, int &rowBlock,
                                            int &colBlock) {
  int rowBlocks = int((m + kSm90GemmBlockM - 1) / kSm90GemmBlockM);
  int colBlocks = int((n + BlockN - 1) / BlockN);
  int id = int(blockIdx.x);
  int groupSize = kGroupRows * colBlocks;
  int firstRow = (id / groupSize) * kGroupRows;
  int rowsInGroup = min(kGroupRows, rowBlocks - firstRow);
  int inGroup = id % groupSize;
  rowBlock = (firstRow + inGroup % rowsInGroup) * kSm90GemmBlockM;
  colBlock = (inGroup / rowsInGroup) * BlockN;
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

template <int BlockN, typename Out>
__global__ void __launch_bounds__(kThreads, Tiling<BlockN>::kBlocksPerSM)
    int8GemmKernel(const __grid_constant__ CUtensorMap lhsMap,
                   const __grid_constant__ CUtensorMap rhsMap,
                   Out *__restrict__ out, int64_t m, int64_t n, int64_t k,
                   EpilogueParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Tile = Tiling<BlockN>;
  constexpr int kStages = Tile::kStages;
  extern __shared__ uint8_t rawShared[];
  uint8_t *shared = reinterpret_cast<uint8_t *>(
      (reinterpret_cast<uintptr_t>(rawShared) + 1023) & ~uintptr_t(1023));
  uint8_t *lhsTiles = shared;
  uint8_t *rhsTiles = shared + kStages * kLhsTileBytes;
  auto *columnTerms =
      reinterpret_cast<ColumnTerms *>(rhsTiles + kStages * Tile::kRhsTileBytes);
  uint64_t *full = reinterpret_cast<uint64_t *>(
      reinterpret_cast<uint8_t *>(columnTerms) + Tile::kColumnBytes);
  uint64_t *empty = full + kStages;
  constexpr int kConsumerWarps = kConsumerThreads / 32;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      barrierInit(&full[s], 1);
      barrierInit(&empty[s], kConsumerWarps);
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();

  int kTiles = int((k + kSm90GemmBlockK - 1) / kSm90GemmBlockK);
  int rowBlock, colBlock;
  blockOrigin<BlockN>(m, n, rowBlock, colBlock);

  if (threadIdx.x >= kConsumerThreads) { // the producer warp
    if (threadIdx.x != kConsumerThreads)
      return;
    asm volatile(
        "prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(&lhsMap))
        : "memory");
    asm volatile(
        "prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(&rhsMap))
        : "memory");
    for (int t = 0; t < kTiles; ++t) {
      int s = t % kStages;
      if (t >= kStages) // the stage's previous tile released by all warps
        barrierWait(&empty[s], ((t / kStages) - 1) & 1);
      barrierExpectBytes(&full[s], Tile::kStageBytes);
      copyTile(lhsTiles + s * kLhsTileBytes, &lhsMap, t * kSm90GemmBlockK,
               rowBlock, &full[s]);
      copyTile(rhsTiles + s * Tile::kRhsTileBytes, &rhsMap, t * kSm90GemmBlockK,
               colBlock, &full[s]);
    }
    return;
  }

  int consumer = threadIdx.x / 128; // warpgroup 0 or 1
  ColumnTerms *terms = columnTerms + consumer * BlockN;
  stageColumnTerms<BlockN>(terms, n, colBlock, p);
  // The warpgroup's column terms are all written (named barrier 1 or 2:
  // 0 is __syncthreads', which the producer warp, gone, no longer joins).
  // Immediate ids: a register id makes ptxas reserve all 16 barriers,
  // which would allow one block per SM.
  if (consumer == 0)
    asm volatile("bar.sync 1, 128;" ::: "memory");
  else
    asm volatile("bar.sync 2, 128;" ::: "memory");
  // Not zeroed: the first product overwrites (scale-d false); a register
  // written by an ordinary instruction would serialize the wgmma pipeline.
  int32_t acc[Tile::kAccumulators];
  for (int t = 0; t < kTiles; ++t) {
    int s = t % kStages;
    barrierWait(&full[s], (t / kStages) & 1);
    const uint8_t *a = lhsTiles + s * kLhsTileBytes + consumer * 64 * 128;
    const uint8_t *b = rhsTiles + s * Tile::kRhsTileBytes;
    wgmmaFence();
#pragma unroll
    for (int step = 0; step < kSm90GemmBlockK / 32; ++step)
      wgmma<BlockN>(acc, operandDescriptor(a + step * 32),
                    operandDescriptor(b + step * 32), t > 0 || step > 0);
    wgmmaCommit();
    // The previous tile's products are done: its stage may be refilled.
    wgmmaWait<1>();
    if (t > 0 && threadIdx.x % 32 == 0)
      barrierArrive(&empty[(t - 1) % kStages]);
  }
  wgmmaWait<0>();
  fenceAccumulators(acc);
  auto store = [&](auto activation, auto intBias) {
    storeAccumulators<BlockN, decltype(activation)::value,
                      decltype(intBias)::value>(
        acc, terms, out, m, n, rowBlock + consumer * 64, colBlock, p);
  };
  using NoIntBias = std::false_type;
  using IntBias = std::true_type;
  if (p.biasInt) {
    if (p.activation == 1)
      store(std::integral_constant<int, 1>{}, IntBias{});
    else if (p.activation == 2)
      store(std::integral_constant<int, 2>{}, IntBias{});
    else
      store(std::integral_constant<int, 0>{}, IntBias{});
  } else {
    if (p.activation == 1)
      store(std::integral_constant<int, 1>{}, NoIntBias{});
    else if (p.activation == 2)
      store(std::integral_constant<int, 2>{}, NoIntBias{});
    else
      store(std::integral_constant<int, 0>{}, NoIntBias{});
  }
#else
  __trap(); // never launched: int8GemmSm90Available() is false
#endif
}

template <int BlockN, typename Out>
cudaError_t launchTiled(const Sm90GemmArgs &args, const EpilogueParams &p,
                        cudaStream_t stream) {
  auto kernel = int8GemmKernel<BlockN, Out>;
  int bytes = Tiling<BlockN>::kSharedBytes;
  cudaError_t status = cudaFuncSetAttribute(
      kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (status != cudaSuccess)
    return status;
  dim3 grid(unsigned(((args.n + BlockN - 1) / BlockN) *
                     ((args.m + kSm90GemmBlockM - 1) / kSm90GemmBlockM)));
  kernel<<<grid, kThreads, bytes, stream>>>(args.lhs, args.rhs,
                                            static_cast<Out *>(args.out),
                                            args.m, args.n, args.k, p);
  return cudaGetLastError();
}

template <typename Out>
cudaError_t launchTyped(const Sm90GemmArgs &args, const EpilogueParams &p,
                        cudaStream_t stream) {
  return args.blockN == 256 ? launchTiled<256, Out>(args, p, stream)
                            : launchTiled<128, Out>(args, p, stream);
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
      reinterpret_cast<const void *>(int8GemmKernel<128, __half>));
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
