//===- sm90.cuh - Hopper primitives: mbarriers, tensor copies, wgmma -*- CUDA
//-*-===//
//
// The few sm_90a instructions the Hopper kernels (gemm_sm90.cu,
// attention_sm90.cu) are built from, as inline PTX: mbarrier phases, the
// tensor copy engine (cp.async.bulk.tensor into 128-byte-swizzled tiles,
// and out of them),
// wgmma descriptors and the s8 / u8 products. Only compiled for sm_90a
// (__CUDA_ARCH_FEAT_SM90_ALL); the kernels that use them trap elsewhere.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_RT_CUDA_SM90_CUH
#define QFORGE_RT_CUDA_SM90_CUH

#include <cuda.h>

#include <cstdint>

namespace qforge::rt::cuda::sm90 {

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

/// Copies the box at (x = K offset, y = row) of `map` into `dst` of every
/// CTA of the cluster in `ctaMask`, each copy completing bytes on the
/// mbarrier at `bar`'s offset in its own CTA.
__device__ __forceinline__ void copyTileMulticast(void *dst,
                                                  const CUtensorMap *map, int x,
                                                  int y, uint64_t *bar,
                                                  uint16_t ctaMask) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier:"
               ":complete_tx::bytes.multicast::cluster [%0], [%1, {%2, %3}], "
               "[%4], %5;" ::"r"(sharedAddress(dst)),
               "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y),
               "r"(sharedAddress(bar)), "h"(ctaMask)
               : "memory");
}

/// This CTA's rank in its cluster.
__device__ __forceinline__ uint32_t clusterRank() {
  uint32_t rank;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(rank));
  return rank;
}

/// Arrives on the mbarrier at `bar`'s offset in the shared memory of the
/// cluster's CTA `rank` (this CTA's own included). Default (CTA-scope)
/// release, as for a local arrive: a cluster-scope release is a memory
/// barrier that waits for the thread's outstanding stores (ncu: half of
/// the GEMM's stall cycles, the main loop at half speed); the arrive only
/// says the wgmma reads of the stage, already waited for, are done.
__device__ __forceinline__ void barrierArriveCluster(uint64_t *bar,
                                                     uint32_t rank) {
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;"
               : "=r"(remote)
               : "r"(sharedAddress(bar)), "r"(rank));
  asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];" ::"r"(remote)
               : "memory");
}

/// Every thread of every CTA of the cluster: all arrive, then all wait
/// (what each wrote before is visible to all after).
__device__ __forceinline__ void clusterSync() {
  asm volatile("barrier.cluster.arrive.release;\n"
               "barrier.cluster.wait.acquire;" ::
                   : "memory");
}

/// Stores the box at (x, y) of a two-dimensional `map` from `src` in shared
/// memory (the map's swizzle): asynchronous, in the issuing thread's bulk
/// group; rows and columns outside the map are not written.
__device__ __forceinline__ void storeTile(const CUtensorMap *map,
                                          const void *src, int x, int y) {
  asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group "
               "[%0, {%2, %3}], [%1];" ::"l"(reinterpret_cast<uint64_t>(map)),
               "r"(sharedAddress(src)), "r"(x), "r"(y)
               : "memory");
}
__device__ __forceinline__ void storeCommit() {
  asm volatile("cp.async.bulk.commit_group;" ::: "memory");
}
/// Waits until the thread's bulk stores but the newest `Pending` groups
/// have read their shared memory (which may then be written again).
template <int Pending> __device__ __forceinline__ void storeWaitRead() {
  asm volatile("cp.async.bulk.wait_group.read %0;" ::"n"(Pending) : "memory");
}
/// Waits until all of the thread's bulk stores are complete.
__device__ __forceinline__ void storeWaitAll() {
  asm volatile("cp.async.bulk.wait_group 0;" ::: "memory");
}
/// Orders this thread's ordinary shared-memory writes before the tensor
/// copy engine's reads (a separate proxy) that follow a barrier.
__device__ __forceinline__ void fenceSharedForCopies() {
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}

/// Copies the box at (x, y, z) of a three-dimensional `map` into `dst`.
__device__ __forceinline__ void copyTile3d(void *dst, const CUtensorMap *map,
                                           int x, int y, int z, uint64_t *bar) {
  asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier:"
               ":complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];" ::"r"(
                   sharedAddress(dst)),
               "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(z),
               "r"(sharedAddress(bar))
               : "memory");
}

/// The wgmma descriptor of a K-major operand whose rows of RowBytes (128,
/// 64 or 32) are stored in the matching swizzle, as the tensor copy engine
/// writes them: 8-row groups 8 * RowBytes apart; stepping K by 32 bytes
/// inside the row is a 32-byte step of the start address.
template <int RowBytes = 128>
__device__ __forceinline__ uint64_t operandDescriptor(const void *tile) {
  static_assert(RowBytes == 128 || RowBytes == 64 || RowBytes == 32);
  constexpr uint64_t kLayout = RowBytes == 128 ? 1 : RowBytes == 64 ? 2 : 3;
  uint64_t address = sharedAddress(tile);
  uint64_t descriptor = (address & 0x3FFFF) >> 4;
  descriptor |= uint64_t(16 >> 4) << 16;           // leading offset: unused
  descriptor |= uint64_t(8 * RowBytes >> 4) << 32; // between 8-row groups
  descriptor |= kLayout << 62;                     // the swizzle
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

/// D(64 x 128, s32) += A(64 x 32, u8) * B(128 x 32, s8)^T, A from
/// registers (the m16n8k32 A fragment of each warp's 16 rows: a[0] row
/// lane / 4, k 4 (lane % 4) .. +3; a[1] 8 rows down; a[2], a[3] the same
/// 16 k further), B through its descriptor. The accumulators always add.
__device__ __forceinline__ void wgmma128U8(int32_t (&d)[64],
                                           const uint32_t (&a)[4], uint64_t b) {
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n128k32.s32.u8.s8 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "
      "%30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "
      "%46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "
      "%62, %63}, "
      "{%64, %65, %66, %67}, %68, 1;\n"
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
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
}

/// D(64 x 64, s32) += A(64 x 32, u8) * B(64 x 32, s8)^T, A from registers
/// as for wgmma128U8.
__device__ __forceinline__ void wgmma64U8(int32_t (&d)[32],
                                          const uint32_t (&a)[4], uint64_t b) {
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n64k32.s32.u8.s8 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "
      "%30, %31}, "
      "{%32, %33, %34, %35}, %36, 1;\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]),
        "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]),
        "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]),
        "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]),
        "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]),
        "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]),
        "+r"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
}

/// D(64 x 256, s32) += A(64 x 32, s8) * B(256 x 32, s8)^T, both operands
/// read from shared memory through their descriptors.
__device__ __forceinline__ void wgmma256(int32_t (&d)[128], uint64_t a,
                                         uint64_t b, int accumulate) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k32.s32.s8.s8 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "
      "%30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "
      "%46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "
      "%62, %63, "
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, "
      "%78, %79, "
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, "
      "%94, %95, "
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, "
      "%108, %109, %110, %111, "
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, "
      "%124, %125, %126, %127}, "
      "%128, %129, p;\n"
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
        "+r"(d[61]), "+r"(d[62]), "+r"(d[63]), "+r"(d[64]), "+r"(d[65]),
        "+r"(d[66]), "+r"(d[67]), "+r"(d[68]), "+r"(d[69]), "+r"(d[70]),
        "+r"(d[71]), "+r"(d[72]), "+r"(d[73]), "+r"(d[74]), "+r"(d[75]),
        "+r"(d[76]), "+r"(d[77]), "+r"(d[78]), "+r"(d[79]), "+r"(d[80]),
        "+r"(d[81]), "+r"(d[82]), "+r"(d[83]), "+r"(d[84]), "+r"(d[85]),
        "+r"(d[86]), "+r"(d[87]), "+r"(d[88]), "+r"(d[89]), "+r"(d[90]),
        "+r"(d[91]), "+r"(d[92]), "+r"(d[93]), "+r"(d[94]), "+r"(d[95]),
        "+r"(d[96]), "+r"(d[97]), "+r"(d[98]), "+r"(d[99]), "+r"(d[100]),
        "+r"(d[101]), "+r"(d[102]), "+r"(d[103]), "+r"(d[104]), "+r"(d[105]),
        "+r"(d[106]), "+r"(d[107]), "+r"(d[108]), "+r"(d[109]), "+r"(d[110]),
        "+r"(d[111]), "+r"(d[112]), "+r"(d[113]), "+r"(d[114]), "+r"(d[115]),
        "+r"(d[116]), "+r"(d[117]), "+r"(d[118]), "+r"(d[119]), "+r"(d[120]),
        "+r"(d[121]), "+r"(d[122]), "+r"(d[123]), "+r"(d[124]), "+r"(d[125]),
        "+r"(d[126]), "+r"(d[127])
      : "l"(a), "l"(b), "r"(accumulate));
}

#endif // __CUDA_ARCH_FEAT_SM90_ALL

} // namespace qforge::rt::cuda::sm90

#endif // QFORGE_RT_CUDA_SM90_CUH
