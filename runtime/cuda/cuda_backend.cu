//===- cuda_backend.cu - the CUDA backend ---------------------------------===//
//
// Work is ordered on one stream per context. int8 GEMMs go through cuBLASLt
// in the layout Hopper's int8 tensor-core kernels take (TN: the weight as
// op(A) = A^T, COL-major; no COL32 re-layout, which is for Turing/Ampere),
// with the heuristic's candidates timed once per shape and the fastest
// cached. int8 matmuls get no cuBLASLt epilogue, so the i32 accumulator goes
// to a workspace and one fused kernel applies scales, bias and activation.
//
//===----------------------------------------------------------------------===//

#include "attention.h"
#include "attention_sm90.h"
#include "backend.h"
#include "gemm_sm90.h"
#include "kernels.cuh"

#include <cublasLt.h>
#include <cuda.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace qforge::rt {
namespace {

using namespace qforge::rt::cuda;

#define QF_CUDA(expr)                                                          \
  do {                                                                         \
    cudaError_t error_ = (expr);                                               \
    if (error_ != cudaSuccess)                                                 \
      return fail(error_ == cudaErrorMemoryAllocation                          \
                      ? QFORGE_ERR_OUT_OF_MEMORY                               \
                      : QFORGE_ERR_DEVICE,                                     \
                  "%s failed: %s", #expr, cudaGetErrorString(error_));         \
  } while (0)

#define QF_CUBLAS(expr)                                                        \
  do {                                                                         \
    cublasStatus_t status_ = (expr);                                           \
    if (status_ != CUBLAS_STATUS_SUCCESS)                                      \
      return fail(QFORGE_ERR_DEVICE, "%s failed: cuBLAS status %d", #expr,     \
                  int(status_));                                               \
  } while (0)

#define QF_TRY(expr)                                                           \
  do {                                                                         \
    qforge_status status_ = (expr);                                            \
    if (status_ != QFORGE_OK)                                                  \
      return status_;                                                          \
  } while (0)

constexpr size_t kWorkspaceBytes = 32u << 20; // cuBLASLt's Hopper advice

/// Calls fn(T{}) with T the C++ type of a float dtype.
template <typename Fn> cudaError_t withFloatType(qforge_dtype type, Fn &&fn) {
  switch (type) {
  case QFORGE_F16:
    return fn(__half{});
  case QFORGE_BF16:
    return fn(__nv_bfloat16{});
  default:
    return fn(float{});
  }
}

/// A device buffer that only grows; reused across calls on one stream.
struct Scratch {
  void *ptr = nullptr;
  size_t bytes = 0;
  qforge_status reserve(size_t wanted) {
    if (wanted <= bytes)
      return QFORGE_OK;
    if (ptr)
      QF_CUDA(cudaFree(ptr)); // synchronizes: no kernel still uses it
    ptr = nullptr;
    bytes = 0;
    QF_CUDA(cudaMalloc(&ptr, wanted));
    bytes = wanted;
    return QFORGE_OK;
  }
  ~Scratch() {
    if (ptr)
      cudaFree(ptr);
  }
};

/// What decides a cuBLASLt plan: shapes, batch strides and alignment.
using PlanKey = std::tuple<int64_t, int64_t, int64_t, int64_t, bool, int, int,
                           int>; // batch, m, n, k, shared rhs, alignments

struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool usable = false; // false: cuBLASLt has no algorithm, use the fallback
  ~Plan() {
    if (op)
      cublasLtMatmulDescDestroy(op);
    if (a)
      cublasLtMatrixLayoutDestroy(a);
    if (b)
      cublasLtMatrixLayoutDestroy(b);
    if (c)
      cublasLtMatrixLayoutDestroy(c);
  }
};

int pointerAlignment(const void *ptr) {
  auto value = reinterpret_cast<uintptr_t>(ptr);
  for (int align = 16; align > 1; align /= 2)
    if (value % align == 0)
      return align;
  return 1;
}

/// The few driver-API entry points that generated kernels need (PTX
/// modules and launches), resolved from libcuda.so.1 on first use: linking
/// the driver would stop the runtime from loading on machines without one.
struct DriverApi {
  decltype(&::cuModuleLoadDataEx) moduleLoadDataEx = nullptr;
  decltype(&::cuModuleGetFunction) moduleGetFunction = nullptr;
  decltype(&::cuModuleUnload) moduleUnload = nullptr;
  decltype(&::cuLaunchKernel) launchKernel = nullptr;
  decltype(&::cuGetErrorString) getErrorString = nullptr;
  // Optional: only the Hopper int8 GEMM needs it, which is not used
  // without it.
  decltype(&::cuTensorMapEncodeTiled) tensorMapEncodeTiled = nullptr;
  std::string error;

  static const DriverApi &get() {
    static const DriverApi api = load();
    return api;
  }
  bool ok() const { return error.empty(); }
  std::string message(CUresult result) const {
    const char *text = nullptr;
    if (getErrorString)
      getErrorString(result, &text);
    return text ? text : "unknown driver error " + std::to_string(result);
  }

private:
  static DriverApi load() {
    DriverApi api;
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      api.error = std::string("cannot open the CUDA driver: ") + dlerror();
      return api;
    }
    auto resolve = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(library, name));
      if (!fn && api.error.empty())
        api.error = std::string("the CUDA driver lacks ") + name;
    };
    resolve(api.moduleLoadDataEx, "cuModuleLoadDataEx");
    resolve(api.moduleGetFunction, "cuModuleGetFunction");
    resolve(api.moduleUnload, "cuModuleUnload");
    resolve(api.launchKernel, "cuLaunchKernel");
    resolve(api.getErrorString, "cuGetErrorString");
    api.tensorMapEncodeTiled =
        reinterpret_cast<decltype(&::cuTensorMapEncodeTiled)>(
            dlsym(library, "cuTensorMapEncodeTiled"));
    return api;
  }
};

class CudaBackend final : public Backend {
public:
  ~CudaBackend() override {
    if (stream)
      cudaStreamSynchronize(stream);
    if (profiling)
      printProfile();
    for (auto &entry : modules)
      DriverApi::get().moduleUnload(static_cast<CUmodule>(entry.second));
    plans.clear();
    floatPlans.clear();
    for (auto &entry : constants)
      cudaFree(const_cast<void *>(entry.second.device));
    for (auto &entry : transposedConstants)
      cudaFree(entry.second);
    if (workspace)
      cudaFree(workspace);
    if (lt)
      cublasLtDestroy(lt);
    if (pool)
      cudaMemPoolDestroy(pool); // after the stream drained: nothing in use
    if (ownsStream && stream)
      cudaStreamDestroy(stream);
    if (timerStart)
      cudaEventDestroy(timerStart);
    if (timerStop)
      cudaEventDestroy(timerStop);
  }

  qforge_status init(void *externalStream, bool useExternal) {
    int devices = 0;
    cudaError_t error = cudaGetDeviceCount(&devices);
    if (error != cudaSuccess || devices == 0)
      return fail(QFORGE_ERR_DEVICE, "no CUDA device is available (%s)",
                  error == cudaSuccess ? "0 devices"
                                       : cudaGetErrorString(error));
    QF_CUDA(cudaGetDevice(&device));
    const char *profile = std::getenv("QFORGE_PROFILE");
    profiling = profile && *profile && std::strcmp(profile, "0") != 0;
    QF_TRY(chooseInt8GemmKernels());
    QF_TRY(chooseInt8AttentionKernel());
    if (useExternal) {
      stream = static_cast<cudaStream_t>(externalStream);
    } else {
      QF_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
      ownsStream = true;
    }
    QF_CUBLAS(cublasLtCreate(&lt));
    QF_CUDA(cudaMalloc(&workspace, kWorkspaceBytes));
    // The tensors of device-resident models: a pool of the context's own
    // that keeps freed memory for the next run. The default pool returns
    // it to the driver at every synchronization, and mapping it again made
    // each run's allocations the longest host calls of a model.
    cudaMemPoolProps props{};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    QF_CUDA(cudaMemPoolCreate(&pool, &props));
    uint64_t keep = UINT64_MAX;
    QF_CUDA(
        cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    QF_CUDA(cudaEventCreate(&timerStart));
    QF_CUDA(cudaEventCreate(&timerStop));
    return QFORGE_OK;
  }

  qforge_backend kind() const override { return QFORGE_BACKEND_CUDA; }

  qforge_status synchronize() override {
    QF_CUDA(cudaStreamSynchronize(stream));
    return QFORGE_OK;
  }

  qforge_status alloc(int64_t bytes, void **out) override {
    QF_CUDA(cudaMalloc(out, size_t(std::max<int64_t>(bytes, 1))));
    return QFORGE_OK;
  }
  qforge_status release(void *ptr) override {
    QF_CUDA(cudaStreamSynchronize(stream));
    QF_CUDA(cudaFree(ptr));
    return QFORGE_OK;
  }
  qforge_status copyToDevice(void *dst, const void *src,
                             int64_t bytes) override {
    QF_CUDA(cudaMemcpyAsync(dst, src, size_t(bytes), cudaMemcpyHostToDevice,
                            stream));
    ++hostToDevice;
    return QFORGE_OK;
  }
  qforge_status copyToHost(void *dst, const void *src, int64_t bytes) override {
    QF_CUDA(cudaMemcpyAsync(dst, src, size_t(bytes), cudaMemcpyDeviceToHost,
                            stream));
    QF_CUDA(cudaStreamSynchronize(stream));
    ++deviceToHost;
    return QFORGE_OK;
  }
  qforge_status copyOnDevice(void *dst, const void *src,
                             int64_t bytes) override {
    QF_CUDA(cudaMemcpyAsync(dst, src, size_t(bytes), cudaMemcpyDeviceToDevice,
                            stream));
    return QFORGE_OK;
  }

  qforge_status constant(const void *host, int64_t bytes,
                         const void **out) override {
    auto found = constants.find(host);
    if (found != constants.end()) {
      if (found->second.bytes != bytes)
        return fail(QFORGE_ERR_INVALID_ARGUMENT,
                    "constant at %p was registered with %lld bytes, now %lld",
                    host, (long long)found->second.bytes, (long long)bytes);
      *out = found->second.device;
      return QFORGE_OK;
    }
    void *device = nullptr;
    QF_CUDA(cudaMalloc(&device, size_t(std::max<int64_t>(bytes, 1))));
    constants[host] = {device, bytes};
    deviceConstants[device] = bytes;
    QF_TRY(copyToDevice(device, host, bytes));
    // The host buffer may be freed by the caller right after this returns.
    QF_CUDA(cudaStreamSynchronize(stream));
    *out = device;
    return QFORGE_OK;
  }

  qforge_status quantize(qforge_dtype inType, const void *in, int64_t count,
                         float scale, int32_t zeroPoint, int32_t qmin,
                         int32_t qmax, int8_t *out) override {
    QF_CUDA(withFloatType(inType, [&](auto tag) {
      using T = decltype(tag);
      return launchMap(static_cast<const T *>(in), out, count,
                       QuantizeFn<T>{scale, zeroPoint, qmin, qmax}, stream);
    }));
    return QFORGE_OK;
  }

  qforge_status quantizePerAxis(qforge_dtype inType, const void *in,
                                const AxisView &v, int32_t qmin, int32_t qmax,
                                int8_t *out) override {
    QF_CUDA(withFloatType(inType, [&](auto tag) {
      using T = decltype(tag);
      QuantizePerAxisFn<T> fn{v.channels,   v.inner, v.scales,
                              v.zeroPoints, qmin,    qmax};
      return launchMap(static_cast<const T *>(in), out,
                       v.outer * v.channels * v.inner, fn, stream);
    }));
    return QFORGE_OK;
  }

  qforge_status dynamicQuantize(qforge_dtype inType, const void *in,
                                int64_t rows, int64_t cols,
                                qforge_granularity granularity,
                                qforge_activation activation, int8_t *out,
                                float *scales) override {
    if (granularity == QFORGE_PER_TENSOR)
      QF_TRY(small.reserve(sizeof(unsigned)));
    QF_CUDA(withFloatType(inType, [&](auto tag) {
      using T = decltype(tag);
      return withActivation(int(activation), [&](auto act) {
        constexpr int kAct = decltype(act)::value;
        return granularity == QFORGE_PER_TOKEN
                   ? launchPerToken<T, kAct>(static_cast<const T *>(in), rows,
                                             cols, out, scales)
                   : launchPerTensor<T, kAct>(static_cast<const T *>(in),
                                              rows * cols, out, scales);
      });
    }));
    return QFORGE_OK;
  }

  /// Per-tensor dynamic quantization of act(x): the maximum by atomics
  /// (into `small`, reserved by the caller), then the codes, then the
  /// scale.
  template <typename T, int Act>
  cudaError_t launchPerTensor(const T *input, int64_t count, int8_t *out,
                              float *scales) {
    auto *absMaxBits = static_cast<unsigned *>(small.ptr);
    cudaError_t error =
        cudaMemsetAsync(absMaxBits, 0, sizeof(unsigned), stream);
    if (error != cudaSuccess)
      return error;
    if (packAligned<8, T>(input))
      absMaxKernel<8, T, Act>
          <<<gridFor((count + 7) / 8, 256), 256, 0, stream>>>(input, count,
                                                              absMaxBits);
    else
      absMaxKernel<1, T, Act>
          <<<gridFor(count, 256), 256, 0, stream>>>(input, count, absMaxBits);
    error = cudaGetLastError();
    if (error != cudaSuccess)
      return error;
    error = launchMap(input, out, count, PerTensorDynamicFn<T, Act>{absMaxBits},
                      stream);
    if (error != cudaSuccess)
      return error;
    writeScaleKernel<<<1, 1, 0, stream>>>(absMaxBits, scales);
    return cudaGetLastError();
  }

  qforge_status dequantize(const int8_t *in, int64_t count, float scale,
                           int32_t zeroPoint, qforge_dtype outType,
                           void *out) override {
    QF_CUDA(withFloatType(outType, [&](auto tag) {
      using T = decltype(tag);
      return launchMap(in, static_cast<T *>(out), count,
                       DequantizeFn<T>{scale, zeroPoint}, stream);
    }));
    return QFORGE_OK;
  }

  qforge_status dequantizePerAxis(const int8_t *in, const AxisView &v,
                                  qforge_dtype outType, void *out) override {
    QF_CUDA(withFloatType(outType, [&](auto tag) {
      using T = decltype(tag);
      DequantizePerAxisFn<T> fn{v.channels, v.inner, v.scales, v.zeroPoints};
      return launchMap(in, static_cast<T *>(out),
                       v.outer * v.channels * v.inner, fn, stream);
    }));
    return QFORGE_OK;
  }

  qforge_status requantize(qforge_dtype inType, const void *in, int64_t count,
                           float inScale, int32_t inZeroPoint, float outScale,
                           int32_t outZeroPoint, int32_t qmin, int32_t qmax,
                           int8_t *out) override {
    if (inType == QFORGE_I8)
      QF_CUDA(launchMap(static_cast<const int8_t *>(in), out, count,
                        RequantizeFn<int8_t>{inScale, outScale, inZeroPoint,
                                             outZeroPoint, qmin, qmax},
                        stream));
    else
      QF_CUDA(launchMap(static_cast<const int32_t *>(in), out, count,
                        RequantizeFn<int32_t>{inScale, outScale, inZeroPoint,
                                              outZeroPoint, qmin, qmax},
                        stream));
    return QFORGE_OK;
  }

  qforge_status gemm(const qforge_gemm_desc &d) override {
    bool done = false;
    QF_TRY(trySmallGemm(d, done));
    if (!done)
      QF_TRY(tryHopperGemm(d, done));
    if (done)
      return QFORGE_OK;
    int64_t outElements = d.batch * d.m * d.n;
    int32_t *acc = nullptr;
    if (d.out_dtype == QFORGE_I32) {
      acc = static_cast<int32_t *>(d.out);
    } else {
      QF_TRY(accumulators.reserve(size_t(outElements) * sizeof(int32_t)));
      acc = static_cast<int32_t *>(accumulators.ptr);
    }
    QF_TRY(accumulate(d, acc));
    if (d.out_dtype == QFORGE_I32)
      return QFORGE_OK;
    return launchEpilogue(d, acc);
  }

  qforge_status batchStats(qforge_dtype type, const void *data, int64_t count,
                           BatchStats &stats) override {
    QF_TRY(small.reserve(sizeof(DeviceBatchStats)));
    auto *device = static_cast<DeviceBatchStats *>(small.ptr);
    DeviceBatchStats host{0xffffffffu, 0u, 0, 0, 0};
    QF_TRY(copyToDevice(device, &host, sizeof host));
    QF_CUDA(withFloatType(type, [&](auto tag) {
      using T = decltype(tag);
      batchStatsKernel<T><<<gridFor(count, 256), 256, 0, stream>>>(
          static_cast<const T *>(data), count, device);
      return cudaGetLastError();
    }));
    QF_TRY(copyToHost(&host, device, sizeof host));
    stats.finite = int64_t(host.finite);
    stats.nan = int64_t(host.nan);
    stats.inf = int64_t(host.inf);
    if (host.finite) {
      stats.min = fromOrderedKey(host.minKey);
      stats.max = fromOrderedKey(host.maxKey);
    }
    return QFORGE_OK;
  }

  qforge_status histogram(qforge_dtype type, const void *data, int64_t count,
                          float range, float invWidth, int32_t numBins,
                          int64_t *bins) override {
    size_t binBytes = size_t(numBins) * sizeof(unsigned long long);
    QF_TRY(small.reserve(binBytes));
    auto *device = static_cast<unsigned long long *>(small.ptr);
    QF_CUDA(cudaMemsetAsync(device, 0, binBytes, stream));
    size_t sharedBytes = size_t(numBins) * sizeof(unsigned);
    bool sharedBins = sharedBytes <= 48 * 1024;
    QF_CUDA(withFloatType(type, [&](auto tag) {
      using T = decltype(tag);
      histogramKernel<T>
          <<<gridFor(count, 256), 256, sharedBins ? sharedBytes : 0, stream>>>(
              static_cast<const T *>(data), count, range, invWidth, numBins,
              sharedBins, device);
      return cudaGetLastError();
    }));
    std::vector<unsigned long long> host(static_cast<size_t>(numBins));
    QF_TRY(copyToHost(host.data(), device, binBytes));
    for (int32_t b = 0; b < numBins; ++b)
      bins[b] += int64_t(host[b]);
    return QFORGE_OK;
  }

private:
  struct ConstantEntry {
    const void *device;
    int64_t bytes;
  };

  /// One block per row. Rows of up to 4 packs per thread (32768 elements;
  /// with an activation 8: 32768) are held in registers and read once;
  /// longer rows take two passes.
  template <typename T, int Act = 0>
  cudaError_t launchPerToken(const T *in, int64_t rows, int64_t cols,
                             int8_t *out, float *scales) {
    // Every row must start on a pack boundary for the vector path.
    bool vector =
        cols % 8 == 0 && packAligned<8, T>(in) && packAligned<8, int8_t>(out);
    if (!vector) {
      int threads = int(std::min<int64_t>(256, (cols + 31) / 32 * 32));
      perTokenQuantizeKernel<1, T, Act>
          <<<unsigned(rows), threads, 0, stream>>>(in, out, scales, cols);
      return cudaGetLastError();
    }
    int64_t packs = cols / 8;
    auto launch = [&](auto kernel, int threads) {
      kernel<<<unsigned(rows), threads, 0, stream>>>(in, out, scales, cols);
      return cudaGetLastError();
    };
    if constexpr (Act != 0) {
      // act(x) stays in registers as f32 (8 per pack). GELU makes the
      // kernel compute-bound, so it wants many warps per SM: 4 packs a
      // thread (up to 512 threads) where the row allows, else 8; longer
      // rows take the two-pass kernel. (H100, 2048 rows of 16384 with GELU:
      // 4 packs x 512 threads 0.058 ms, 2 x 1024 0.059, 8 x 256 0.071.)
      auto threadsFor = [&](int perThread) {
        return int(std::max<int64_t>(32, (packs + perThread * 32 - 1) /
                                             (perThread * 32) * 32));
      };
      if (packs <= 4 * 512)
        return launch(perTokenQuantizeActivatedKernel<8, 4, T, Act>,
                      threadsFor(4));
      if (packs <= 8 * 512)
        return launch(perTokenQuantizeActivatedKernel<8, 8, T, Act>,
                      threadsFor(8));
      return launch(perTokenQuantizeKernel<8, T, Act>, 1024);
    }
    // Up to 4 packs a thread, on up to 1024 threads (more threads per
    // row, fewer rows per SM: 2048 rows of 16384 took 0.046 ms at 16 packs
    // x 128 threads, 0.039 at 4 x 512, H100); longer rows (over 32768
    // elements) take the two-pass kernel.
    int threads = 128;
    if (packs > 4 * 128)
      threads =
          int(std::min<int64_t>(1024, (packs + 4 * 32 - 1) / (4 * 32) * 32));
    else if (packs < 128)
      threads = int(std::max<int64_t>(32, (packs + 31) / 32 * 32));
    int64_t perThread = (packs + threads - 1) / threads;
    if (perThread <= 1)
      return launch(perTokenQuantizeRegisterKernel<8, 1, T>, threads);
    if (perThread <= 2)
      return launch(perTokenQuantizeRegisterKernel<8, 2, T>, threads);
    if (perThread <= 4)
      return launch(perTokenQuantizeRegisterKernel<8, 4, T>, threads);
    // Not 8 or 16 packs a thread: with f32 input they need more than the
    // 64 registers a thread of a 1024-thread block has.
    return launch(perTokenQuantizeKernel<8, T>, threads);
  }

  /// The rhs as N x K (transposed first if given K x N), or nullptr where
  /// its rows are not 16-byte aligned, as the vector kernels need.
  qforge_status alignedWeightNK(const qforge_gemm_desc &d,
                                const int8_t *&weightNK) {
    weightNK = d.rhs;
    if (!d.rhs_transposed)
      QF_TRY(transposedRhs(d, weightNK));
    if (pointerAlignment(weightNK) < 16)
      weightNK = nullptr;
    return QFORGE_OK;
  }

  /// A weight shared by every batch makes one GEMM with M' = batch * M.
  static qforge_gemm_desc foldSharedBatch(const qforge_gemm_desc &desc) {
    qforge_gemm_desc d = desc;
    if (d.rhs_shared && d.batch > 1) {
      d.m *= d.batch;
      d.batch = 1;
    }
    return d;
  }

  /// The small-M kernel when it applies (few rows, K % 16 == 0, aligned
  /// rows); sets `done` when it ran.
  qforge_status trySmallGemm(const qforge_gemm_desc &desc, bool &done) {
    done = false;
    qforge_gemm_desc d = foldSharedBatch(desc);
    if (d.m > kSmallGemmRows || d.k % 16 != 0 || pointerAlignment(d.lhs) < 16)
      return QFORGE_OK;
    const int8_t *weightNK = nullptr;
    QF_TRY(alignedWeightNK(d, weightNK));
    if (!weightNK)
      return QFORGE_OK;
    EpilogueParams p = epilogueParams(desc);
    dim3 grid(unsigned((d.n + 8 * kColsPerWarp - 1) / (8 * kColsPerWarp)),
              unsigned(d.batch));
    int64_t rhsStride = d.rhs_shared ? 0 : d.n * d.k;
    auto launch = [&](auto tag) -> cudaError_t {
      using T = decltype(tag);
      bool raw = d.out_dtype == QFORGE_I32;
      smallGemmKernel<T><<<grid, 256, 0, stream>>>(
          d.lhs, weightNK, raw ? nullptr : static_cast<T *>(d.out),
          raw ? static_cast<int32_t *>(d.out) : nullptr, d.m, d.n, d.k,
          rhsStride, p);
      return cudaGetLastError();
    };
    if (d.out_dtype == QFORGE_I8)
      QF_CUDA(launch(int8_t{}));
    else
      QF_CUDA(withFloatType(
          d.out_dtype == QFORGE_I32 ? QFORGE_F32 : d.out_dtype, launch));
    done = true;
    return QFORGE_OK;
  }

  /// How int8 GEMMs with an epilogue run. The 128 x 256 routes store their
  /// outputs directly or, Staged, through shared memory and the tensor
  /// copy engine (2-byte outputs, 16-byte aligned; elsewhere directly).
  enum class Int8Route {
    Timed,
    CublasLt,
    Hopper128,
    Hopper256,
    Hopper256x2,
    Hopper256Staged,
    Hopper256x2Staged
  };
  /// Which stores the 128 x 256 routes may use (QFORGE_CUDA_INT8_GEMM_STORE).
  enum class StoreChoice { Timed, Staged, Direct };
  static bool isStaged(Int8Route route) {
    return route == Int8Route::Hopper256Staged ||
           route == Int8Route::Hopper256x2Staged;
  }
  using RouteKey = std::tuple<int64_t, int64_t, int64_t, int, int, bool>;

  /// Whether the driver can describe operands to the tensor copy engine,
  /// which both Hopper kernels read through.
  static bool driverEncodesTensorMaps() {
    return DriverApi::get().ok() &&
           DriverApi::get().tensorMapEncodeTiled != nullptr;
  }

  /// QFORGE_CUDA_INT8_GEMM: `auto` (the default: per shape, the fastest of
  /// cuBLASLt plus the epilogue pass and the Hopper kernel's variants;
  /// cuBLASLt where the Hopper kernel cannot run), `cublaslt` (always),
  /// `hopper128` / `hopper256` / `hopper256x2` (the Hopper kernel with that
  /// block width, x2: clusters of two sharing W's tiles, wherever it
  /// applies; for benchmarks and tests).
  /// QFORGE_CUDA_INT8_GEMM_STORE: `auto` (the default: `auto` times the
  /// 128 x 256 routes with either store, a forced one stages), `staged`,
  /// `direct` (only that store).
  qforge_status chooseInt8GemmKernels() {
    int store = 0;
    QF_TRY(envChoice("QFORGE_CUDA_INT8_GEMM_STORE",
                     {"auto", "staged", "direct"}, store));
    int8Store = store == 0   ? StoreChoice::Timed
                : store == 1 ? StoreChoice::Staged
                             : StoreChoice::Direct;
    bool stage = int8Store != StoreChoice::Direct;
    const char *const routeNames[] = {"auto", "cublaslt", "hopper128",
                                      "hopper256", "hopper256x2"};
    int route = 0;
    QF_TRY(envChoice("QFORGE_CUDA_INT8_GEMM", routeNames, route));
    const Int8Route routes[] = {
        Int8Route::Timed, Int8Route::CublasLt, Int8Route::Hopper128,
        stage ? Int8Route::Hopper256Staged : Int8Route::Hopper256,
        stage ? Int8Route::Hopper256x2Staged : Int8Route::Hopper256x2};
    int8Route = routes[route];
    bool hopperRuns = int8GemmSm90Available() && driverEncodesTensorMaps();
    bool forced =
        int8Route != Int8Route::Timed && int8Route != Int8Route::CublasLt;
    if (forced && !hopperRuns)
      return fail(QFORGE_ERR_UNSUPPORTED,
                  "QFORGE_CUDA_INT8_GEMM=%s needs an sm_90 GPU (H100/H200), "
                  "a runtime built for it and a driver with the tensor copy "
                  "engine",
                  routeNames[route]);
    if (!hopperRuns)
      int8Route = Int8Route::CublasLt;
    // QFORGE_CUDA_INT8_GEMM_GRID: `persistent` (the default: one block per
    // SM slot, each taking output blocks in turn) or `tiles` (one block
    // per output block, the kernel before session 9; for benchmarks).
    int grid = 0;
    QF_TRY(
        envChoice("QFORGE_CUDA_INT8_GEMM_GRID", {"persistent", "tiles"}, grid));
    int8GemmPersistent = grid == 0;
    return QFORGE_OK;
  }

  /// The value of the environment variable `variable` as an index into
  /// `choices` (unset or empty: 0, the default); any other value is an
  /// error that names the choices.
  template <size_t N>
  qforge_status envChoice(const char *variable, const char *const (&choices)[N],
                          int &index) {
    const char *value = std::getenv(variable);
    std::string name = value && *value ? value : choices[0];
    std::string expected;
    for (index = 0; index < int(N); ++index) {
      if (name == choices[index])
        return QFORGE_OK;
      expected += index == 0 ? "" : index + 1 == int(N) ? " or " : ", ";
      expected += choices[index];
    }
    return fail(QFORGE_ERR_INVALID_ARGUMENT, "%s is '%s'; expected %s",
                variable, name.c_str(), expected.c_str());
  }

  /// QFORGE_CUDA_INT8_ATTENTION: `auto` (the default: the Hopper kernel,
  /// attention_sm90.h, for head dim 128 where it runs, the mma.sync kernel
  /// otherwise), `mma` (always the mma.sync kernel), `wgmma` (the Hopper
  /// kernel wherever it applies; an error where it cannot run). For
  /// benchmarks and tests: both compute the same arithmetic.
  qforge_status chooseInt8AttentionKernel() {
    int mode = 0; // auto, mma, wgmma
    QF_TRY(envChoice("QFORGE_CUDA_INT8_ATTENTION", {"auto", "mma", "wgmma"},
                     mode));
    bool hopperRuns = int8AttentionSm90Available() && driverEncodesTensorMaps();
    if (mode == 2 && !hopperRuns)
      return fail(QFORGE_ERR_UNSUPPORTED,
                  "QFORGE_CUDA_INT8_ATTENTION=wgmma needs an sm_90 GPU "
                  "(H100/H200), a runtime built for it and a driver with the "
                  "tensor copy engine");
    attentionEncoder = mode != 1 && hopperRuns
                           ? DriverApi::get().tensorMapEncodeTiled
                           : nullptr;
    return QFORGE_OK;
  }

  /// The Hopper kernel (gemm_sm90.h) when it applies: an epilogue (not raw
  /// i32), one weight for every row, K % 16 == 0 (the copy engine's row
  /// pitch), N % 8 == 0, 16-byte aligned operands; sets `done` when it ran.
  qforge_status tryHopperGemm(const qforge_gemm_desc &desc, bool &done) {
    done = false;
    if (int8Route == Int8Route::CublasLt || desc.out_dtype == QFORGE_I32)
      return QFORGE_OK;
    qforge_gemm_desc d = foldSharedBatch(desc);
    EpilogueParams p = epilogueParams(desc);
    int outBytes = d.out_dtype == QFORGE_I8    ? 1
                   : d.out_dtype == QFORGE_F32 ? 4
                                               : 2;
    if (d.batch != 1 || p.rhsScalePerBatch || d.k <= 0 || d.k % 16 != 0 ||
        d.n % 8 != 0 || pointerAlignment(d.lhs) < 16 ||
        pointerAlignment(d.out) < 2 * outBytes ||
        ((d.m + kSm90GemmBlockM - 1) / kSm90GemmBlockM) * ((d.n + 127) / 128) >
            INT32_MAX)
      return QFORGE_OK;
    // A shape already timed: when cuBLASLt won, neither transpose nor
    // describe the operands here (accumulate does what cuBLASLt needs).
    RouteKey key = routeKey(desc);
    Int8Route route = int8Route;
    if (route == Int8Route::Timed) {
      auto found = fastestRoutes.find(key);
      if (found != fastestRoutes.end())
        route = found->second;
    }
    if (route == Int8Route::CublasLt)
      return QFORGE_OK;
    const int8_t *weightNK = nullptr;
    QF_TRY(alignedWeightNK(d, weightNK));
    if (!weightNK)
      return QFORGE_OK;
    Sm90GemmArgs args{};
    args.out = d.out;
    args.outType = d.out_dtype;
    args.m = d.m;
    args.n = d.n;
    args.k = d.k;
    args.persistent = int8GemmPersistent;
    QF_TRY(describeOperand(args.lhs, d.lhs, d.k, d.m, kSm90GemmBlockM));
    bool canStage = int8Store != StoreChoice::Direct && outBytes == 2 &&
                    pointerAlignment(d.out) >= 16;
    bool outputDescribed = false; // args.outMap, once a staged route runs
    auto launch = [&](Int8Route hopper) -> qforge_status {
      args.blockN = hopper == Int8Route::Hopper128 ? 128 : 256;
      args.cluster = hopper == Int8Route::Hopper256x2 ||
                             hopper == Int8Route::Hopper256x2Staged
                         ? 2
                         : 1;
      args.stagedStore = canStage && isStaged(hopper);
      if (args.stagedStore && !outputDescribed) {
        QF_TRY(describeOutput(args.outMap, d.out, d.out_dtype, d.m, d.n));
        outputDescribed = true;
      }
      QF_TRY(describeOperand(args.rhs, weightNK, d.k, d.n,
                             args.blockN / args.cluster));
      QF_CUDA(launchInt8GemmSm90(args, p, stream));
      return QFORGE_OK;
    };
    if (route == Int8Route::Timed) {
      QF_TRY(fastestRoute(desc, launch, canStage, route));
      fastestRoutes[key] = route;
    }
    if (route == Int8Route::CublasLt)
      return QFORGE_OK;
    QF_TRY(launch(route));
    done = true;
    return QFORGE_OK;
  }

  /// What the fastest int8 route of a GEMM depends on.
  static RouteKey routeKey(const qforge_gemm_desc &d) {
    return RouteKey{d.batch * d.m,
                    d.n,
                    d.k,
                    int(d.out_dtype),
                    int(d.activation),
                    d.bias && d.bias_dtype == QFORGE_I32};
  }

  /// The fastest route of this GEMM's shape, timed on its operands the
  /// first time the shape is seen (as cuBLASLt's algorithms are): cuBLASLt
  /// + the epilogue pass, or the Hopper kernel's 128- or 256-wide blocks
  /// (the latter alone or in clusters of two; with a 2-byte output, their
  /// outputs stored directly and staged). Measured on an H100
  /// (bench/RESULTS.md) each wins somewhere: 128 at hidden 1024, 256 at
  /// hidden 4096, cuBLASLt with GELU at some shapes, staged stores where the
  /// epilogue is a large share (K = 1024) but not always at K >= 4096 (a
  /// stage fewer), so a fixed rule would give some of it away.
  template <typename Launch>
  qforge_status fastestRoute(const qforge_gemm_desc &d, Launch &launch,
                             bool canStage, Int8Route &route) {
    // The cuBLASLt route's i32 matrix, for the timing only unless that
    // route wins: a shape the Hopper kernel takes never needs it (512 MB
    // at 8192 x 16384).
    size_t accBytes = size_t(d.batch * d.m * d.n) * sizeof(int32_t);
    Scratch timingAccumulators;
    Scratch &scratch =
        accumulators.bytes >= accBytes ? accumulators : timingAccumulators;
    QF_TRY(scratch.reserve(accBytes));
    auto *acc = static_cast<int32_t *>(scratch.ptr);
    std::vector<Int8Route> routes = {Int8Route::CublasLt, Int8Route::Hopper128};
    if (!canStage || int8Store == StoreChoice::Timed)
      routes.insert(routes.end(),
                    {Int8Route::Hopper256, Int8Route::Hopper256x2});
    if (canStage)
      routes.insert(routes.end(),
                    {Int8Route::Hopper256Staged, Int8Route::Hopper256x2Staged});
    const int kRoutes = int(routes.size());
    std::vector<float> times(routes.size());
    QF_TRY(medianTimes(
        kRoutes,
        [&](int i) -> qforge_status {
          if (routes[i] == Int8Route::CublasLt) {
            QF_TRY(accumulate(d, acc));
            return launchEpilogue(d, acc);
          }
          return launch(routes[i]);
        },
        times.data()));
    route =
        routes[std::min_element(times.begin(), times.end()) - times.begin()];
    return QFORGE_OK;
  }

  /// The tensor map of a row-major int8 matrix (rows x k) read in boxes of
  /// 128 bytes of K by `boxRows` rows, 128-byte swizzled for wgmma.
  qforge_status describeOperand(CUtensorMap &map, const int8_t *data, int64_t k,
                                int64_t rows, int boxRows) {
    cuuint64_t dims[2] = {cuuint64_t(k), cuuint64_t(rows)};
    cuuint64_t rowPitch[1] = {cuuint64_t(k)};
    cuuint32_t box[2] = {cuuint32_t(kSm90GemmBlockK), cuuint32_t(boxRows)};
    cuuint32_t elementStrides[2] = {1, 1};
    const DriverApi &driver = DriverApi::get();
    CUresult result = driver.tensorMapEncodeTiled(
        &map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<int8_t *>(data),
        dims, rowPitch, box, elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE,
        CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (result != CUDA_SUCCESS)
      return fail(QFORGE_ERR_DEVICE,
                  "cannot describe a %lld x %lld int8 operand to the tensor "
                  "copy engine: %s",
                  (long long)rows, (long long)k,
                  driver.message(result).c_str());
    return QFORGE_OK;
  }

  /// The tensor map of a GEMM's 2-byte output (m x n, row-major) stored in
  /// 64 x 64 boxes from 128-byte-swizzled shared memory (gemm_sm90.cu's
  /// staged epilogue).
  qforge_status describeOutput(CUtensorMap &map, void *data, qforge_dtype type,
                               int64_t m, int64_t n) {
    cuuint64_t dims[2] = {cuuint64_t(n), cuuint64_t(m)};
    cuuint64_t rowPitch[1] = {cuuint64_t(n) * 2};
    cuuint32_t box[2] = {64, 64};
    cuuint32_t elementStrides[2] = {1, 1};
    CUresult result = DriverApi::get().tensorMapEncodeTiled(
        &map,
        type == QFORGE_BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                            : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
        2, data, dims, rowPitch, box, elementStrides,
        CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
        CU_TENSOR_MAP_L2_PROMOTION_NONE, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (result != CUDA_SUCCESS)
      return fail(QFORGE_ERR_DEVICE,
                  "cannot describe a %lld x %lld GEMM output to the tensor "
                  "copy engine: %s",
                  (long long)m, (long long)n,
                  DriverApi::get().message(result).c_str());
    return QFORGE_OK;
  }

  /// i32 accumulators of the whole batch into `acc` (batch x M x N).
  qforge_status accumulate(const qforge_gemm_desc &desc, int32_t *acc) {
    qforge_gemm_desc d = foldSharedBatch(desc);
    const int8_t *weightNK = d.rhs; // rhs in N x K layout
    if (!d.rhs_transposed)
      QF_TRY(transposedRhs(d, weightNK));
    // cuBLASLt's int8 kernels need K and N (the leading dimensions) to be
    // multiples of 4; other shapes take the fallback kernel.
    bool ltShape = d.k % 4 == 0 && d.n % 4 == 0;
    if (ltShape) {
      Plan *plan = nullptr;
      QF_TRY(planFor(d, weightNK, acc, plan));
      if (plan->usable)
        return runPlan(*plan, d, weightNK, acc, plan->algo);
    }
    dim3 block(16, 16);
    dim3 grid(unsigned((d.n + 15) / 16), unsigned((d.m + 15) / 16),
              unsigned(d.batch));
    fallbackGemmKernel<<<grid, block, 0, stream>>>(
        d.lhs, weightNK, acc, d.m, d.n, d.k, true,
        d.rhs_shared ? 0 : d.n * d.k);
    QF_CUDA(cudaGetLastError());
    return QFORGE_OK;
  }

  /// Makes an N x K copy of a K x N rhs. A registered constant (a weight) is
  /// transposed once and kept; any other rhs is transposed per call.
  qforge_status transposedRhs(const qforge_gemm_desc &d, const int8_t *&out) {
    int64_t batches = d.rhs_shared ? 1 : d.batch;
    size_t bytes = size_t(batches * d.k * d.n);
    bool isConstant = deviceConstants.count(d.rhs) != 0;
    if (isConstant) {
      auto found = transposedConstants.find(d.rhs);
      if (found != transposedConstants.end()) {
        out = static_cast<const int8_t *>(found->second);
        return QFORGE_OK;
      }
    }
    void *target = nullptr;
    if (isConstant) {
      QF_CUDA(cudaMalloc(&target, bytes));
      transposedConstants[d.rhs] = target;
    } else {
      QF_TRY(transposed.reserve(bytes));
      target = transposed.ptr;
    }
    dim3 grid(unsigned((d.n + 31) / 32), unsigned((d.k + 31) / 32),
              unsigned(batches));
    transposeKernel<<<grid, dim3(32, 8), 0, stream>>>(
        d.rhs, static_cast<int8_t *>(target), d.k, d.n);
    QF_CUDA(cudaGetLastError());
    out = static_cast<const int8_t *>(target);
    return QFORGE_OK;
  }

  /// The cached plan of this GEMM's shape, made (and its algorithm chosen by
  /// timing the heuristic's candidates) on first use.
  qforge_status planFor(const qforge_gemm_desc &d, const int8_t *weightNK,
                        int32_t *acc, Plan *&out) {
    int alignA = pointerAlignment(weightNK), alignB = pointerAlignment(d.lhs),
        alignC = pointerAlignment(acc);
    PlanKey key{d.batch,           d.m,    d.n,    d.k,
                d.rhs_shared != 0, alignA, alignB, alignC};
    auto found = plans.find(key);
    if (found != plans.end()) {
      out = found->second.get();
      return QFORGE_OK;
    }
    auto plan = std::make_unique<Plan>();
    QF_TRY(describe(d, *plan));
    QF_TRY(chooseAlgorithm(d, weightNK, acc, alignA, alignB, alignC, *plan));
    out = plan.get();
    plans[key] = std::move(plan);
    return QFORGE_OK;
  }

  /// Row-major C[M,N] = X[M,K] * W[N,K]^T is column-major C^T[N,M] =
  /// W^T * X^T: op(A) = A^T with A the weight (K x N column-major, ld K),
  /// B the activations (K x M column-major, ld K), C^T N x M (ld N).
  qforge_status describe(const qforge_gemm_desc &d, Plan &plan) {
    QF_CUBLAS(
        cublasLtMatmulDescCreate(&plan.op, CUBLAS_COMPUTE_32I, CUDA_R_32I));
    cublasOperation_t transA = CUBLAS_OP_T, transB = CUBLAS_OP_N;
    QF_CUBLAS(cublasLtMatmulDescSetAttribute(
        plan.op, CUBLASLT_MATMUL_DESC_TRANSA, &transA, sizeof transA));
    QF_CUBLAS(cublasLtMatmulDescSetAttribute(
        plan.op, CUBLASLT_MATMUL_DESC_TRANSB, &transB, sizeof transB));
    QF_CUBLAS(cublasLtMatrixLayoutCreate(&plan.a, CUDA_R_8I, uint64_t(d.k),
                                         uint64_t(d.n), d.k));
    QF_CUBLAS(cublasLtMatrixLayoutCreate(&plan.b, CUDA_R_8I, uint64_t(d.k),
                                         uint64_t(d.m), d.k));
    QF_CUBLAS(cublasLtMatrixLayoutCreate(&plan.c, CUDA_R_32I, uint64_t(d.n),
                                         uint64_t(d.m), d.n));
    if (d.batch > 1) {
      int32_t batch = int32_t(d.batch);
      int64_t strideA = d.rhs_shared ? 0 : d.n * d.k;
      int64_t strideB = d.m * d.k, strideC = d.m * d.n;
      for (auto [layout, stride] :
           {std::pair{plan.a, strideA}, std::pair{plan.b, strideB},
            std::pair{plan.c, strideC}}) {
        QF_CUBLAS(cublasLtMatrixLayoutSetAttribute(
            layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
        QF_CUBLAS(cublasLtMatrixLayoutSetAttribute(
            layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
            sizeof stride));
      }
    }
    return QFORGE_OK;
  }

  qforge_status runPlan(const Plan &plan, const qforge_gemm_desc &d,
                        const int8_t *weightNK, int32_t *acc,
                        const cublasLtMatmulAlgo_t &algo) {
    int32_t alpha = 1, beta = 0;
    QF_CUBLAS(cublasLtMatmul(lt, plan.op, &alpha, weightNK, plan.a, d.lhs,
                             plan.b, &beta, acc, plan.c, acc, plan.c, &algo,
                             workspace, kWorkspaceBytes, stream));
    return QFORGE_OK;
  }

  /// Asks the heuristic for up to 8 candidates and keeps the fastest, each
  /// timed (median of 9 after a warm-up) on the real operands.
  qforge_status chooseAlgorithm(const qforge_gemm_desc &d,
                                const int8_t *weightNK, int32_t *acc,
                                int alignA, int alignB, int alignC,
                                Plan &plan) {
    cublasLtMatmulPreference_t preference = nullptr;
    QF_CUBLAS(cublasLtMatmulPreferenceCreate(&preference));
    size_t workspaceBytes = kWorkspaceBytes;
    uint32_t alignments[3] = {uint32_t(alignA), uint32_t(alignB),
                              uint32_t(alignC)};
    cublasLtMatmulPreferenceSetAttribute(
        preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspaceBytes,
        sizeof workspaceBytes);
    cublasLtMatmulPreferenceSetAttribute(
        preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &alignments[0],
        sizeof(uint32_t));
    cublasLtMatmulPreferenceSetAttribute(
        preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &alignments[1],
        sizeof(uint32_t));
    cublasLtMatmulPreferenceSetAttribute(
        preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &alignments[2],
        sizeof(uint32_t));
    cublasLtMatmulPreferenceSetAttribute(
        preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &alignments[2],
        sizeof(uint32_t));
    cublasLtMatmulHeuristicResult_t results[8];
    int found = 0;
    cublasStatus_t status =
        cublasLtMatmulAlgoGetHeuristic(lt, plan.op, plan.a, plan.b, plan.c,
                                       plan.c, preference, 8, results, &found);
    cublasLtMatmulPreferenceDestroy(preference);
    if (status != CUBLAS_STATUS_SUCCESS || found == 0) {
      plan.usable = false; // e.g. an alignment cuBLASLt cannot take
      return QFORGE_OK;
    }
    float bestTime = 0;
    int best = -1;
    for (int i = 0; i < found; ++i) {
      float time = 0;
      if (timeAlgorithm(plan, d, weightNK, acc, results[i].algo, time) !=
          QFORGE_OK)
        continue; // a candidate that fails to run is skipped
      if (best < 0 || time < bestTime) {
        best = i;
        bestTime = time;
      }
    }
    if (best < 0) {
      plan.usable = false;
      return QFORGE_OK;
    }
    plan.algo = results[best].algo;
    plan.usable = true;
    return QFORGE_OK;
  }

  qforge_status timeAlgorithm(const Plan &plan, const qforge_gemm_desc &d,
                              const int8_t *weightNK, int32_t *acc,
                              const cublasLtMatmulAlgo_t &algo, float &time) {
    return medianTime([&] { return runPlan(plan, d, weightNK, acc, algo); },
                      time);
  }

  /// Device times of `count` contenders run(i), timed round robin (one run
  /// of each in turn, 9 rounds after a warm-up) so that clock drift during
  /// the timing hits all alike: the median of each.
  template <typename Run>
  qforge_status medianTimes(int count, Run &&run, float *times) {
    constexpr int kRounds = 9;
    std::vector<float> samples(size_t(count) * kRounds);
    for (int i = 0; i < count; ++i)
      QF_TRY(run(i)); // warm-up
    for (int round = 0; round < kRounds; ++round)
      for (int i = 0; i < count; ++i) {
        QF_CUDA(cudaEventRecord(timerStart, stream));
        QF_TRY(run(i));
        QF_CUDA(cudaEventRecord(timerStop, stream));
        QF_CUDA(cudaEventSynchronize(timerStop));
        QF_CUDA(cudaEventElapsedTime(&samples[size_t(i) * kRounds + round],
                                     timerStart, timerStop));
      }
    for (int i = 0; i < count; ++i) {
      float *own = samples.data() + size_t(i) * kRounds;
      std::sort(own, own + kRounds);
      times[i] = own[kRounds / 2];
    }
    return QFORGE_OK;
  }

  /// Device time of `run` (returning qforge_status) on the stream: the
  /// median of 9 after a warm-up.
  template <typename Run> qforge_status medianTime(Run &&run, float &time) {
    return medianTimes(
        1, [&](int) { return run(); }, &time);
  }

  static EpilogueParams epilogueParams(const qforge_gemm_desc &d) {
    EpilogueParams p;
    p.rows = d.batch * d.m;
    p.n = d.n;
    p.m = d.m;
    p.lhsScale = d.lhs_scale;
    p.lhsScaleCount = d.lhs_scale_count;
    p.rhsScale = d.rhs_scale;
    p.rhsScaleCount = d.rhs_scale_count;
    p.rhsScalePerBatch = d.batch > 1 && d.rhs_scale_count == d.batch * d.n;
    p.biasInt = d.bias && d.bias_dtype == QFORGE_I32
                    ? static_cast<const int32_t *>(d.bias)
                    : nullptr;
    p.biasFloat = d.bias && d.bias_dtype == QFORGE_F32
                      ? static_cast<const float *>(d.bias)
                      : nullptr;
    p.activation = int(d.activation);
    p.outScale = d.out_scale;
    p.outZeroPoint = d.out_zero_point;
    p.outQmin = outQmin(d);
    p.outQmax = outQmax(d);
    return p;
  }

  qforge_status launchEpilogue(const qforge_gemm_desc &d, const int32_t *acc) {
    EpilogueParams p = epilogueParams(d);
    auto launch = [&](auto tag) -> cudaError_t {
      using T = decltype(tag);
      T *out = static_cast<T *>(d.out);
      bool vector = d.n % 4 == 0 && packAligned<4, int32_t>(acc) &&
                    packAligned<4, T>(out);
      if (vector)
        epilogueKernel<4, T>
            <<<gridFor(p.rows * p.n / 4, 256), 256, 0, stream>>>(acc, out, p);
      else
        epilogueKernel<1, T>
            <<<gridFor(p.rows * p.n, 256), 256, 0, stream>>>(acc, out, p);
      return cudaGetLastError();
    };
    if (d.out_dtype == QFORGE_I8)
      QF_CUDA(launch(int8_t{}));
    else
      QF_CUDA(withFloatType(d.out_dtype, launch));
    return QFORGE_OK;
  }

  //--- QFORGE_PROFILE ---------------------------------------------------------
  void profileBegin(const char *name) override {
    if (!profiling)
      return;
    Timed timed{name, nullptr, nullptr, 0.0};
    cudaEventCreate(&timed.start);
    cudaEventCreate(&timed.stop);
    cudaEventRecord(timed.start, stream);
    pending.push_back(timed);
    hostStart = std::chrono::steady_clock::now();
  }
  void profileEnd() override {
    if (!profiling || pending.empty() || !pending.back().stop)
      return;
    pending.back().hostMs = std::chrono::duration<double, std::milli>(
                                std::chrono::steady_clock::now() - hostStart)
                                .count();
    cudaEventRecord(pending.back().stop, stream);
    if (pending.size() >= 4096)
      collectProfile();
  }
  void profileReset() override {
    if (!profiling)
      return;
    collectProfile();
    profile.clear();
  }
  /// Folds the recorded intervals into per-name totals (synchronizes).
  void collectProfile() {
    cudaStreamSynchronize(stream);
    for (Timed &t : pending) {
      float ms = 0;
      if (cudaEventElapsedTime(&ms, t.start, t.stop) == cudaSuccess) {
        ProfileRow &row = profile[t.name];
        row.calls += 1;
        row.deviceMs += ms;
        row.hostMs += t.hostMs;
      }
      cudaEventDestroy(t.start);
      cudaEventDestroy(t.stop);
    }
    pending.clear();
  }
  void printProfile() {
    collectProfile();
    std::vector<std::pair<std::string, ProfileRow>> rows(profile.begin(),
                                                         profile.end());
    std::sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) {
      return a.second.deviceMs > b.second.deviceMs;
    });
    double all = 0, allHost = 0;
    for (const auto &row : rows) {
      all += row.second.deviceMs;
      allHost += row.second.hostMs;
    }
    // Host time: spent in the call on the CPU (issuing it); where it
    // exceeds the device time the GPU idles between operations.
    std::fprintf(stderr,
                 "qforge profile (QFORGE_PROFILE): device %.3f ms, host "
                 "%.3f ms in calls\n  %10s %6s %10s %8s  %s\n",
                 all, allHost, "device ms", "%", "host ms", "calls", "op");
    for (const auto &row : rows)
      std::fprintf(
          stderr, "  %10.3f %5.1f%% %10.3f %8lld  %s\n", row.second.deviceMs,
          all > 0 ? 100.0 * row.second.deviceMs / all : 0.0, row.second.hostMs,
          (long long)row.second.calls, row.first.c_str());
  }

  //--- attention -------------------------------------------------------------
  qforge_status attention(const qforge_attention_desc &d) override {
    if (const char *reason = attentionUnsupportedReason(d))
      return fail(QFORGE_ERR_UNSUPPORTED, "%s (got dtype %d, head_dim %lld)",
                  reason, int(d.dtype), (long long)d.head_dim);
    QF_TRY(attentionScratch.reserve(attentionWorkspaceBytes(d)));
    QF_CUDA(launchAttention(d, attentionScratch.ptr, stream, attentionEncoder));
    return QFORGE_OK;
  }

  //--- float GEMM ------------------------------------------------------------
  /// cuBLASLt in column-major terms: the row-major [M, N] result is the
  /// column-major N x M product rhs^T lhs^T. A row-major K x N rhs already
  /// is that N x K column-major A (op N); an N x K rhs is used with op T;
  /// B = lhs. The first heuristic algorithm is kept per shape; bias and
  /// activation run after it in one elementwise kernel (cuBLASLt's own
  /// GELU is the tanh form, qforge's the erf form).
  qforge_status gemmFloat(const qforge_float_gemm_desc &d) override {
    cudaDataType_t type = d.dtype == QFORGE_F16    ? CUDA_R_16F
                          : d.dtype == QFORGE_BF16 ? CUDA_R_16BF
                                                   : CUDA_R_32F;
    cublasComputeType_t compute =
        d.allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    FloatPlanKey key{d.batch,
                     d.m,
                     d.n,
                     d.k,
                     d.rhs_transposed != 0,
                     d.rhs_shared != 0,
                     int(d.dtype),
                     d.allow_tf32 != 0};
    auto found = floatPlans.find(key);
    if (found == floatPlans.end()) {
      auto plan = std::make_unique<Plan>();
      qforge_status status = makeFloatPlan(d, type, compute, *plan);
      if (status != QFORGE_OK)
        return status;
      found = floatPlans.emplace(key, std::move(plan)).first;
    }
    Plan &plan = *found->second;
    if (!plan.usable)
      return fail(QFORGE_ERR_UNSUPPORTED,
                  "cuBLASLt has no algorithm for the float gemm %lldx%lldx%lld "
                  "(batch %lld)",
                  (long long)d.m, (long long)d.n, (long long)d.k,
                  (long long)d.batch);
    float alpha = 1.0f, beta = 0.0f;
    QF_CUBLAS(cublasLtMatmul(lt, plan.op, &alpha, d.rhs, plan.a, d.lhs, plan.b,
                             &beta, d.out, plan.c, d.out, plan.c, &plan.algo,
                             workspace, kWorkspaceBytes, stream));
    if (d.bias || d.activation != QFORGE_ACT_NONE) {
      int64_t count = d.batch * d.m * d.n;
      auto launch = [&](auto zero) -> cudaError_t {
        using T = decltype(zero);
        floatEpilogueKernel<T><<<gridFor(count, 256), 256, 0, stream>>>(
            static_cast<T *>(d.out), count, d.n, d.bias, int(d.activation));
        return cudaGetLastError();
      };
      QF_CUDA(withFloatType(d.dtype, launch));
    }
    return QFORGE_OK;
  }

  qforge_status makeFloatPlan(const qforge_float_gemm_desc &d,
                              cudaDataType_t type, cublasComputeType_t compute,
                              Plan &plan) {
    QF_CUBLAS(cublasLtMatmulDescCreate(&plan.op, compute, CUDA_R_32F));
    cublasOperation_t opA = d.rhs_transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
    QF_CUBLAS(cublasLtMatmulDescSetAttribute(
        plan.op, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof opA));
    // A: rhs, stored K x N row-major (= N x K column-major, ld N) or N x K
    // row-major (= K x N column-major, ld K, used transposed).
    uint64_t aRows = d.rhs_transposed ? d.k : d.n;
    uint64_t aCols = d.rhs_transposed ? d.n : d.k;
    QF_CUBLAS(cublasLtMatrixLayoutCreate(&plan.a, type, aRows, aCols,
                                         int64_t(aRows)));
    QF_CUBLAS(cublasLtMatrixLayoutCreate(&plan.b, type, d.k, d.m, d.k));
    QF_CUBLAS(cublasLtMatrixLayoutCreate(&plan.c, type, d.n, d.m, d.n));
    if (d.batch > 1) {
      int32_t batch = int32_t(d.batch);
      int64_t strideA = d.rhs_shared ? 0 : d.n * d.k, strideB = d.m * d.k,
              strideC = d.m * d.n;
      for (auto [layout, stride] :
           {std::pair{plan.a, strideA}, {plan.b, strideB}, {plan.c, strideC}}) {
        QF_CUBLAS(cublasLtMatrixLayoutSetAttribute(
            layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
        QF_CUBLAS(cublasLtMatrixLayoutSetAttribute(
            layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
            sizeof stride));
      }
    }
    cublasLtMatmulPreference_t preference = nullptr;
    QF_CUBLAS(cublasLtMatmulPreferenceCreate(&preference));
    size_t workspaceBytes = kWorkspaceBytes;
    cublasLtMatmulPreferenceSetAttribute(
        preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspaceBytes,
        sizeof workspaceBytes);
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    cublasStatus_t status =
        cublasLtMatmulAlgoGetHeuristic(lt, plan.op, plan.a, plan.b, plan.c,
                                       plan.c, preference, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(preference);
    plan.usable = status == CUBLAS_STATUS_SUCCESS && found > 0;
    if (plan.usable)
      plan.algo = result.algo;
    return QFORGE_OK;
  }

  //--- device-resident models ----------------------------------------------
  qforge_status kernel(uint64_t moduleId, const void *image, const char *name,
                       void **function) override {
    const DriverApi &driver = DriverApi::get();
    if (!driver.ok())
      return fail(QFORGE_ERR_DEVICE, "%s", driver.error.c_str());
    auto key = std::make_pair(moduleId, std::string(name));
    auto found = functions.find(key);
    if (found != functions.end()) {
      *function = found->second;
      return QFORGE_OK;
    }
    QF_CUDA(cudaSetDevice(device)); // the primary context, current here
    auto loaded = modules.find(moduleId);
    if (loaded == modules.end()) {
      char log[8192] = "";
      CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER,
                                CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
      void *values[] = {log, reinterpret_cast<void *>(sizeof log)};
      CUmodule module = nullptr;
      CUresult result =
          driver.moduleLoadDataEx(&module, image, 2, options, values);
      if (result != CUDA_SUCCESS)
        return fail(QFORGE_ERR_DEVICE,
                    "cannot load the model's GPU kernels (PTX JIT): %s%s%s",
                    driver.message(result).c_str(), log[0] ? ": " : "", log);
      loaded = modules.emplace(moduleId, module).first;
    }
    CUfunction fn = nullptr;
    CUresult result = driver.moduleGetFunction(
        &fn, static_cast<CUmodule>(loaded->second), name);
    if (result != CUDA_SUCCESS)
      return fail(QFORGE_ERR_DEVICE, "no kernel '%s' in the model: %s", name,
                  driver.message(result).c_str());
    functions.emplace(key, fn);
    *function = fn;
    return QFORGE_OK;
  }

  qforge_status launch(void *function, const int64_t grid[3],
                       const int64_t block[3], int32_t sharedBytes,
                       void **params) override {
    const DriverApi &driver = DriverApi::get();
    CUresult result = driver.launchKernel(
        static_cast<CUfunction>(function), unsigned(grid[0]), unsigned(grid[1]),
        unsigned(grid[2]), unsigned(block[0]), unsigned(block[1]),
        unsigned(block[2]), unsigned(sharedBytes),
        reinterpret_cast<CUstream>(stream), params, nullptr);
    if (result != CUDA_SUCCESS)
      return fail(QFORGE_ERR_DEVICE,
                  "kernel launch (grid %lld x %lld x %lld, block %lld x %lld "
                  "x %lld) failed: %s",
                  (long long)grid[0], (long long)grid[1], (long long)grid[2],
                  (long long)block[0], (long long)block[1], (long long)block[2],
                  driver.message(result).c_str());
    return QFORGE_OK;
  }

  qforge_status allocAsync(int64_t bytes, void **out) override {
    QF_CUDA(cudaMallocFromPoolAsync(out, size_t(std::max<int64_t>(bytes, 1)),
                                    pool, stream));
    return QFORGE_OK;
  }
  qforge_status releaseAsync(void *ptr) override {
    QF_CUDA(cudaFreeAsync(ptr, stream));
    return QFORGE_OK;
  }
  qforge_status copyAny(void *dst, const void *src, int64_t bytes) override {
    QF_CUDA(
        cudaMemcpyAsync(dst, src, size_t(bytes), cudaMemcpyDefault, stream));
    return QFORGE_OK;
  }
  bool isDevicePointer(const void *ptr) const override {
    cudaPointerAttributes attributes{};
    if (cudaPointerGetAttributes(&attributes, ptr) != cudaSuccess) {
      cudaGetLastError(); // not a CUDA pointer: clear the sticky-free error
      return false;
    }
    return attributes.type == cudaMemoryTypeDevice;
  }

  cudaStream_t stream = nullptr;
  int device = 0;
  Int8Route int8Route = Int8Route::CublasLt;   // QFORGE_CUDA_INT8_GEMM
  bool int8GemmPersistent = true;              // QFORGE_CUDA_INT8_GEMM_GRID
  StoreChoice int8Store = StoreChoice::Timed;  // QFORGE_CUDA_INT8_GEMM_STORE
  std::map<RouteKey, Int8Route> fastestRoutes; // of each timed shape
  // The Hopper int8 attention's tensor maps are encoded with it; null: the
  // mma.sync kernel (QFORGE_CUDA_INT8_ATTENTION).
  TensorMapEncoder attentionEncoder = nullptr;
  struct Timed {
    std::string name;
    cudaEvent_t start, stop;
    double hostMs;
  };
  struct ProfileRow {
    int64_t calls = 0;
    double deviceMs = 0, hostMs = 0;
  };
  std::vector<Timed> pending;
  std::chrono::steady_clock::time_point hostStart;
  std::map<std::string, ProfileRow> profile;
  std::map<uint64_t, void *> modules; // model image id -> CUmodule
  std::map<std::pair<uint64_t, std::string>, void *> functions;
  bool ownsStream = false;
  cudaMemPool_t pool = nullptr; // allocations of device-resident models
  cublasLtHandle_t lt = nullptr;
  void *workspace = nullptr;
  cudaEvent_t timerStart = nullptr, timerStop = nullptr;
  Scratch accumulators, transposed, small;
  Scratch attentionScratch; // quantized operands of int8 attention
  std::map<PlanKey, std::unique_ptr<Plan>> plans;
  using FloatPlanKey =
      std::tuple<int64_t, int64_t, int64_t, int64_t, bool, bool, int, bool>;
  std::map<FloatPlanKey, std::unique_ptr<Plan>> floatPlans;
  std::unordered_map<const void *, ConstantEntry> constants;    // host -> dev
  std::unordered_map<const void *, int64_t> deviceConstants;    // dev -> bytes
  std::unordered_map<const void *, void *> transposedConstants; // dev -> N x K
};

} // namespace

bool cudaBackendAvailable() {
  int devices = 0;
  return cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
}

qforge_status createCudaBackend(void *stream, bool useStream,
                                std::unique_ptr<Backend> &out) {
  auto backend = std::make_unique<CudaBackend>();
  qforge_status status = backend->init(stream, useStream);
  if (status != QFORGE_OK)
    return status;
  out = std::move(backend);
  return QFORGE_OK;
}

} // namespace qforge::rt
