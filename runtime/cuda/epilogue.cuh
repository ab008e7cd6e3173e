//===- epilogue.cuh - element conversions and the int8 GEMM epilogue -*- CUDA
//-*-===//
//
// Shared by the element-wise kernels (kernels.cuh) and the Hopper int8 GEMM
// (gemm_sm90.cu), whose fused epilogue must round exactly like the separate
// epilogue pass: both call numerics.h's epilogueValue through these types.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_RT_CUDA_EPILOGUE_CUH
#define QFORGE_RT_CUDA_EPILOGUE_CUH

#include "numerics.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace qforge::rt::cuda {

//===--- element conversions ----------------------------------------------===//

__device__ __forceinline__ float toFloat(float x) { return x; }
__device__ __forceinline__ float toFloat(__half x) { return __half2float(x); }
__device__ __forceinline__ float toFloat(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

template <typename T> __device__ __forceinline__ T fromFloat(float x);
template <> __device__ __forceinline__ float fromFloat<float>(float x) {
  return x;
}
template <> __device__ __forceinline__ __half fromFloat<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

template <int N, typename T> struct alignas(sizeof(T) * N) Pack { T v[N]; };

/// Calls f(std::integral_constant<int, A>{}) for the run-time activation
/// (QFORGE_ACT_*: 0 none, 1 relu, 2 gelu), so that kernels take it as a
/// template argument and each instantiation holds only its arithmetic.
template <typename F>
__host__ __device__ __forceinline__ auto withActivation(int activation, F f) {
  if (activation == 2)
    return f(std::integral_constant<int, 2>{});
  if (activation == 1)
    return f(std::integral_constant<int, 1>{});
  return f(std::integral_constant<int, 0>{});
}

//===--- GEMM epilogue parameters -----------------------------------------===//

struct EpilogueParams {
  int64_t rows, n, m; // rows = batch * m
  const float *lhsScale;
  int64_t lhsScaleCount;
  const float *rhsScale;
  int64_t rhsScaleCount;
  bool rhsScalePerBatch;
  const int32_t *biasInt;
  const float *biasFloat;
  int activation;
  float outScale;
  int32_t outZeroPoint, outQmin, outQmax;
};

/// The dequantization scale of accumulator row `row` (0, 1 or per row).
__device__ __forceinline__ float lhsScaleOf(const EpilogueParams &p,
                                            int64_t row) {
  return p.lhsScaleCount == 0   ? 1.0f
         : p.lhsScaleCount == 1 ? p.lhsScale[0]
                                : p.lhsScale[row];
}

/// The dequantization scale of column `col` (0, 1 or per column; `offset`
/// selects the batch's scales when each batch has its own).
__device__ __forceinline__ float rhsScaleOf(const EpilogueParams &p,
                                            int64_t offset, int64_t col) {
  return p.rhsScaleCount == 0   ? 1.0f
         : p.rhsScaleCount == 1 ? p.rhsScale[0]
                                : p.rhsScale[offset + col];
}

/// epilogueValue of one accumulator at (row, col), its scales given.
__device__ __forceinline__ float epilogueAt(const EpilogueParams &p,
                                            int32_t acc, float lhsScale,
                                            float rhsScale, int64_t col) {
  return epilogueValue(acc, p.biasInt ? p.biasInt[col] : 0, lhsScale, rhsScale,
                       p.biasFloat ? p.biasFloat[col] : 0.0f, p.activation);
}

template <typename Out> struct EpilogueStore {
  __device__ static Out apply(float v, const EpilogueParams &) {
    return fromFloat<Out>(v);
  }
};
template <> struct EpilogueStore<int8_t> {
  __device__ static int8_t apply(float v, const EpilogueParams &p) {
    return quantizeValue(v, p.outScale, p.outZeroPoint, p.outQmin, p.outQmax);
  }
};

} // namespace qforge::rt::cuda

#endif // QFORGE_RT_CUDA_EPILOGUE_CUH
