//===- backend.h - what a runtime backend implements -----------*- C++ -*-===//
//
// The C API (api.cpp) validates every argument and then calls one of these;
// a backend may assume well-formed requests.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_RT_BACKEND_H
#define QFORGE_RT_BACKEND_H

#include "qforge_rt.h"

#include <cstdint>
#include <memory>

namespace qforge::rt {

/// Records `message` as this thread's last error and returns `status`.
qforge_status fail(qforge_status status, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/// Statistics of one batch of observed values (finite values only).
struct BatchStats {
  float min = 0, max = 0;
  int64_t finite = 0, nan = 0, inf = 0;
};

/// A per-axis view [outer, channels, inner] with per-channel parameters.
/// The i8 output range of a GEMM (both 0: the full [-128, 127]).
inline int32_t outQmin(const qforge_gemm_desc &d) {
  return d.out_qmin == 0 && d.out_qmax == 0 ? -128 : d.out_qmin;
}
inline int32_t outQmax(const qforge_gemm_desc &d) {
  return d.out_qmin == 0 && d.out_qmax == 0 ? 127 : d.out_qmax;
}

struct AxisView {
  int64_t outer, channels, inner;
  const float *scales;
  const int32_t *zeroPoints; // may be null
};

class Backend {
public:
  virtual ~Backend() = default;
  virtual qforge_backend kind() const = 0;

  virtual qforge_status synchronize() = 0;
  virtual qforge_status alloc(int64_t bytes, void **out) = 0;
  virtual qforge_status release(void *ptr) = 0;
  virtual qforge_status copyToDevice(void *dst, const void *src,
                                     int64_t bytes) = 0;
  virtual qforge_status copyToHost(void *dst, const void *src,
                                   int64_t bytes) = 0;
  virtual qforge_status copyOnDevice(void *dst, const void *src,
                                     int64_t bytes) = 0;
  virtual qforge_status constant(const void *host, int64_t bytes,
                                 const void **out) = 0;

  virtual qforge_status quantize(qforge_dtype inType, const void *in,
                                 int64_t count, float scale, int32_t zeroPoint,
                                 int32_t qmin, int32_t qmax, int8_t *out) = 0;
  virtual qforge_status quantizePerAxis(qforge_dtype inType, const void *in,
                                        const AxisView &view, int32_t qmin,
                                        int32_t qmax, int8_t *out) = 0;
  /// Quantizes act(x) (`activation` applied to each element in f32).
  virtual qforge_status dynamicQuantize(qforge_dtype inType, const void *in,
                                        int64_t rows, int64_t cols,
                                        qforge_granularity granularity,
                                        qforge_activation activation,
                                        int8_t *out, float *scales) = 0;
  virtual qforge_status dequantize(const int8_t *in, int64_t count, float scale,
                                   int32_t zeroPoint, qforge_dtype outType,
                                   void *out) = 0;
  virtual qforge_status dequantizePerAxis(const int8_t *in,
                                          const AxisView &view,
                                          qforge_dtype outType, void *out) = 0;
  virtual qforge_status requantize(qforge_dtype inType, const void *in,
                                   int64_t count, float inScale,
                                   int32_t inZeroPoint, float outScale,
                                   int32_t outZeroPoint, int32_t qmin,
                                   int32_t qmax, int8_t *out) = 0;
  virtual qforge_status gemm(const qforge_gemm_desc &desc) = 0;
  virtual qforge_status gemmFloat(const qforge_float_gemm_desc &desc) = 0;
  virtual qforge_status attention(const qforge_attention_desc &desc) = 0;

  /// Min/max/counts of the finite values of one batch.
  virtual qforge_status batchStats(qforge_dtype type, const void *data,
                                   int64_t count, BatchStats &stats) = 0;
  /// Adds the histogram of the finite values of a batch over
  /// [-range, range] (invWidth = numBins / (2 * range)) into `bins`.
  virtual qforge_status histogram(qforge_dtype type, const void *data,
                                  int64_t count, float range, float invWidth,
                                  int32_t numBins, int64_t *bins) = 0;

  //--- device-resident models (qforge-compile --target cuda) -------------
  // Kernels come as PTX inside the model library; `moduleId` names one
  // image for the life of the process (runtime/src/gpu_abi.cpp). The CPU
  // backend cannot run them and says so.

  /// The kernel `name` of the PTX `image`, JIT-compiled on first use.
  virtual qforge_status kernel(uint64_t moduleId, const void *image,
                               const char *name, void **function);
  /// Launches `function` on the context's stream.
  virtual qforge_status launch(void *function, const int64_t grid[3],
                               const int64_t block[3], int32_t sharedBytes,
                               void **params);
  /// Stream-ordered device allocation (a model's intermediate tensors).
  virtual qforge_status allocAsync(int64_t bytes, void **out);
  virtual qforge_status releaseAsync(void *ptr);
  /// A copy between any two buffers of this backend (host or device).
  virtual qforge_status copyAny(void *dst, const void *src, int64_t bytes);
  /// Whether `ptr` is device memory (a device-resident model's tensor),
  /// which model calls then use in place instead of staging it.
  virtual bool isDevicePointer(const void *ptr) const;

  /// QFORGE_PROFILE=1: time the work between profileBegin(name) and
  /// profileEnd() on the device and print a per-name table when the
  /// context is destroyed (cuda; nothing on the cpu backend).
  virtual void profileBegin(const char * /*name*/) {}
  virtual void profileEnd() {}
  /// Drops the timings so far (qforge_rt_profile_reset).
  virtual void profileReset() {}
  bool profiling = false; // set by a backend that honours QFORGE_PROFILE

  int64_t hostToDevice = 0;
  int64_t deviceToHost = 0;
};

std::unique_ptr<Backend> createCpuBackend();

/// Creates the CUDA backend; `stream` is a cudaStream_t to order work on when
/// `useStream` is true, otherwise the backend creates its own.
qforge_status createCudaBackend(void *stream, bool useStream,
                                std::unique_ptr<Backend> &out);
bool cudaBackendAvailable();

} // namespace qforge::rt

#endif // QFORGE_RT_BACKEND_H
