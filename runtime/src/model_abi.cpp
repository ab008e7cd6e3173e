//===- model_abi.cpp - the calls compiled models make ---------------------===//
//
// Thin adapters from the scalar-only signatures generated code can call to
// the C API: pointers arrive as integers, errors are recorded (sticky,
// per thread) rather than returned, because generated code has no way to
// unwind. Models keep tensors in host memory; on a cuda context each call
// stages its operands through device buffers (see Stage).
//
//===----------------------------------------------------------------------===//

#include "backend.h"
#include "model_state.h"

#include <string>
#include <vector>

#include <dlfcn.h>

namespace {

thread_local qforge_context *current = nullptr;
thread_local qforge_status firstFailure = QFORGE_OK;

template <typename T> T *ptr(int64_t address) {
  return reinterpret_cast<T *>(static_cast<intptr_t>(address));
}

/// Whether the model may make a call now; records why not otherwise.
bool ready() {
  if (firstFailure != QFORGE_OK)
    return false; // keep the first failure's message
  if (!current) {
    firstFailure =
        qforge::rt::fail(QFORGE_ERR_INVALID_ARGUMENT,
                         "a compiled model ran with no current context: call "
                         "qforge_rt_set_current first");
    return false;
  }
  return true;
}

void record(qforge_status status) {
  if (status != QFORGE_OK && firstFailure == QFORGE_OK)
    firstFailure = status;
}

bool onDevice() { return qforge_rt_backend(current) == QFORGE_BACKEND_CUDA; }

int64_t dtypeSize(int32_t type) {
  switch (type) {
  case QFORGE_F32:
  case QFORGE_I32:
    return 4;
  case QFORGE_F16:
  case QFORGE_BF16:
    return 2;
  default:
    return 1;
  }
}

/// Compiled models keep tensors in host memory. On a cuda context each call
/// stages its operands: host buffers are copied to fresh device buffers and
/// results copied back (all counted by qforge_rt_transfer_count). Operands
/// that live inside a loaded library image — the model's constant weights,
/// scales and biases — never change, so they go through qforge_rt_constant
/// and are uploaded once per context.
class Stage {
public:
  ~Stage() {
    for (void *p : owned)
      qforge_rt_free(current, p);
  }
  bool ok() const { return status == QFORGE_OK; }

  /// A device copy of `bytes` at `host` (0 stays 0); device memory (a
  /// device-resident model's tensor) is used in place.
  int64_t in(int64_t host, int64_t bytes) {
    if (!host || !ok())
      return 0;
    const void *source = reinterpret_cast<const void *>(intptr_t(host));
    if (qforge::rt::backendOf(current).isDevicePointer(source))
      return host;
    Dl_info info;
    if (dladdr(source, &info) && info.dli_fname) {
      const void *device = nullptr;
      check(qforge_rt_constant(current, source, bytes, &device));
      return int64_t(intptr_t(device));
    }
    void *device = allocate(bytes);
    if (device)
      check(qforge_rt_copy_to_device(current, device, source, bytes));
    return int64_t(intptr_t(device));
  }
  /// A device buffer whose contents go back to `host` at finish(); device
  /// memory is written in place.
  int64_t out(int64_t host, int64_t bytes) {
    if (host && qforge::rt::backendOf(current).isDevicePointer(
                    reinterpret_cast<const void *>(intptr_t(host))))
      return host;
    void *device = allocate(bytes);
    if (device)
      results.push_back({host, device, bytes});
    return int64_t(intptr_t(device));
  }
  /// Copies the results back; returns the first failure of the staging.
  qforge_status finish() {
    for (const Result &r : results)
      if (ok())
        check(qforge_rt_copy_to_host(current,
                                     reinterpret_cast<void *>(intptr_t(r.host)),
                                     r.device, r.bytes));
    return status;
  }

private:
  struct Result {
    int64_t host;
    void *device;
    int64_t bytes;
  };
  void *allocate(int64_t bytes) {
    void *device = nullptr;
    if (ok() && check(qforge_rt_alloc(current, bytes, &device)))
      owned.push_back(device);
    return device;
  }
  bool check(qforge_status s) {
    if (s != QFORGE_OK && status == QFORGE_OK)
      status = s;
    return s == QFORGE_OK;
  }
  std::vector<void *> owned;
  std::vector<Result> results;
  qforge_status status = QFORGE_OK;
};

/// Runs one model call: `prepare(in, out)` maps its host operands (staged
/// through device buffers on a cuda context, unchanged on cpu) and returns
/// the runtime call to make; results are copied back afterwards.
/// `name` labels the call in QFORGE_PROFILE's per-op timings.
template <typename Prepare> void staged(const char *name, Prepare prepare) {
  if (!ready())
    return;
  bool device = onDevice();
  Stage stage;
  auto stageIn = [&](int64_t host, int64_t bytes) {
    return device ? stage.in(host, bytes) : host;
  };
  auto stageOut = [&](int64_t host, int64_t bytes) {
    return device ? stage.out(host, bytes) : host;
  };
  auto call = prepare(stageIn, stageOut);
  if (!stage.ok()) {
    record(stage.finish());
    return;
  }
  qforge::rt::Backend &backend = qforge::rt::backendOf(current);
  backend.profileBegin(name);
  qforge_status status = call();
  backend.profileEnd();
  record(status);
  if (device && status == QFORGE_OK)
    record(stage.finish());
}

} // namespace

namespace qforge::rt {
qforge_context *modelContext() { return current; }
bool modelReady() { return ready(); }
void modelRecord(qforge_status status) { record(status); }
} // namespace qforge::rt

extern "C" {

qforge_status qforge_rt_set_current(qforge_context *ctx) {
  current = ctx;
  firstFailure = QFORGE_OK;
  return QFORGE_OK;
}

qforge_status qforge_rt_model_status(void) { return firstFailure; }

void qforge_rt_m_quantize(int64_t in, int32_t inType, int64_t count,
                          float scale, int32_t zeroPoint, int32_t qmin,
                          int32_t qmax, int64_t out) {
  staged("quantize", [&](auto stageIn, auto stageOut) {
    int64_t x = stageIn(in, count * dtypeSize(inType));
    int64_t y = stageOut(out, count);
    return [=] {
      return qforge_rt_quantize(current, qforge_dtype(inType), ptr<void>(x),
                                count, scale, zeroPoint, qmin, qmax,
                                ptr<int8_t>(y));
    };
  });
}

void qforge_rt_m_quantize_per_axis(int64_t in, int32_t inType, int64_t outer,
                                   int64_t channels, int64_t inner,
                                   int64_t scales, int64_t zeroPoints,
                                   int32_t qmin, int32_t qmax, int64_t out) {
  int64_t count = outer * channels * inner;
  staged("quantize_per_axis", [&](auto stageIn, auto stageOut) {
    int64_t x = stageIn(in, count * dtypeSize(inType));
    int64_t s = stageIn(scales, channels * 4);
    int64_t z = stageIn(zeroPoints, channels * 4);
    int64_t y = stageOut(out, count);
    return [=] {
      return qforge_rt_quantize_per_axis(
          current, qforge_dtype(inType), ptr<void>(x), outer, channels, inner,
          ptr<float>(s), ptr<int32_t>(z), qmin, qmax, ptr<int8_t>(y));
    };
  });
}

void qforge_rt_m_dequantize(int64_t in, int64_t count, float scale,
                            int32_t zeroPoint, int32_t outType, int64_t out) {
  staged("dequantize", [&](auto stageIn, auto stageOut) {
    int64_t x = stageIn(in, count);
    int64_t y = stageOut(out, count * dtypeSize(outType));
    return [=] {
      return qforge_rt_dequantize(current, ptr<int8_t>(x), count, scale,
                                  zeroPoint, qforge_dtype(outType),
                                  ptr<void>(y));
    };
  });
}

void qforge_rt_m_dequantize_per_axis(int64_t in, int64_t outer,
                                     int64_t channels, int64_t inner,
                                     int64_t scales, int64_t zeroPoints,
                                     int32_t outType, int64_t out) {
  int64_t count = outer * channels * inner;
  staged("dequantize_per_axis", [&](auto stageIn, auto stageOut) {
    int64_t x = stageIn(in, count);
    int64_t s = stageIn(scales, channels * 4);
    int64_t z = stageIn(zeroPoints, channels * 4);
    int64_t y = stageOut(out, count * dtypeSize(outType));
    return [=] {
      return qforge_rt_dequantize_per_axis(
          current, ptr<int8_t>(x), outer, channels, inner, ptr<float>(s),
          ptr<int32_t>(z), qforge_dtype(outType), ptr<void>(y));
    };
  });
}

void qforge_rt_m_dynamic_quantize(int64_t in, int32_t inType, int64_t rows,
                                  int64_t cols, int32_t granularity,
                                  int64_t out, int64_t scales) {
  qforge_rt_m_dynamic_quantize_act(in, inType, rows, cols, granularity,
                                   QFORGE_ACT_NONE, out, scales);
}

void qforge_rt_m_dynamic_quantize_act(int64_t in, int32_t inType, int64_t rows,
                                      int64_t cols, int32_t granularity,
                                      int32_t activation, int64_t out,
                                      int64_t scales) {
  int64_t scaleCount = granularity == QFORGE_PER_TOKEN ? rows : 1;
  staged("dynamic_quantize", [&](auto stageIn, auto stageOut) {
    int64_t x = stageIn(in, rows * cols * dtypeSize(inType));
    int64_t y = stageOut(out, rows * cols);
    int64_t s = stageOut(scales, scaleCount * 4);
    return [=] {
      return qforge_rt_dynamic_quantize_act(
          current, qforge_dtype(inType), ptr<void>(x), rows, cols,
          qforge_granularity(granularity), qforge_activation(activation),
          ptr<int8_t>(y), ptr<float>(s));
    };
  });
}

void qforge_rt_m_requantize(int64_t in, int32_t inType, int64_t count,
                            float inScale, int32_t inZeroPoint, float outScale,
                            int32_t outZeroPoint, int32_t qmin, int32_t qmax,
                            int64_t out) {
  staged("requantize", [&](auto stageIn, auto stageOut) {
    int64_t x = stageIn(in, count * dtypeSize(inType));
    int64_t y = stageOut(out, count);
    return [=] {
      return qforge_rt_requantize(current, qforge_dtype(inType), ptr<void>(x),
                                  count, inScale, inZeroPoint, outScale,
                                  outZeroPoint, qmin, qmax, ptr<int8_t>(y));
    };
  });
}

void qforge_rt_m_observe(int64_t id, int64_t idLength, int64_t data,
                         int32_t dtype, int64_t count) {
  std::string name(ptr<const char>(id), size_t(idLength));
  staged("observe", [&](auto stageIn, auto) {
    int64_t x = stageIn(data, count * dtypeSize(dtype));
    return [=] {
      return qforge_rt_observe_by_id(current, name.c_str(), qforge_dtype(dtype),
                                     ptr<void>(x), count);
    };
  });
}

void qforge_rt_m_check_size(int64_t actual, int64_t expected, int64_t what,
                            int64_t whatLength) {
  if (!ready() || actual == expected)
    return;
  record(qforge::rt::fail(QFORGE_ERR_INVALID_ARGUMENT,
                          "%.*s is %lld, expected %lld", int(whatLength),
                          ptr<const char>(what), (long long)actual,
                          (long long)expected));
}

void qforge_rt_m_gemm_float(int64_t batch, int64_t m, int64_t n, int64_t k,
                            int32_t rhsTransposed, int32_t rhsShared,
                            int32_t dtype, int64_t lhs, int64_t rhs,
                            int64_t bias, int32_t activation, int64_t out) {
  staged("gemm_float", [&](auto stageIn, auto stageOut) {
    int64_t width = dtypeSize(dtype);
    qforge_float_gemm_desc d{};
    d.batch = batch;
    d.m = m;
    d.n = n;
    d.k = k;
    d.rhs_transposed = rhsTransposed;
    d.rhs_shared = rhsShared;
    d.dtype = qforge_dtype(dtype);
    d.lhs = ptr<void>(stageIn(lhs, batch * m * k * width));
    d.rhs = ptr<void>(stageIn(rhs, (rhsShared ? 1 : batch) * n * k * width));
    d.bias = ptr<float>(stageIn(bias, n * 4));
    d.activation = qforge_activation(activation);
    d.out = ptr<void>(stageOut(out, batch * m * n * width));
    return [=] { return qforge_rt_gemm_float(current, &d); };
  });
}

void qforge_rt_m_attention(int64_t batch, int64_t seqQ, int64_t seqKV,
                           int64_t headDim, int32_t dtype, float scale,
                           int32_t causal, int32_t mode, int64_t q,
                           int64_t qBatchStride, int64_t qRowStride, int64_t k,
                           int64_t kBatchStride, int64_t kRowStride, int64_t v,
                           int64_t vBatchStride, int64_t vRowStride,
                           int64_t out, int64_t outBatchStride,
                           int64_t outRowStride) {
  staged("attention", [&](auto stageIn, auto stageOut) {
    int64_t width = dtypeSize(dtype);
    // Bytes from a view's first element to one past its last.
    auto extent = [&](int64_t batchStride, int64_t rows, int64_t rowStride) {
      return ((batch - 1) * batchStride + (rows - 1) * rowStride + headDim) *
             width;
    };
    qforge_attention_desc d{};
    d.batch = batch;
    d.seq_q = seqQ;
    d.seq_kv = seqKV;
    d.head_dim = headDim;
    d.dtype = qforge_dtype(dtype);
    d.scale = scale;
    d.causal = causal;
    d.mode = mode;
    d.q = ptr<void>(stageIn(q, extent(qBatchStride, seqQ, qRowStride)));
    d.q_batch_stride = qBatchStride;
    d.q_row_stride = qRowStride;
    d.k = ptr<void>(stageIn(k, extent(kBatchStride, seqKV, kRowStride)));
    d.k_batch_stride = kBatchStride;
    d.k_row_stride = kRowStride;
    d.v = ptr<void>(stageIn(v, extent(vBatchStride, seqKV, vRowStride)));
    d.v_batch_stride = vBatchStride;
    d.v_row_stride = vRowStride;
    // The compiler's output views cover their buffer (no gaps to keep).
    d.out =
        ptr<void>(stageOut(out, extent(outBatchStride, seqQ, outRowStride)));
    d.out_batch_stride = outBatchStride;
    d.out_row_stride = outRowStride;
    return [=] { return qforge_rt_attention(current, &d); };
  });
}

void qforge_rt_m_gemm(int64_t batch, int64_t m, int64_t n, int64_t k,
                      int32_t rhsTransposed, int32_t rhsShared, int64_t lhs,
                      int64_t rhs, int64_t lhsScale, int64_t lhsScaleCount,
                      int64_t rhsScale, int64_t rhsScaleCount, int64_t bias,
                      int32_t biasType, int32_t activation, int32_t outType,
                      float outScale, int32_t outZeroPoint, int32_t outQmin,
                      int32_t outQmax, int64_t out) {
  staged("gemm", [&](auto stageIn, auto stageOut) {
    qforge_gemm_desc d{};
    d.batch = batch;
    d.m = m;
    d.n = n;
    d.k = k;
    d.rhs_transposed = rhsTransposed;
    d.rhs_shared = rhsShared;
    d.lhs = ptr<int8_t>(stageIn(lhs, batch * m * k));
    d.rhs = ptr<int8_t>(stageIn(rhs, (rhsShared ? 1 : batch) * n * k));
    d.lhs_scale = ptr<float>(stageIn(lhsScale, lhsScaleCount * 4));
    d.lhs_scale_count = lhsScaleCount;
    d.rhs_scale = ptr<float>(stageIn(rhsScale, rhsScaleCount * 4));
    d.rhs_scale_count = rhsScaleCount;
    d.bias = ptr<void>(stageIn(bias, n * 4));
    d.bias_dtype = qforge_dtype(biasType);
    d.activation = qforge_activation(activation);
    d.out_dtype = qforge_dtype(outType);
    d.out_scale = outScale;
    d.out_zero_point = outZeroPoint;
    d.out_qmin = outQmin;
    d.out_qmax = outQmax;
    d.out = ptr<void>(stageOut(out, batch * m * n * dtypeSize(outType)));
    return [=] { return qforge_rt_gemm(current, &d); };
  });
}

} // extern "C"
