//===- gemm_sm90.h - int8 GEMM on Hopper with the epilogue fused -*- C++
//-*-===//
//
// out[M, N] = epilogue(X[M, K] * W[N, K]^T) on sm_90a tensor cores (wgmma,
// operands brought by the tensor copy engine), the dequantization, bias,
// activation and output conversion applied to the accumulators in
// registers: no i32 matrix goes through device memory. cuBLASLt has no
// epilogue for int8 GEMMs, and its i32 round trip cost the quantized block
// ~0.8 ms of 7 at hidden 4096 (bench/RESULTS.md, session 5).
//
// Compiled for sm_90a only (its own object library); on any other device
// `int8GemmSm90Available` is false and the backend keeps cuBLASLt.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_RT_CUDA_GEMM_SM90_H
#define QFORGE_RT_CUDA_GEMM_SM90_H

#include "qforge_rt.h"

#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace qforge::rt::cuda {

struct EpilogueParams;

/// The bytes of K one pipeline stage holds: one 128-byte swizzle row, the
/// inner box size of both tensor maps.
constexpr int kSm90GemmBlockK = 128;
/// Rows of X per block (two consumer warpgroups of 64 rows).
constexpr int kSm90GemmBlockM = 128;

/// One fused int8 GEMM. The tensor maps describe X (dims {K, M}) and W
/// (dims {K, N}), both row-major int8 with 128-byte swizzle and boxes of
/// {kSm90GemmBlockK, kSm90GemmBlockM} and {kSm90GemmBlockK, blockN /
/// cluster}.
struct Sm90GemmArgs {
  CUtensorMap lhs, rhs;
  void *out; // M x N of outType (f32, f16, bf16 or i8)
  /// With stagedStore: `out` as a tensor map of 64 x 64 boxes, 128-byte
  /// swizzle (2-byte outputs, 16-byte aligned).
  CUtensorMap outMap;
  qforge_dtype outType;
  int64_t m, n, k;
  int blockN; // 128 (blocks two per SM) or 256 (one per SM)
  /// CTAs per cluster sharing W's tiles by multicast: 1, or 2 with blockN
  /// 256 (W's tensor map then has boxes of blockN / 2 rows).
  int cluster = 1;
  /// One block per SM slot, each taking output blocks in turn (the next
  /// block's operands load during this one's epilogue), or one block per
  /// output block.
  bool persistent = true;
  /// blockN 256 with 2-byte outputs: the epilogue stages its outputs in
  /// shared memory and the tensor copy engine stores them (outMap).
  bool stagedStore = false;
};

/// Whether `kernel`, a kernel of the sm_90a object library, runs on the
/// current device: an sm_90 GPU where the image loads.
bool currentDeviceRunsSm90a(const void *kernel);

/// Whether the fused kernel can run on the current device (an sm_90 GPU
/// and this library built with its sm_90a image).
bool int8GemmSm90Available();

/// Launches one fused GEMM on `stream`. Needs N % 8 == 0 (pairs of columns
/// per store), `out` aligned to two elements, and p.rhsScalePerBatch false.
cudaError_t launchInt8GemmSm90(const Sm90GemmArgs &args,
                               const EpilogueParams &p, cudaStream_t stream);

} // namespace qforge::rt::cuda

#endif // QFORGE_RT_CUDA_GEMM_SM90_H
