//===- kernels.cuh - CUDA kernels of the qforge runtime --------*- CUDA -*-===//
//
// Element-wise kernels move 8 elements per thread with 16-byte (or wider)
// vector accesses when the pointers allow it; the per-element arithmetic is
// numerics.h, shared with the CPU reference. This file is compiled with
// -fmad=false so that no multiply-add is contracted into an FMA, which would
// round differently from the CPU.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_RT_CUDA_KERNELS_CUH
#define QFORGE_RT_CUDA_KERNELS_CUH

#include "epilogue.cuh"
#include "numerics.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace qforge::rt::cuda {

/// Whether `ptr` may be accessed as Pack<N, T>.
template <int N, typename T> bool packAligned(const void *ptr) {
  return reinterpret_cast<uintptr_t>(ptr) % alignof(Pack<N, T>) == 0;
}

inline int gridFor(int64_t work, int threads) {
  int64_t blocks = (work + threads - 1) / threads;
  // Grid-stride loops cover the rest; 132 SMs x 16 blocks keeps Hopper busy.
  return int(blocks < 1 ? 1 : (blocks > 8192 ? 8192 : blocks));
}

//===--- generic element-wise map -----------------------------------------===//

/// out[i] = fn(i, in[i]) for i in [0, n); N elements per thread per step.
template <int N, typename In, typename Out, typename Fn>
__global__ void mapKernel(const In *__restrict__ in, Out *__restrict__ out,
                          int64_t n, Fn fn) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t packs = n / N;
  const auto *inPacks = reinterpret_cast<const Pack<N, In> *>(in);
  auto *outPacks = reinterpret_cast<Pack<N, Out> *>(out);
  for (int64_t p = first; p < packs; p += stride) {
    Pack<N, In> x = inPacks[p];
    Pack<N, Out> y;
#pragma unroll
    for (int j = 0; j < N; ++j)
      y.v[j] = fn(p * N + j, x.v[j]);
    outPacks[p] = y;
  }
  for (int64_t i = packs * N + first; i < n; i += stride)
    out[i] = fn(i, in[i]);
}

template <typename In, typename Out, typename Fn>
cudaError_t launchMap(const In *in, Out *out, int64_t n, Fn fn,
                      cudaStream_t stream) {
  constexpr int threads = 256;
  if (packAligned<8, In>(in) && packAligned<8, Out>(out))
    mapKernel<8>
        <<<gridFor((n + 7) / 8, threads), threads, 0, stream>>>(in, out, n, fn);
  else
    mapKernel<1><<<gridFor(n, threads), threads, 0, stream>>>(in, out, n, fn);
  return cudaGetLastError();
}

//===--- element functors -------------------------------------------------===//

template <typename In> struct QuantizeFn {
  float scale;
  int32_t zeroPoint, qmin, qmax;
  __device__ int8_t operator()(int64_t, In x) const {
    return quantizeValue(toFloat(x), scale, zeroPoint, qmin, qmax);
  }
};

template <typename In> struct QuantizePerAxisFn {
  int64_t channels, inner;
  const float *scales;
  const int32_t *zeroPoints;
  int32_t qmin, qmax;
  __device__ int8_t operator()(int64_t i, In x) const {
    int64_t c = (i / inner) % channels;
    return quantizeValue(toFloat(x), scales[c], zeroPoints ? zeroPoints[c] : 0,
                         qmin, qmax);
  }
};

template <typename Out> struct DequantizeFn {
  float scale;
  int32_t zeroPoint;
  __device__ Out operator()(int64_t, int8_t q) const {
    return fromFloat<Out>(dequantizeValue(q, scale, zeroPoint));
  }
};

template <typename Out> struct DequantizePerAxisFn {
  int64_t channels, inner;
  const float *scales;
  const int32_t *zeroPoints;
  __device__ Out operator()(int64_t i, int8_t q) const {
    int64_t c = (i / inner) % channels;
    return fromFloat<Out>(
        dequantizeValue(q, scales[c], zeroPoints ? zeroPoints[c] : 0));
  }
};

template <typename In> struct RequantizeFn {
  float inScale, outScale;
  int32_t inZeroPoint, outZeroPoint, qmin, qmax;
  __device__ int8_t operator()(int64_t, In q) const {
    float value = dequantizeValue(int32_t(q), inScale, inZeroPoint);
    return quantizeValue(value, outScale, outZeroPoint, qmin, qmax);
  }
};

//===--- reductions -------------------------------------------------------===//

__device__ __forceinline__ float warpMax(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

/// Max over the block; every thread gets the result. `shared` holds 32
/// floats.
__device__ __forceinline__ float blockMax(float v, float *shared) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warpMax(v);
  __syncthreads(); // `shared` may still be read from a previous call
  if (lane == 0)
    shared[warp] = v;
  __syncthreads();
  int warps = (blockDim.x + 31) >> 5;
  v = lane < warps ? shared[lane] : 0.0f;
  return warpMax(v);
}

/// numerics.h's activationValue with the activation known at compile time
/// (0 none, 1 relu, 2 gelu).
template <int Act> __device__ __forceinline__ float activated(float x) {
  if constexpr (Act == 1)
    return relu(x);
  else if constexpr (Act == 2)
    return gelu(x);
  else
    return x;
}

template <int N, int Act = 0, typename In>
__device__ __forceinline__ float packAbsMax(const Pack<N, In> &x, float acc) {
#pragma unroll
  for (int j = 0; j < N; ++j) {
    float v = fabsf(activated<Act>(toFloat(x.v[j])));
    // NaN and Inf are left out of the scale.
    if (isFinite(v))
      acc = fmaxf(acc, v);
  }
  return acc;
}

/// One block per row of a [rows, cols] view: max|act(x)| of the row (warp
/// shuffles, then shared memory across warps), then the row quantized with
/// its scale. The second pass re-reads the row, which is still in L1/L2
/// (and applies the activation again: the same value). Launched with up to
/// 1024 threads: the bound caps its registers at 64 (GELU's polynomial at
/// 8 elements a pack would take more, and the launch would fail).
template <int N, typename In, int Act = 0>
__global__ void __launch_bounds__(1024)
    perTokenQuantizeKernel(const In *__restrict__ in, int8_t *__restrict__ out,
                           float *__restrict__ scales, int64_t cols) {
  __shared__ float shared[32];
  int64_t row = blockIdx.x;
  const auto *rowIn = reinterpret_cast<const Pack<N, In> *>(in + row * cols);
  auto *rowOut = reinterpret_cast<Pack<N, int8_t> *>(out + row * cols);
  int64_t packs = cols / N;
  float absMax = 0.0f;
  for (int64_t p = threadIdx.x; p < packs; p += blockDim.x)
    absMax = packAbsMax<N, Act>(rowIn[p], absMax);
  absMax = blockMax(absMax, shared);
  float scale = symmetricScale(absMax), inverse = symmetricInverseScale(absMax);
  for (int64_t p = threadIdx.x; p < packs; p += blockDim.x) {
    Pack<N, In> x = rowIn[p];
    Pack<N, int8_t> q;
#pragma unroll
    for (int j = 0; j < N; ++j)
      q.v[j] = dynamicQuantizeValue(activated<Act>(toFloat(x.v[j])), inverse);
    rowOut[p] = q;
  }
  if (threadIdx.x == 0)
    scales[row] = scale;
}

/// Thread t's packs t, t + blockDim.x, ... (P of them, those before
/// `packs`) of a row, all loads in flight at once.
template <int N, int P, typename In>
__device__ __forceinline__ void
loadRowPacks(const Pack<N, In> *rowIn, int64_t packs, Pack<N, In> (&x)[P]) {
#pragma unroll
  for (int j = 0; j < P; ++j) {
    int64_t p = threadIdx.x + int64_t(j) * blockDim.x;
    if (p < packs)
      x[j] = rowIn[p];
  }
}

/// Stores the codes of the packs loadRowPacks loaded: code(j, e) for
/// element e of the thread's pack j.
template <int N, int P, typename Code>
__device__ __forceinline__ void storeRowCodes(Pack<N, int8_t> *rowOut,
                                              int64_t packs, Code code) {
#pragma unroll
  for (int j = 0; j < P; ++j) {
    int64_t p = threadIdx.x + int64_t(j) * blockDim.x;
    if (p >= packs)
      continue;
    Pack<N, int8_t> q;
#pragma unroll
    for (int e = 0; e < N; ++e)
      q.v[e] = code(j, e);
    rowOut[p] = q;
  }
}

/// The single-read form of perTokenQuantizeKernel for rows of at most
/// P * blockDim.x packs: each thread loads its P packs into registers, all
/// loads in flight at once, so the row crosses HBM once and never re-reads.
/// Up to 1024 threads (P <= 4: within 64 registers, f32 input included).
template <int N, int P, typename In>
__global__ void __launch_bounds__(1024)
    perTokenQuantizeRegisterKernel(const In *__restrict__ in,
                                   int8_t *__restrict__ out,
                                   float *__restrict__ scales, int64_t cols) {
  __shared__ float shared[32];
  int64_t row = blockIdx.x;
  const auto *rowIn = reinterpret_cast<const Pack<N, In> *>(in + row * cols);
  auto *rowOut = reinterpret_cast<Pack<N, int8_t> *>(out + row * cols);
  int64_t packs = cols / N;
  Pack<N, In> x[P];
  loadRowPacks<N, P>(rowIn, packs, x);
  float absMax = 0.0f;
#pragma unroll
  for (int j = 0; j < P; ++j)
    if (threadIdx.x + int64_t(j) * blockDim.x < packs)
      absMax = packAbsMax<N>(x[j], absMax);
  absMax = blockMax(absMax, shared);
  float scale = symmetricScale(absMax), inverse = symmetricInverseScale(absMax);
  storeRowCodes<N, P>(rowOut, packs, [&](int j, int e) {
    return dynamicQuantizeValue(toFloat(x[j].v[e]), inverse);
  });
  if (threadIdx.x == 0)
    scales[row] = scale;
}

/// The register kernel with an activation: each element's act(x) computed
/// once, kept in registers as f32 for both the maximum and the codes (GELU
/// is the costly part: compute-bound, it wants many warps, hence the bound
/// on threads that keeps registers few for small P).
template <int N, int P, typename In, int Act>
__global__ void __launch_bounds__(P <= 2 ? 1024 : 512)
    perTokenQuantizeActivatedKernel(const In *__restrict__ in,
                                    int8_t *__restrict__ out,
                                    float *__restrict__ scales, int64_t cols) {
  __shared__ float shared[32];
  int64_t row = blockIdx.x;
  const auto *rowIn = reinterpret_cast<const Pack<N, In> *>(in + row * cols);
  auto *rowOut = reinterpret_cast<Pack<N, int8_t> *>(out + row * cols);
  int64_t packs = cols / N;
  Pack<N, In> x[P];
  loadRowPacks<N, P>(rowIn, packs, x);
  float v[P][N];
  float absMax = 0.0f;
#pragma unroll
  for (int j = 0; j < P; ++j) {
    if (threadIdx.x + int64_t(j) * blockDim.x >= packs)
      continue;
#pragma unroll
    for (int e = 0; e < N; ++e) {
      v[j][e] = activated<Act>(toFloat(x[j].v[e]));
      float magnitude = fabsf(v[j][e]);
      if (isFinite(magnitude))
        absMax = fmaxf(absMax, magnitude);
    }
  }
  absMax = blockMax(absMax, shared);
  float scale = symmetricScale(absMax), inverse = symmetricInverseScale(absMax);
  storeRowCodes<N, P>(rowOut, packs, [&](int j, int e) {
    return dynamicQuantizeValue(v[j][e], inverse);
  });
  if (threadIdx.x == 0)
    scales[row] = scale;
}

/// max|act(x)| over the whole tensor into *absMaxBits (a non-negative
/// float's bits order like unsigned integers, so atomicMax on them is a
/// float max).
template <int N, typename In, int Act = 0>
__global__ void absMaxKernel(const In *__restrict__ in, int64_t n,
                             unsigned *absMaxBits) {
  __shared__ float shared[32];
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const auto *packs = reinterpret_cast<const Pack<N, In> *>(in);
  float absMax = 0.0f;
  for (int64_t p = first; p < n / N; p += stride)
    absMax = packAbsMax<N, Act>(packs[p], absMax);
  for (int64_t i = (n / N) * N + first; i < n; i += stride) {
    float v = fabsf(activated<Act>(toFloat(in[i])));
    if (isFinite(v))
      absMax = fmaxf(absMax, v);
  }
  absMax = blockMax(absMax, shared);
  if (threadIdx.x == 0)
    atomicMax(absMaxBits, __float_as_uint(absMax));
}

template <typename In, int Act = 0> struct PerTensorDynamicFn {
  const unsigned *absMaxBits;
  __device__ int8_t operator()(int64_t, In x) const {
    float inverse = symmetricInverseScale(__uint_as_float(*absMaxBits));
    return dynamicQuantizeValue(activated<Act>(toFloat(x)), inverse);
  }
};

__global__ void writeScaleKernel(const unsigned *absMaxBits, float *scale) {
  *scale = symmetricScale(__uint_as_float(*absMaxBits));
}

//===--- GEMM epilogue ----------------------------------------------------===//

/// acc (rows x n, i32) -> out (rows x n): dequantization by the row and
/// column scales, bias and activation fused in one pass.
template <int N, typename Out>
__global__ void epilogueKernel(const int32_t *__restrict__ acc,
                               Out *__restrict__ out, EpilogueParams p) {
  int64_t packsPerRow = p.n / N;
  int64_t total = p.rows * packsPerRow;
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += stride) {
    int64_t row = t / packsPerRow;
    int64_t col0 = (t - row * packsPerRow) * N;
    float lhsScale = lhsScaleOf(p, row);
    int64_t rhsOffset = p.rhsScalePerBatch ? (row / p.m) * p.n : 0;
    Pack<N, int32_t> a =
        *reinterpret_cast<const Pack<N, int32_t> *>(acc + row * p.n + col0);
    Pack<N, Out> y;
#pragma unroll
    for (int j = 0; j < N; ++j) {
      int64_t col = col0 + j;
      float value =
          epilogueAt(p, a.v[j], lhsScale, rhsScaleOf(p, rhsOffset, col), col);
      y.v[j] = EpilogueStore<Out>::apply(value, p);
    }
    *reinterpret_cast<Pack<N, Out> *>(out + row * p.n + col0) = y;
  }
}

//===--- small-M GEMM with the epilogue fused ----------------------------===//

/// For a few rows (decode-time inference: M <= kSmallGemmRows) the GEMM is
/// bound by reading the weight once; cuBLASLt plus a separate epilogue pass
/// costs several launches and an i32 round trip. Here each warp computes
/// kColsPerWarp output columns for all rows: lanes walk K in 16-byte steps,
/// kSmallGemmUnroll steps of weight loads in flight before any is used
/// (dp4a on 4 x 4 int8); the few activation rows are read through L1, where
/// every warp of the SM finds them. Sums are reduced with warp shuffles and
/// each lane applies the epilogue of one output (or stores the raw i32).
/// Needs rhs as N x K, K % 16 == 0 and 16-byte aligned rows.
/// grid = (ceil(N / (8 * kColsPerWarp)), batch), 256 threads.
constexpr int kSmallGemmRows = 4;
constexpr int kColsPerWarp = 4;
constexpr int kSmallGemmUnroll = 2;

__device__ __forceinline__ int dot16(const int4 &a, const int4 &b, int acc) {
  acc = __dp4a(a.x, b.x, acc);
  acc = __dp4a(a.y, b.y, acc);
  acc = __dp4a(a.z, b.z, acc);
  return __dp4a(a.w, b.w, acc);
}

template <typename Out>
__global__ void __launch_bounds__(256)
    smallGemmKernel(const int8_t *__restrict__ lhs,
                    const int8_t *__restrict__ rhs, Out *__restrict__ out,
                    int32_t *__restrict__ rawOut, int64_t m, int64_t n,
                    int64_t k, int64_t rhsBatchStride, EpilogueParams p) {
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int64_t batch = blockIdx.y;
  const int8_t *a = lhs + batch * m * k;
  const int8_t *w = rhs + batch * rhsBatchStride;
  int64_t col0 = (int64_t(blockIdx.x) * 8 + warp) * kColsPerWarp;
  const int8_t *weightRow[kColsPerWarp];
#pragma unroll
  for (int c = 0; c < kColsPerWarp; ++c) // a column past N re-reads column 0
    weightRow[c] = w + (col0 + c < n ? col0 + c : 0) * k;
  int acc[kColsPerWarp][kSmallGemmRows];
#pragma unroll
  for (int c = 0; c < kColsPerWarp; ++c)
#pragma unroll
    for (int r = 0; r < kSmallGemmRows; ++r)
      acc[c][r] = 0;

  constexpr int64_t step = 32 * 16; // bytes of K per warp-wide step
  for (int64_t k0 = int64_t(lane) * 16; k0 < k; k0 += step * kSmallGemmUnroll) {
    int4 weight[kSmallGemmUnroll][kColsPerWarp];
#pragma unroll
    for (int u = 0; u < kSmallGemmUnroll; ++u)
#pragma unroll
      for (int c = 0; c < kColsPerWarp; ++c)
        weight[u][c] = k0 + u * step < k ? __ldg(reinterpret_cast<const int4 *>(
                                               weightRow[c] + k0 + u * step))
                                         : make_int4(0, 0, 0, 0);
#pragma unroll
    for (int u = 0; u < kSmallGemmUnroll; ++u) {
      if (k0 + u * step >= k)
        break;
#pragma unroll
      for (int r = 0; r < kSmallGemmRows; ++r) {
        if (r >= m)
          break;
        int4 x =
            __ldg(reinterpret_cast<const int4 *>(a + r * k + k0 + u * step));
#pragma unroll
        for (int c = 0; c < kColsPerWarp; ++c)
          acc[c][r] = dot16(x, weight[u][c], acc[c][r]);
      }
    }
  }

  // Reduce every (column, row) sum across the warp, then let lane
  // c * kSmallGemmRows + r apply the epilogue of that one output: the
  // epilogue code exists once, not once per unrolled (c, r).
  static_assert(kColsPerWarp * kSmallGemmRows <= 32, "one output per lane");
  int mine = 0;
#pragma unroll
  for (int c = 0; c < kColsPerWarp; ++c)
#pragma unroll
    for (int r = 0; r < kSmallGemmRows; ++r) {
      int sum = acc[c][r];
#pragma unroll
      for (int offset = 16; offset > 0; offset >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
      if (lane == c * kSmallGemmRows + r)
        mine = sum;
    }
  int r = lane % kSmallGemmRows;
  int64_t col = col0 + lane / kSmallGemmRows;
  if (lane >= kColsPerWarp * kSmallGemmRows || r >= m || col >= n)
    return;
  int64_t row = batch * m + r;
  int64_t index = row * n + col;
  if (rawOut) {
    rawOut[index] = mine;
    return;
  }
  int64_t rhsOffset = p.rhsScalePerBatch ? batch * n : 0;
  float value = epilogueAt(p, mine, lhsScaleOf(p, row),
                           rhsScaleOf(p, rhsOffset, col), col);
  out[index] = EpilogueStore<Out>::apply(value, p);
}

//===--- fallback int8 GEMM and transpose ---------------------------------===//

/// Shared-memory tiled int8 GEMM for the shapes cuBLASLt cannot take (K or N
/// not a multiple of 4, misaligned pointers). Exact i32 accumulation; each
/// thread computes one output. grid = (ceil(N/16), ceil(M/16), batch).
__global__ void fallbackGemmKernel(const int8_t *__restrict__ lhs,
                                   const int8_t *__restrict__ rhs,
                                   int32_t *__restrict__ acc, int64_t m,
                                   int64_t n, int64_t k, bool rhsTransposed,
                                   int64_t rhsBatchStride) {
  constexpr int T = 16;
  __shared__ int32_t tileA[T][T + 1];
  __shared__ int32_t tileB[T][T + 1];
  int64_t batch = blockIdx.z;
  const int8_t *a = lhs + batch * m * k;
  const int8_t *b = rhs + batch * rhsBatchStride;
  int64_t row = int64_t(blockIdx.y) * T + threadIdx.y;
  int64_t col = int64_t(blockIdx.x) * T + threadIdx.x;
  int32_t sum = 0;
  for (int64_t k0 = 0; k0 < k; k0 += T) {
    int64_t ka = k0 + threadIdx.x, kb = k0 + threadIdx.y;
    tileA[threadIdx.y][threadIdx.x] = row < m && ka < k ? a[row * k + ka] : 0;
    int32_t bValue = 0;
    if (col < n && kb < k)
      bValue = rhsTransposed ? b[col * k + kb] : b[kb * n + col];
    tileB[threadIdx.y][threadIdx.x] = bValue;
    __syncthreads();
#pragma unroll
    for (int j = 0; j < T; ++j)
      sum += tileA[threadIdx.y][j] * tileB[j][threadIdx.x];
    __syncthreads();
  }
  if (row < m && col < n)
    acc[batch * m * n + row * n + col] = sum;
}

/// [rows, cols] -> [cols, rows] for int8, per batch (grid.z).
__global__ void transposeKernel(const int8_t *__restrict__ in,
                                int8_t *__restrict__ out, int64_t rows,
                                int64_t cols) {
  __shared__ int8_t tile[32][33];
  int64_t batch = blockIdx.z;
  in += batch * rows * cols;
  out += batch * rows * cols;
  int64_t c = int64_t(blockIdx.x) * 32 + threadIdx.x;
  for (int64_t r = int64_t(blockIdx.y) * 32 + threadIdx.y;
       r < int64_t(blockIdx.y) * 32 + 32; r += blockDim.y)
    if (r < rows && c < cols)
      tile[r - int64_t(blockIdx.y) * 32][threadIdx.x] = in[r * cols + c];
  __syncthreads();
  int64_t outRow0 = int64_t(blockIdx.x) * 32; // input column = output row
  int64_t outCol = int64_t(blockIdx.y) * 32 + threadIdx.x;
  for (int64_t r = outRow0 + threadIdx.y; r < outRow0 + 32; r += blockDim.y)
    if (r < cols && outCol < rows)
      out[r * rows + outCol] = tile[threadIdx.x][r - outRow0];
}

//===--- calibration statistics -------------------------------------------===//

/// Maps a float to an unsigned key that orders like the float.
__device__ __forceinline__ unsigned orderedKey(float v) {
  unsigned bits = __float_as_uint(v);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}
__host__ __device__ inline float fromOrderedKey(unsigned key) {
  unsigned bits = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  return bitsToFloat(bits);
#endif
}

struct DeviceBatchStats {
  unsigned minKey, maxKey;
  unsigned long long finite, nan, inf;
};

template <typename In>
__global__ void batchStatsKernel(const In *__restrict__ in, int64_t n,
                                 DeviceBatchStats *stats) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  unsigned minKey = 0xffffffffu, maxKey = 0u;
  unsigned long long finite = 0, nan = 0, inf = 0;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    float v = toFloat(in[i]);
    if (isNaN(v)) {
      ++nan;
    } else if (!isFinite(v)) {
      ++inf;
    } else {
      unsigned key = orderedKey(v);
      minKey = min(minKey, key);
      maxKey = max(maxKey, key);
      ++finite;
    }
  }
  for (int offset = 16; offset > 0; offset >>= 1) {
    minKey = min(minKey, __shfl_xor_sync(0xffffffffu, minKey, offset));
    maxKey = max(maxKey, __shfl_xor_sync(0xffffffffu, maxKey, offset));
    finite += __shfl_xor_sync(0xffffffffu, finite, offset);
    nan += __shfl_xor_sync(0xffffffffu, nan, offset);
    inf += __shfl_xor_sync(0xffffffffu, inf, offset);
  }
  if ((threadIdx.x & 31) == 0) {
    if (finite) {
      atomicMin(&stats->minKey, minKey);
      atomicMax(&stats->maxKey, maxKey);
      atomicAdd(&stats->finite, finite);
    }
    if (nan)
      atomicAdd(&stats->nan, nan);
    if (inf)
      atomicAdd(&stats->inf, inf);
  }
}

/// Histogram of the finite values over [-range, range]. With `sharedBins`,
/// per-block counts go to shared memory (numBins unsigned, dynamic) and are
/// then added to the global bins; without, straight to the global bins (for
/// bin counts too large for shared memory).
template <typename In>
__global__ void histogramKernel(const In *__restrict__ in, int64_t n,
                                float range, float invWidth, int32_t numBins,
                                bool sharedBins, unsigned long long *bins) {
  extern __shared__ unsigned blockBins[];
  if (sharedBins) {
    for (int32_t b = threadIdx.x; b < numBins; b += blockDim.x)
      blockBins[b] = 0;
    __syncthreads();
  }
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    float v = toFloat(in[i]);
    if (!isFinite(v))
      continue;
    int32_t bin = histogramBin(v, range, invWidth, numBins);
    if (sharedBins)
      atomicAdd(&blockBins[bin], 1u);
    else
      atomicAdd(&bins[bin], 1ull);
  }
  if (!sharedBins)
    return;
  __syncthreads();
  for (int32_t b = threadIdx.x; b < numBins; b += blockDim.x)
    if (blockBins[b])
      atomicAdd(&bins[b], (unsigned long long)blockBins[b]);
}

/// In place: out = act(out + bias[n]) over a row-major [rows, n] matrix
/// (the float GEMM's epilogue, after cuBLASLt).
template <typename T>
__global__ void floatEpilogueKernel(T *out, int64_t count, int64_t n,
                                    const float *bias, int activation) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x) {
    float value = toFloat(out[i]) + (bias ? bias[i % n] : 0.0f);
    if (activation == 1)
      value = relu(value);
    else if (activation == 2)
      value = gelu(value);
    out[i] = fromFloat<T>(value);
  }
}

} // namespace qforge::rt::cuda

#endif // QFORGE_RT_CUDA_KERNELS_CUH
