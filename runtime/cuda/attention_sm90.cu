//===- attention_sm90.cu - int8 flash attention on Hopper ------*- CUDA -*-===//
//
// The mma.sync kernel (attention_int8_kernel.cuh) keeps the H100's tensor
// cores at a third of their int8 rate: each warp loads its operands with
// ldmatrix and waits on its own products. This kernel moves the products to
// wgmma and the operand traffic to the tensor copy engine, FlashAttention-3
// style, with the same arithmetic:
//
//   warpgroup 2 (one thread) streams 128-key blocks of K and of V^T from the
//     workspace into a two-stage ring of shared memory (128-byte swizzle),
//     each stage completing on a "full" mbarrier and released through an
//     "empty" one; the block's 128 query rows arrive once;
//   warpgroups 0 and 1 each own 64 query rows: S = Q K^T by wgmma
//     m64n128k32 (both operands from shared memory), the softmax of the
//     block in registers exactly as the mma.sync kernel does it, then
//     P V by wgmma with P's u8 fragments straight from registers (the
//     accumulator layout of S hands P over as the A operand with the keys
//     permuted per 32, which V^T's keyPosition order already undoes).
//
// The warpgroups take turns issuing their products (ping-pong), so one's
// softmax runs while the other's products occupy the tensor cores; each
// overlaps its own next products with its softmax or O update (see step).
// The softmax bounds the kernel (bench/RESULTS.md, session 7).
//
//===----------------------------------------------------------------------===//

#include "attention_sm90.h"

#include "attention_int8_kernel.cuh"
#include "gemm_sm90.h"
#include "sm90.cuh"

namespace qforge::rt::cuda {
namespace {

using namespace attention_int8;

constexpr int kConsumers = 2; // warpgroups of 64 query rows
constexpr int kBlockQ = 64 * kConsumers;
constexpr int kConsumerThreads = 128 * kConsumers;
constexpr int kThreads = kConsumerThreads + 128; // + the producer warpgroup
constexpr int kStages = 2;                       // 3 measured no faster
// Whether the consumers take turns on the tensor cores (see below;
// measured 2% faster than letting them race).
constexpr bool kPingPong = true;
// Registers per thread after setmaxnreg: at head dim 128, P V of one block,
// S of the next and O are 192 live accumulators, so the consumers take 240
// and the producer warpgroup (one thread of which issues copies) gives its
// share up. Each SM sub-partition holds one producer and two consumer
// warps: 24 + 2 x 240 registers per lane of its 512. (With a producer warp
// instead of a warpgroup, 9 warps put 3 consumer warps on one
// sub-partition, which caps every thread at 168 registers.)
constexpr int kProducerRegisters = 24;
constexpr int kConsumerRegisters = 240;
static_assert(kBlockKV == 128);

/// The shapes that follow from the head dim D (64 or 128): a block of Q,
/// of K (128 rows of D bytes) or of V^T (D rows of 128 keys) is 128 * D
/// bytes; Q and K rows are one swizzle row of D bytes, V^T's of 128.
template <int D> struct Shape {
  static_assert(D == 64 || D == 128);
  static constexpr int kTileBytes = 128 * D;
  // Q, the K and V^T stages, the barriers (Q's, and full + empty per stage
  // for K and for V), slack to align the tiles to 1024 bytes (the swizzle
  // pattern repeats every 8 rows).
  static constexpr int kSharedBytes =
      (1 + 2 * kStages) * kTileBytes + (1 + 4 * kStages) * 8 + 1024;
  static constexpr int kAccumulators = D / 2; // of O and P V per thread
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

using namespace sm90;

/// The producer: Q once, then K and V^T of every key block this query
/// block sees, each into its stage once the consumers released it.
template <int D>
__device__ __forceinline__ void
produce(const CUtensorMap *qMap, const CUtensorMap *kMap,
        const CUtensorMap *vMap, uint8_t *sQ, uint8_t *sK, uint8_t *sV,
        uint64_t *qFull, uint64_t *kFull, uint64_t *kEmpty, uint64_t *vFull,
        uint64_t *vEmpty, int qStart, int batch, int tiles) {
  for (const CUtensorMap *map : {qMap, kMap, vMap})
    asm volatile(
        "prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(map))
        : "memory");
  constexpr int kTileBytes = Shape<D>::kTileBytes;
  barrierExpectBytes(qFull, kTileBytes);
  copyTile3d(sQ, qMap, 0, qStart, batch, qFull);
  for (int t = 0; t < tiles; ++t) {
    int s = t % kStages;
    uint32_t released = ((t / kStages) - 1) & 1;
    if (t >= kStages)
      barrierWait(&kEmpty[s], released);
    barrierExpectBytes(&kFull[s], kTileBytes);
    copyTile3d(sK + s * kTileBytes, kMap, 0, t * kBlockKV, batch, &kFull[s]);
    if (t >= kStages)
      barrierWait(&vEmpty[s], released);
    barrierExpectBytes(&vFull[s], kTileBytes);
    copyTile3d(sV + s * kTileBytes, vMap, t * kBlockKV, 0, batch, &vFull[s]);
  }
}

/// P V of one 32-key step: n128 at head dim 128, n64 at 64.
__device__ __forceinline__ void wgmmaU8(int32_t (&d)[64],
                                        const uint32_t (&a)[4], uint64_t b) {
  wgmma128U8(d, a, b);
}
__device__ __forceinline__ void wgmmaU8(int32_t (&d)[32],
                                        const uint32_t (&a)[4], uint64_t b) {
  wgmma64U8(d, a, b);
}

/// One consumer thread's state for its two rows (lane / 4 and 8 below).
struct RowState {
  float factor[2], max[2], sum[2];
  bool poisoned[2]; // a non-finite Q row or K block: the output row is NaN
};

#endif // __CUDA_ARCH_FEAT_SM90_ALL

template <typename T, int D>
__global__ void __launch_bounds__(kThreads, 1)
    int8AttentionKernel(const __grid_constant__ CUtensorMap qMap,
                        const __grid_constant__ CUtensorMap kMap,
                        const __grid_constant__ CUtensorMap vMap,
                        const Args args) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kTileBytes = Shape<D>::kTileBytes;
  constexpr int kAcc = Shape<D>::kAccumulators;
  extern __shared__ uint8_t rawShared[];
  uint8_t *sQ = reinterpret_cast<uint8_t *>(
      (reinterpret_cast<uintptr_t>(rawShared) + 1023) & ~uintptr_t(1023));
  uint8_t *sK = sQ + kTileBytes;
  uint8_t *sV = sK + kStages * kTileBytes;
  uint64_t *qFull = reinterpret_cast<uint64_t *>(sV + kStages * kTileBytes);
  uint64_t *kFull = qFull + 1, *kEmpty = kFull + kStages;
  uint64_t *vFull = kEmpty + kStages, *vEmpty = vFull + kStages;
  constexpr int kConsumerWarps = kConsumerThreads / 32;
  if (threadIdx.x == 0) {
    barrierInit(qFull, 1);
    for (int s = 0; s < kStages; ++s) {
      barrierInit(&kFull[s], 1);
      barrierInit(&vFull[s], 1);
      barrierInit(&kEmpty[s], kConsumerWarps);
      barrierInit(&vEmpty[s], kConsumerWarps);
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();

  const int batch = int(blockIdx.y);
  const int qStart = int(blockIdx.x) * kBlockQ;
  const int lastKey =
      args.causal ? min(args.seqKV, qStart + kBlockQ) : args.seqKV;
  const int tiles = (lastKey + kBlockKV - 1) / kBlockKV;

  if (threadIdx.x >= kConsumerThreads) {
    asm volatile(
        "setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(kProducerRegisters));
    if (threadIdx.x == kConsumerThreads)
      produce<D>(&qMap, &kMap, &vMap, sQ, sK, sV, qFull, kFull, kEmpty, vFull,
                 vEmpty, qStart, batch, tiles);
    return;
  }

  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(kConsumerRegisters));
  const int consumer = int(threadIdx.x) / 128;
  const int warp = int(threadIdx.x) % 128 / 32, lane = int(threadIdx.x) % 32;
  const int warpFirstRow = qStart + consumer * 64 + warp * 16;
  const float *kScale = args.in.kScale + batch * (args.in.keys / kBlockKV);
  RowState rows;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    int row = warpFirstRow + lane / 4 + 8 * h;
    rows.factor[h] = row < args.seqQ
                         ? args.in.qFactor[int64_t(batch) * args.seqQ + row]
                         : 0.0f;
    rows.poisoned[h] = !isfinite(rows.factor[h]);
    rows.max[h] = -INFINITY;
    rows.sum[h] = 0.0f;
  }
  float o[kAcc];
#pragma unroll
  for (int i = 0; i < kAcc; ++i)
    o[i] = 0.0f;
  const uint8_t *qTile = sQ + consumer * 64 * D;

  // S of block `t` from the bias (each i32 sum reads as the float kBias +
  // dot), issued on the tensor cores; the caller waits.
  int32_t acc[64];
  auto issueScores = [&](int t) {
#pragma unroll
    for (int i = 0; i < 64; ++i)
      acc[i] = kBiasBits;
    barrierWait(&kFull[t % kStages], (t / kStages) & 1);
    wgmmaFence();
#pragma unroll
    for (int step = 0; step < D / 32; ++step)
      wgmma128(acc, operandDescriptor<D>(qTile + step * 32),
               operandDescriptor<D>(sK + t % kStages * kTileBytes + step * 32),
               1);
    wgmmaCommit();
  };
  // K's block scales one block ahead (a load at the softmax stalled it on
  // the L2 latency every block).
  float nextBlockScale = kScale[0];
  // The masks and the softmax of block `t` once its S has landed, into
  // `p` (two sets alternate: P V of one block is still reading its P from
  // registers while the softmax of the next writes the other).
  struct Probabilities {
    uint32_t frag[4][4];
    float alpha[2], weight[2];
  };
  auto softmax = [&](int t, Probabilities &p) {
    fenceAccumulators(acc);
    if (lane == 0)
      barrierArrive(&kEmpty[t % kStages]);
    const float blockScale = nextBlockScale;
    if (t + 1 < tiles)
      nextBlockScale = kScale[t + 1];
    if (!isfinite(blockScale))
      rows.poisoned[0] = rows.poisoned[1] = true;
    // wgmma's D fragment: acc[4n + e] is row lane / 4 (+ 8 for e >= 2),
    // key 8n + 2 (lane % 4) + e % 2 of the block.
    float sBits[16][4];
#pragma unroll
    for (int i = 0; i < 64; ++i)
      sBits[i / 4][i % 4] = __int_as_float(acc[i]);
    const int firstKey = t * kBlockKV;
    const bool partial = firstKey + kBlockKV > args.seqKV;
    const bool diagonal = args.causal && firstKey + kBlockKV - 1 > warpFirstRow;
    if (partial || diagonal) {
#pragma unroll
      for (int i = 0; i < 64; ++i) {
        int key = firstKey + i / 4 * 8 + lane % 4 * 2 + (i & 1);
        int row = warpFirstRow + lane / 4 + (i % 4 >= 2 ? 8 : 0);
        if ((partial && key >= args.seqKV) || (diagonal && key > row))
          sBits[i / 4][i % 4] = -INFINITY;
      }
    }
    softmaxBlock(sBits, blockScale, rows.factor, rows.max, rows.sum, p.frag,
                 p.alpha, p.weight);
  };

  // The two warpgroups take turns on the tensor cores (named barriers 1
  // and 2, FlashAttention-3's ping-pong): one issues its products while
  // the other runs its softmax, instead of both waiting at once. Warpgroup
  // 1 lets warpgroup 0 go first.
  // (Immediate barrier ids: a register id makes ptxas reserve all 16.)
  auto waitTurn = [&] {
    if (!kPingPong)
      return;
    if (consumer == 0)
      asm volatile("bar.sync 1, 256;" ::: "memory");
    else
      asm volatile("bar.sync 2, 256;" ::: "memory");
  };
  auto passTurn = [&] {
    if (!kPingPong)
      return;
    if (consumer == 0)
      asm volatile("bar.arrive 2, 256;" ::: "memory");
    else
      asm volatile("bar.arrive 1, 256;" ::: "memory");
  };
  if (consumer == 1)
    passTurn();
  Probabilities first, second;
  barrierWait(qFull, 0);
  waitTurn();
  issueScores(0);
  passTurn();
  wgmmaWait<0>();
  softmax(0, first);

  // P V of block `t` from the bias, issued in this warpgroup's turn.
  int32_t pv[kAcc];
  auto issueValues = [&](int t, const Probabilities &p) {
#pragma unroll
    for (int i = 0; i < kAcc; ++i)
      pv[i] = kBiasBits;
    barrierWait(&vFull[t % kStages], (t / kStages) & 1);
    wgmmaFence();
#pragma unroll
    for (int c = 0; c < kBlockKV / 32; ++c)
      wgmmaU8(pv, p.frag[c],
              operandDescriptor(sV + t % kStages * kTileBytes + c * 32));
    wgmmaCommit();
  };
  // O = O * alpha + weight * (P V) as two FMAs, once P V has landed.
  auto addValues = [&](int t, const Probabilities &p) {
    fenceAccumulators(pv);
    if (lane == 0)
      barrierArrive(&vEmpty[t % kStages]);
    const float biasTimesWeight[2] = {-__fmul_rn(kBias, p.weight[0]),
                                      -__fmul_rn(kBias, p.weight[1])};
#pragma unroll
    for (int i = 0; i < kAcc; ++i) {
      int h = i % 4 / 2;
      o[i] = __fmaf_rn(__int_as_float(pv[i]), p.weight[h],
                       __fmaf_rn(o[i], p.alpha[h], biasTimesWeight[h]));
    }
  };

  // Each step issues, in one turn, P V of block t (from `now`'s P) and S
  // of block t + 1. At head dim 64, S first: the groups complete in order,
  // so the softmax of t + 1 (into `next`) starts as soon as its S has
  // landed, while P V of t is still on the tensor cores, and O takes P V
  // after it (0.70 -> 0.65 ms at 16 x 8192 x 64). At 128 that order keeps
  // O, P V, the next S and two P sets live (ptxas spilled 47 registers:
  // 1.78 -> 2.11 ms at 32 x 8192), so there P V goes first and O takes it
  // while S is still in flight, then the softmax of t + 1.
  auto step = [&](int t, const Probabilities &now, Probabilities &next) {
    waitTurn();
    if constexpr (D == 64) {
      issueScores(t + 1);
      issueValues(t, now);
      passTurn();
      wgmmaWait<1>();
      softmax(t + 1, next);
      wgmmaWait<0>();
      addValues(t, now);
    } else {
      issueValues(t, now);
      issueScores(t + 1);
      passTurn();
      wgmmaWait<1>();
      addValues(t, now);
      wgmmaWait<0>();
      softmax(t + 1, next);
    }
  };
  // The last block: P V only (peeled, and the loop unrolled by two for
  // the alternating sets, so that every path waits for the same groups:
  // ptxas serializes all wgmma of a kernel where it cannot prove an
  // accumulator is not read in flight).
  auto lastStep = [&](int t, const Probabilities &now) {
    waitTurn();
    issueValues(t, now);
    if (consumer == 0) // warpgroup 1's last turn is passed to nobody
      passTurn();
    wgmmaWait<0>();
    addValues(t, now);
  };
  for (int t = 0;; t += 2) {
    if (t + 1 >= tiles) {
      lastStep(t, first);
      break;
    }
    step(t, first, second);
    if (t + 2 >= tiles) {
      lastStep(t + 1, second);
      break;
    }
    step(t + 1, second, first);
  }

  // out = O / (row sum) * (V's channel scale).
  const float *vScale = args.in.vScale + int64_t(batch) * D;
  T *out = static_cast<T *>(args.out) + batch * args.outBatch;
  float inverse[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float total = rows.sum[h];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    inverse[h] = rows.poisoned[h] ? __int_as_float(0x7fc00000) : 1.0f / total;
  }
  const int row = warpFirstRow + lane / 4;
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
    int col = n * 8 + lane % 4 * 2;
    float2 vs = *reinterpret_cast<const float2 *>(vScale + col);
    if (row < args.seqQ)
      *reinterpret_cast<uint32_t *>(out + int64_t(row) * args.outRow + col) =
          attention::pack<T>(o[4 * n] * inverse[0] * vs.x,
                             o[4 * n + 1] * inverse[0] * vs.y);
    if (row + 8 < args.seqQ)
      *reinterpret_cast<uint32_t *>(out + int64_t(row + 8) * args.outRow +
                                    col) =
          attention::pack<T>(o[4 * n + 2] * inverse[1] * vs.x,
                             o[4 * n + 3] * inverse[1] * vs.y);
  }
#else
  __trap(); // never launched: int8AttentionSm90Available() is false
#endif
}

template <typename T, int D>
cudaError_t launchTyped(const Sm90AttentionMaps &maps, const Args &args,
                        int64_t batch, cudaStream_t stream) {
  auto kernel = int8AttentionKernel<T, D>;
  constexpr int kSharedBytes = Shape<D>::kSharedBytes;
  cudaError_t status = cudaFuncSetAttribute(
      kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes);
  if (status != cudaSuccess)
    return status;
  dim3 grid(unsigned((args.seqQ + kBlockQ - 1) / kBlockQ), unsigned(batch));
  kernel<<<grid, kThreads, kSharedBytes, stream>>>(maps.q, maps.k, maps.vt,
                                                   args);
  return cudaGetLastError();
}

} // namespace

bool int8AttentionSm90Available() {
  return currentDeviceRunsSm90a(
      reinterpret_cast<const void *>(int8AttentionKernel<__half, 128>));
}

cudaError_t launchInt8AttentionSm90(const Sm90AttentionMaps &maps,
                                    const Args &args, int64_t batch,
                                    int64_t headDim, qforge_dtype type,
                                    cudaStream_t stream) {
  if (headDim != 64 && headDim != 128)
    return cudaErrorInvalidValue;
  bool wide = headDim == 128;
  if (type == QFORGE_F16)
    return wide ? launchTyped<__half, 128>(maps, args, batch, stream)
                : launchTyped<__half, 64>(maps, args, batch, stream);
  if (type == QFORGE_BF16)
    return wide ? launchTyped<__nv_bfloat16, 128>(maps, args, batch, stream)
                : launchTyped<__nv_bfloat16, 64>(maps, args, batch, stream);
  return cudaErrorInvalidValue;
}

} // namespace qforge::rt::cuda
