//===- gemm_sm90.cu - int8 GEMM on Hopper, epilogue fused ------*- CUDA -*-===//
//
// A warp-specialized kernel of 9 warps per 128 x 128 output block. Warp 8
// (one thread) streams 128-byte-wide K slices of X and W into a ring of
// shared memory stages with the tensor copy engine, each stage completing
// on a "full" mbarrier. Warpgroups 0 and 1 each multiply 64 rows of a stage
// with wgmma m64n128k32 (s8 x s8 -> s32, operands read from shared memory
// in the 128-byte swizzle the copy engine wrote), keep one stage's products
// in flight, and release a stage through its "empty" mbarrier once the
// products reading it are done. Rows, columns and K beyond the matrix
// arrive as zeros from the copy engine (its out-of-bounds fill), so any M
// and K work; the epilogue skips rows and columns past the end.
//
// Two blocks share an SM (3 stages each), so that one block's epilogue
// runs while the other's main loop keeps the tensor cores busy; 288
// threads x 2 blocks leave each thread 112 registers, which the 64
// accumulators fit. (A producer warpgroup with setmaxnreg would leave 80
// registers at two blocks per SM: too few for wgmma n128.)
//
// The epilogue is numerics.h's epilogueValue + EpilogueStore
// (epilogue.cuh): the same arithmetic in the same order as the separate
// epilogue pass and the CPU reference, so results are bit-identical to the
// cuBLASLt path.
//
//===----------------------------------------------------------------------===//

#include "gemm_sm90.h"

#include "epilogue.cuh"

namespace qforge::rt::cuda {
namespace {

constexpr int kConsumerThreads = 256;           // warpgroups 0 and 1
constexpr int kThreads = kConsumerThreads + 32; // + the producer warp
constexpr int kLhsTileBytes = kSm90GemmBlockM * kSm90GemmBlockK;
constexpr int kBlockN = kSm90GemmBlockN;
constexpr int kAccumulators = kBlockN / 2; // 64 x kBlockN per warpgroup

/// The epilogue's per-column operands, staged in shared memory before the
/// main loop: read from global memory between the epilogue's stores, the
/// compiler could not hoist them past the stores (the pointers may alias)
/// and each column pair waited a full load latency.
struct alignas(16) ColumnTerms {
  float scale;
  int32_t biasInt;
  float biasFloat;
};

/// The pipeline of one kernel variant: one block per SM gets 6 stages, two
/// blocks per SM 3 each.
template <int BlocksPerSM> struct Tiling {
  static constexpr int kStages = BlocksPerSM == 2 ? 3 : 6;
  static constexpr int kRhsTileBytes = kBlockN * kSm90GemmBlockK;
  static constexpr int kStageBytes = kLhsTileBytes + kRhsTileBytes;
  // Tiles, each consumer's column terms, 2 mbarriers per stage, plus
  // slack to align the start to 1024 bytes (the 128-byte swizzle pattern
  // repeats every 8 rows).
  static constexpr int kColumnBytes = 2 * kBlockN * 16;
  static constexpr int kSharedBytes =
      kStages * kStageBytes + kColumnBytes + 2 * kStages * 8 + 1024;
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

__device__ __forceinline__ uint32_t sharedAddress(const void *p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void barrierInit(uint64_t *bar, int count) {
  asm volatile(
      "mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(sharedAddress(bar)),
      "r"(count));
}

/// Arms `bar` for one phase that completes when `bytes` have landed.
__device__ __forceinline__ void barrierExpectBytes(uint64_t *bar,
                                                   uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(
                   sharedAddress(bar)),
               "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void barrierArrive(uint64_t *bar) {
  asm volatile(
      "mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(sharedAddress(bar))
      : "memory");
}

/// Spins until the phase of parity `parity` of `bar` has completed.
__device__ __forceinline__ void barrierWait(uint64_t *bar, uint32_t parity) {
  uint32_t done = 0;
  while (!done)
    asm volatile("{\n"
                 ".reg .pred complete;\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 complete, [%1], "
                 "%2;\n"
                 "selp.u32 %0, 1, 0, complete;\n"
                 "}\n"
                 : "=r"(done)
                 : "r"(sharedAddress(bar)), "r"(parity)
                 : "memory");
}

/// Copies the box at (x = K offset, y = row) of `map` into `dst`.
__device__ __forceinline__ void copyTile(void *dst, const CUtensorMap *map,
                                         int x, int y, uint64_t *bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier:"
               ":complete_tx::bytes [%0], [%1, {%2, %3}], [%4];" ::"r"(
                   sharedAddress(dst)),
               "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y),
               "r"(sharedAddress(bar))
               : "memory");
}

/// The wgmma descriptor of a K-major operand in 128-byte swizzle: rows of
/// 128 bytes, 8-row groups 1024 bytes apart; stepping K by 32 bytes inside
/// the row is a 32-byte step of the start address.
__device__ __forceinline__ uint64_t operandDescriptor(const void *tile) {
  uint64_t address = sharedAddress(tile);
  uint64_t descriptor = (address & 0x3FFFF) >> 4;
  descriptor |= uint64_t(16 >> 4) << 16;   // leading offset: unused here
  descriptor |= uint64_t(1024 >> 4) << 32; // stride between 8-row groups
  descriptor |= uint64_t(1) << 62;         // 128-byte swizzle
  return descriptor;
}

__device__ __forceinline__ void wgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
}
__device__ __forceinline__ void wgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
}
/// Pins the accumulators in place: an empty asm that "writes" each one, so
/// the compiler moves no read of them above a wgmma wait (the asm of the
/// wait does not name them) and no write below one.
template <int N>
__device__ __forceinline__ void fenceAccumulators(int32_t (&acc)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
    asm volatile("" : "+r"(acc[i])::"memory");
}

template <int Pending> __device__ __forceinline__ void wgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(Pending) : "memory");
}

/// D(64 x 128, s32) += A(64 x 32, s8) * B(128 x 32, s8)^T, both operands
/// read from shared memory through their descriptors.
__device__ __forceinline__ void wgmma128(int32_t (&d)[64], uint64_t a,
                                         uint64_t b, int accumulate) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "
      "%30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "
      "%46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "
      "%62, %63}, "
      "%64, %65, p;\n"
      "}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]),
        "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]),
        "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]),
        "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]),
        "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]),
        "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]),
        "+r"(d[31]), "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]),
        "+r"(d[36]), "+r"(d[37]), "+r"(d[38]), "+r"(d[39]), "+r"(d[40]),
        "+r"(d[41]), "+r"(d[42]), "+r"(d[43]), "+r"(d[44]), "+r"(d[45]),
        "+r"(d[46]), "+r"(d[47]), "+r"(d[48]), "+r"(d[49]), "+r"(d[50]),
        "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]),
        "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]),
        "+r"(d[61]), "+r"(d[62]), "+r"(d[63])
      : "l"(a), "l"(b), "r"(accumulate));
}

/// Stores two adjacent outputs of one row (col even, N % 8 == 0).
template <typename Out>
__device__ __forceinline__ void storePair(Out *dst, float first, float second,
                                          const EpilogueParams &p) {
  Pack<2, Out> pair;
  pair.v[0] = EpilogueStore<Out>::apply(first, p);
  pair.v[1] = EpilogueStore<Out>::apply(second, p);
  *reinterpret_cast<Pack<2, Out> *>(dst) = pair;
}

/// The accumulators of one consumer thread through the epilogue. wgmma's
/// D fragment: warp w of the warpgroup holds rows 16w..16w+15; per 8-column
/// chunk j a lane holds (row l/4, cols 2(l%4), +1) in d[4j], d[4j+1] and
/// the same columns 8 rows down in d[4j+2], d[4j+3].
/// Each consumer warpgroup's copy of its block's column terms (thread t
/// loads columns t, t + 128, ...); ready after the warpgroup's barrier.
__device__ __forceinline__ void stageColumnTerms(ColumnTerms *terms, int64_t n,
                                                 int64_t colBase,
                                                 const EpilogueParams &p) {
#pragma unroll
  for (int c = threadIdx.x % 128; c < kBlockN; c += 128) {
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

/// The accumulators of one consumer thread through the epilogue. wgmma's
/// D fragment: warp w of the warpgroup holds rows 16w..16w+15; per 8-column
/// chunk j a lane holds (row l/4, cols 2(l%4), +1) in d[4j], d[4j+1] and
/// the same columns 8 rows down in d[4j+2], d[4j+3].
template <typename Out>
__device__ __forceinline__ void
storeAccumulators(const int32_t (&acc)[kAccumulators], const ColumnTerms *terms,
                  Out *out, int64_t m, int64_t n, int64_t rowBase,
                  int64_t colBase, const EpilogueParams &p) {
  int lane = threadIdx.x % 32, warp = (threadIdx.x / 32) % 4;
  int64_t rows[2] = {rowBase + warp * 16 + lane / 4,
                     rowBase + warp * 16 + lane / 4 + 8};
  float lhsScales[2] = {rows[0] < m ? lhsScaleOf(p, rows[0]) : 0.0f,
                        rows[1] < m ? lhsScaleOf(p, rows[1]) : 0.0f};
#pragma unroll
  for (int j = 0; j < kBlockN / 8; ++j) {
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
          epilogueValue(acc[4 * j + 2 * half], first.biasInt, lhsScales[half],
                        first.scale, first.biasFloat, p.activation);
      float b = epilogueValue(acc[4 * j + 2 * half + 1], second.biasInt,
                              lhsScales[half], second.scale, second.biasFloat,
                              p.activation);
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
__device__ __forceinline__ void blockOrigin(int64_t m, int64_t n, int &rowBlock,
                                            int &colBlock) {
  int rowBlocks = int((m + kSm90GemmBlockM - 1) / kSm90GemmBlockM);
  int colBlocks = int((n + kBlockN - 1) / kBlockN);
  int id = int(blockIdx.x);
  int groupSize = kGroupRows * colBlocks;
  int firstRow = (id / groupSize) * kGroupRows;
  int rowsInGroup = min(kGroupRows, rowBlocks - firstRow);
  int inGroup = id % groupSize;
  rowBlock = (firstRow + inGroup % rowsInGroup) * kSm90GemmBlockM;
  colBlock = (inGroup / rowsInGroup) * kBlockN;
}

#endif // __CUDA_ARCH_FEAT_SM90_ALL

template <int BlocksPerSM, typename Out>
__global__ void __launch_bounds__(kThreads, BlocksPerSM)
    int8GemmKernel(const __grid_constant__ CUtensorMap lhsMap,
                   const __grid_constant__ CUtensorMap rhsMap,
                   Out *__restrict__ out, int64_t m, int64_t n, int64_t k,
                   EpilogueParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Tile = Tiling<BlocksPerSM>;
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
  blockOrigin(m, n, rowBlock, colBlock);

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
  ColumnTerms *terms = columnTerms + consumer * kBlockN;
  stageColumnTerms(terms, n, colBlock, p);
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
  int32_t acc[kAccumulators];
  for (int t = 0; t < kTiles; ++t) {
    int s = t % kStages;
    barrierWait(&full[s], (t / kStages) & 1);
    const uint8_t *a = lhsTiles + s * kLhsTileBytes + consumer * 64 * 128;
    const uint8_t *b = rhsTiles + s * Tile::kRhsTileBytes;
    wgmmaFence();
#pragma unroll
    for (int step = 0; step < kSm90GemmBlockK / 32; ++step)
      wgmma128(acc, operandDescriptor(a + step * 32),
               operandDescriptor(b + step * 32), t > 0 || step > 0);
    wgmmaCommit();
    // The previous tile's products are done: its stage may be refilled.
    wgmmaWait<1>();
    if (t > 0 && threadIdx.x % 32 == 0)
      barrierArrive(&empty[(t - 1) % kStages]);
  }
  wgmmaWait<0>();
  fenceAccumulators(acc);
  storeAccumulators(acc, terms, out, m, n, rowBlock + consumer * 64, colBlock,
                    p);
#else
  __trap(); // never launched: int8GemmSm90Available() is false
#endif
}

template <int BlocksPerSM, typename Out>
cudaError_t launchTiled(const Sm90GemmArgs &args, const EpilogueParams &p,
                        cudaStream_t stream) {
  auto kernel = int8GemmKernel<BlocksPerSM, Out>;
  int bytes = Tiling<BlocksPerSM>::kSharedBytes;
  cudaError_t status = cudaFuncSetAttribute(
      kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (status != cudaSuccess)
    return status;
  dim3 grid(unsigned(((args.n + kBlockN - 1) / kBlockN) *
                     ((args.m + kSm90GemmBlockM - 1) / kSm90GemmBlockM)));
  kernel<<<grid, kThreads, bytes, stream>>>(args.lhs, args.rhs,
                                            static_cast<Out *>(args.out),
                                            args.m, args.n, args.k, p);
  return cudaGetLastError();
}

template <typename Out>
cudaError_t launchTyped(const Sm90GemmArgs &args, const EpilogueParams &p,
                        cudaStream_t stream) {
  return args.blocksPerSM == 2 ? launchTiled<2, Out>(args, p, stream)
                               : launchTiled<1, Out>(args, p, stream);
}

} // namespace

bool int8GemmSm90Available() {
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
  return cudaFuncGetAttributes(&attributes, int8GemmKernel<1, __half>) ==
         cudaSuccess;
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
