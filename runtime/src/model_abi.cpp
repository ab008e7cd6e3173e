//===- model_abi.cpp - the calls compiled models make ---------------------===//
//
// Thin adapters from the scalar-only signatures generated code can call to
// the C API: pointers arrive as integers, errors are recorded (sticky,
// per thread) rather than returned, because generated code has no way to
// unwind.
//
//===----------------------------------------------------------------------===//

#include "backend.h"

#include <string>

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
  if (qforge_rt_backend(current) != QFORGE_BACKEND_CPU) {
    firstFailure = qforge::rt::fail(
        QFORGE_ERR_UNSUPPORTED,
        "compiled models keep tensors in host memory and run on the cpu "
        "backend; a cuda context is not supported yet");
    return false;
  }
  return true;
}

void record(qforge_status status) {
  if (status != QFORGE_OK && firstFailure == QFORGE_OK)
    firstFailure = status;
}

} // namespace

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
  if (ready())
    record(qforge_rt_quantize(current, qforge_dtype(inType), ptr<void>(in),
                              count, scale, zeroPoint, qmin, qmax,
                              ptr<int8_t>(out)));
}

void qforge_rt_m_quantize_per_axis(int64_t in, int32_t inType, int64_t outer,
                                   int64_t channels, int64_t inner,
                                   int64_t scales, int64_t zeroPoints,
                                   int32_t qmin, int32_t qmax, int64_t out) {
  if (ready())
    record(qforge_rt_quantize_per_axis(
        current, qforge_dtype(inType), ptr<void>(in), outer, channels, inner,
        ptr<float>(scales), ptr<int32_t>(zeroPoints), qmin, qmax,
        ptr<int8_t>(out)));
}

void qforge_rt_m_dequantize(int64_t in, int64_t count, float scale,
                            int32_t zeroPoint, int32_t outType, int64_t out) {
  if (ready())
    record(qforge_rt_dequantize(current, ptr<int8_t>(in), count, scale,
                                zeroPoint, qforge_dtype(outType),
                                ptr<void>(out)));
}

void qforge_rt_m_dequantize_per_axis(int64_t in, int64_t outer,
                                     int64_t channels, int64_t inner,
                                     int64_t scales, int64_t zeroPoints,
                                     int32_t outType, int64_t out) {
  if (ready())
    record(qforge_rt_dequantize_per_axis(
        current, ptr<int8_t>(in), outer, channels, inner, ptr<float>(scales),
        ptr<int32_t>(zeroPoints), qforge_dtype(outType), ptr<void>(out)));
}

void qforge_rt_m_dynamic_quantize(int64_t in, int32_t inType, int64_t rows,
                                  int64_t cols, int32_t granularity,
                                  int64_t out, int64_t scales) {
  if (ready())
    record(qforge_rt_dynamic_quantize(
        current, qforge_dtype(inType), ptr<void>(in), rows, cols,
        qforge_granularity(granularity), ptr<int8_t>(out), ptr<float>(scales)));
}

void qforge_rt_m_requantize(int64_t in, int32_t inType, int64_t count,
                            float inScale, int32_t inZeroPoint, float outScale,
                            int32_t outZeroPoint, int32_t qmin, int32_t qmax,
                            int64_t out) {
  if (ready())
    record(qforge_rt_requantize(current, qforge_dtype(inType), ptr<void>(in),
                                count, inScale, inZeroPoint, outScale,
                                outZeroPoint, qmin, qmax, ptr<int8_t>(out)));
}

void qforge_rt_m_observe(int64_t id, int64_t idLength, int64_t data,
                         int32_t dtype, int64_t count) {
  if (!ready())
    return;
  std::string name(ptr<const char>(id), size_t(idLength));
  record(qforge_rt_observe_by_id(current, name.c_str(), qforge_dtype(dtype),
                                 ptr<void>(data), count));
}

void qforge_rt_m_gemm(int64_t batch, int64_t m, int64_t n, int64_t k,
                      int32_t rhsTransposed, int32_t rhsShared, int64_t lhs,
                      int64_t rhs, int64_t lhsScale, int64_t lhsScaleCount,
                      int64_t rhsScale, int64_t rhsScaleCount, int64_t bias,
                      int32_t biasType, int32_t activation, int32_t outType,
                      float outScale, int32_t outZeroPoint, int64_t out) {
  if (!ready())
    return;
  qforge_gemm_desc d{};
  d.batch = batch;
  d.m = m;
  d.n = n;
  d.k = k;
  d.rhs_transposed = rhsTransposed;
  d.rhs_shared = rhsShared;
  d.lhs = ptr<int8_t>(lhs);
  d.rhs = ptr<int8_t>(rhs);
  d.lhs_scale = ptr<float>(lhsScale);
  d.lhs_scale_count = lhsScaleCount;
  d.rhs_scale = ptr<float>(rhsScale);
  d.rhs_scale_count = rhsScaleCount;
  d.bias = ptr<void>(bias);
  d.bias_dtype = qforge_dtype(biasType);
  d.activation = qforge_activation(activation);
  d.out_dtype = qforge_dtype(outType);
  d.out_scale = outScale;
  d.out_zero_point = outZeroPoint;
  d.out = ptr<void>(out);
  record(qforge_rt_gemm(current, &d));
}

} // extern "C"
