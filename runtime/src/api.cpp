//===- api.cpp - the qforge runtime C API: validation and dispatch --------===//
//
// Every argument is checked here, once, so that both backends receive only
// well-formed requests and every misuse gets the same message on either.
//
//===----------------------------------------------------------------------===//

#include "backend.h"
#include "model_state.h"
#include "numerics.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>

using namespace qforge::rt;

struct qforge_observer {
  int32_t numBins = 0;
  float range = 0;          // histogram covers [-range, range]; 0: not yet
  int64_t pendingZeros = 0; // zeros seen while every value so far was 0
  bool hasFinite = false;
  double min = 0, max = 0;
  int64_t count = 0, nanCount = 0, infCount = 0;
  std::vector<int64_t> histogram;
  std::vector<int64_t> report; // what stats() shows while range is 0
};

struct qforge_context {
  std::unique_ptr<Backend> backend;
  // Calibration statistics by observer id (qforge.observe in a model).
  std::map<std::string, std::unique_ptr<qforge_observer>> calibration;
};

namespace qforge::rt {
Backend &backendOf(qforge_context *ctx) { return *ctx->backend; }
} // namespace qforge::rt

namespace {
thread_local std::string lastError;

#define QF_RETURN_IF_ERROR(expr)                                               \
  do {                                                                         \
    qforge_status status_ = (expr);                                            \
    if (status_ != QFORGE_OK)                                                  \
      return status_;                                                          \
  } while (0)

/// Runs `body` with C++ exceptions (bad_alloc from a std::vector, say)
/// turned into statuses: nothing may unwind through the C ABI.
template <typename Body> qforge_status guarded(Body &&body) {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return fail(QFORGE_ERR_OUT_OF_MEMORY, "out of host memory");
  } catch (const std::exception &e) {
    return fail(QFORGE_ERR_INTERNAL, "internal error: %s", e.what());
  } catch (...) {
    return fail(QFORGE_ERR_INTERNAL, "internal error: unknown exception");
  }
}

qforge_status checkContext(const qforge_context *ctx) {
  if (!ctx || !ctx->backend)
    return fail(QFORGE_ERR_INVALID_ARGUMENT, "context is null");
  return QFORGE_OK;
}

const char *dtypeName(qforge_dtype type) {
  switch (type) {
  case QFORGE_F32:
    return "f32";
  case QFORGE_F16:
    return "f16";
  case QFORGE_BF16:
    return "bf16";
  case QFORGE_I8:
    return "i8";
  case QFORGE_I32:
    return "i32";
  }
  return "unknown";
}

bool isFloatType(qforge_dtype type) {
  return type == QFORGE_F32 || type == QFORGE_F16 || type == QFORGE_BF16;
}

qforge_status checkFloatType(const char *what, qforge_dtype type) {
  if (!isFloatType(type))
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "%s dtype must be f32, f16 or bf16, got %s (%d)", what,
                dtypeName(type), int(type));
  return QFORGE_OK;
}

qforge_status checkPointer(const char *what, const void *ptr) {
  if (!ptr)
    return fail(QFORGE_ERR_INVALID_ARGUMENT, "%s is null", what);
  return QFORGE_OK;
}

qforge_status checkCount(const char *what, int64_t count) {
  if (count < 0)
    return fail(QFORGE_ERR_INVALID_ARGUMENT, "%s must be >= 0, got %lld", what,
                (long long)count);
  return QFORGE_OK;
}

/// Validates a copy's arguments; a zero-byte copy is a valid no-op (`empty`),
/// even with null pointers.
qforge_status checkCopy(const qforge_context *ctx, const void *dst,
                        const void *src, int64_t bytes, bool &empty) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkCount("copy size", bytes));
  empty = bytes == 0;
  if (empty)
    return QFORGE_OK;
  QF_RETURN_IF_ERROR(checkPointer("copy destination", dst));
  return checkPointer("copy source", src);
}

qforge_status checkScale(const char *what, float scale) {
  if (!(scale > 0.0f) || !std::isfinite(scale))
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "%s must be finite and > 0, got %g", what, double(scale));
  return QFORGE_OK;
}

qforge_status checkQuantRange(int32_t qmin, int32_t qmax, int32_t zeroPoint) {
  if (qmin < -128 || qmax > 127 || qmin > qmax)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "storage range [%d, %d] must lie within [-128, 127]", qmin,
                qmax);
  if (zeroPoint < qmin || zeroPoint > qmax)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "zero point %d is outside the storage range [%d, %d]",
                zeroPoint, qmin, qmax);
  return QFORGE_OK;
}

qforge_status checkAxisView(const AxisView &view) {
  if (view.outer < 0 || view.channels < 1 || view.inner < 0)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "per-axis view [%lld, %lld, %lld] needs outer >= 0, "
                "channels >= 1 and inner >= 0",
                (long long)view.outer, (long long)view.channels,
                (long long)view.inner);
  return checkPointer("scales", view.scales);
}

qforge_status checkGemm(const qforge_gemm_desc *d) {
  using qforge::rt::outQmax;
  using qforge::rt::outQmin;
  QF_RETURN_IF_ERROR(checkPointer("gemm descriptor", d));
  if (d->batch < 1 || d->m < 1 || d->n < 1 || d->k < 1)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "gemm sizes must be >= 1, got batch=%lld m=%lld n=%lld k=%lld",
                (long long)d->batch, (long long)d->m, (long long)d->n,
                (long long)d->k);
  if (d->k > QFORGE_MAX_GEMM_K)
    return fail(QFORGE_ERR_UNSUPPORTED,
                "gemm K=%lld exceeds %d, the largest K whose i32 accumulation "
                "of i8 products cannot overflow; split the contraction",
                (long long)d->k, QFORGE_MAX_GEMM_K);
  QF_RETURN_IF_ERROR(checkPointer("gemm lhs", d->lhs));
  QF_RETURN_IF_ERROR(checkPointer("gemm rhs", d->rhs));
  QF_RETURN_IF_ERROR(checkPointer("gemm out", d->out));
  bool hasEpilogue = d->lhs_scale_count || d->rhs_scale_count || d->bias ||
                     d->activation != QFORGE_ACT_NONE;
  switch (d->out_dtype) {
  case QFORGE_I32:
    if (hasEpilogue)
      return fail(QFORGE_ERR_INVALID_ARGUMENT,
                  "an i32 gemm output is the raw accumulator and takes no "
                  "scales, bias or activation");
    break;
  case QFORGE_I8:
    QF_RETURN_IF_ERROR(checkScale("gemm out_scale", d->out_scale));
    QF_RETURN_IF_ERROR(
        checkQuantRange(outQmin(*d), outQmax(*d), d->out_zero_point));
    break;
  case QFORGE_F32:
  case QFORGE_F16:
  case QFORGE_BF16:
    break;
  default:
    return fail(QFORGE_ERR_INVALID_ARGUMENT, "gemm out dtype %d is invalid",
                int(d->out_dtype));
  }
  int64_t rows = d->batch * d->m;
  int64_t lc = d->lhs_scale_count;
  if (lc != 0 && lc != 1 && lc != rows)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "gemm lhs_scale_count must be 0, 1 or batch*M = %lld, got %lld",
                (long long)rows, (long long)lc);
  int64_t rc = d->rhs_scale_count;
  bool perBatchRhs = !d->rhs_shared && d->batch > 1 && rc == d->batch * d->n;
  if (rc != 0 && rc != 1 && rc != d->n && !perBatchRhs)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "gemm rhs_scale_count must be 0, 1, N = %lld or (unshared rhs) "
                "batch*N, got %lld",
                (long long)d->n, (long long)rc);
  if (lc && !d->lhs_scale)
    return fail(QFORGE_ERR_INVALID_ARGUMENT, "gemm lhs_scale is null");
  if (rc && !d->rhs_scale)
    return fail(QFORGE_ERR_INVALID_ARGUMENT, "gemm rhs_scale is null");
  if (d->bias && d->bias_dtype != QFORGE_I32 && d->bias_dtype != QFORGE_F32)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "gemm bias dtype must be i32 or f32, got %s",
                dtypeName(d->bias_dtype));
  if (d->activation < QFORGE_ACT_NONE || d->activation > QFORGE_ACT_GELU)
    return fail(QFORGE_ERR_INVALID_ARGUMENT, "gemm activation %d is invalid",
                int(d->activation));
  return QFORGE_OK;
}

qforge_status checkFloatGemm(const qforge_float_gemm_desc *d) {
  QF_RETURN_IF_ERROR(checkPointer("float gemm descriptor", d));
  if (d->batch < 1 || d->m < 1 || d->n < 1 || d->k < 1)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "float gemm sizes must be >= 1, got batch=%lld m=%lld n=%lld "
                "k=%lld",
                (long long)d->batch, (long long)d->m, (long long)d->n,
                (long long)d->k);
  QF_RETURN_IF_ERROR(checkFloatType("float gemm", d->dtype));
  if (d->allow_tf32 && d->dtype != QFORGE_F32)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "allow_tf32 applies to f32 gemms only");
  QF_RETURN_IF_ERROR(checkPointer("float gemm lhs", d->lhs));
  QF_RETURN_IF_ERROR(checkPointer("float gemm rhs", d->rhs));
  QF_RETURN_IF_ERROR(checkPointer("float gemm out", d->out));
  if (d->activation < QFORGE_ACT_NONE || d->activation > QFORGE_ACT_GELU)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "float gemm activation %d is invalid", int(d->activation));
  return QFORGE_OK;
}

/// Whether a [batch, rows, width] view with the given strides (and unit
/// stride along width) has two elements at one address.
bool viewOverlaps(int64_t batch, int64_t batchStride, int64_t rows,
                  int64_t rowStride, int64_t width) {
  // Dims of extent 1 take no stride; the others, innermost first, must
  // each step past everything inside them.
  struct Dim {
    int64_t extent, stride;
  };
  Dim dims[2] = {{rows, rowStride}, {batch, batchStride}};
  if (dims[0].extent > 1 && dims[1].extent > 1 &&
      dims[1].stride < dims[0].stride)
    std::swap(dims[0], dims[1]);
  int64_t covered = width; // elements spanned by the dims seen so far
  for (const Dim &d : dims) {
    if (d.extent == 1)
      continue;
    if (d.stride < covered)
      return true;
    covered = (d.extent - 1) * d.stride + covered;
  }
  return false;
}

qforge_status checkAttention(const qforge_attention_desc *d) {
  QF_RETURN_IF_ERROR(checkPointer("attention descriptor", d));
  if (d->batch < 1 || d->seq_q < 1 || d->seq_kv < 1 || d->head_dim < 1)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "attention sizes must be >= 1, got batch=%lld seq_q=%lld "
                "seq_kv=%lld head_dim=%lld",
                (long long)d->batch, (long long)d->seq_q, (long long)d->seq_kv,
                (long long)d->head_dim);
  QF_RETURN_IF_ERROR(checkFloatType("attention", d->dtype));
  if (!std::isfinite(d->scale))
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "attention scale must be finite, got %g", double(d->scale));
  if (d->causal != 0 && d->causal != 1)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "attention causal must be 0 or 1, got %d", int(d->causal));
  if (d->mode != QFORGE_ATTENTION_FLOAT && d->mode != QFORGE_ATTENTION_INT8)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "attention mode must be QFORGE_ATTENTION_FLOAT (0) or "
                "QFORGE_ATTENTION_INT8 (1), got %d",
                int(d->mode));
  if (d->mode == QFORGE_ATTENTION_INT8 && d->dtype != QFORGE_F16 &&
      d->dtype != QFORGE_BF16)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "int8 attention takes f16 or bf16 tensors, got dtype %d",
                int(d->dtype));
  const struct {
    const char *name;
    const void *data;
    int64_t batchStride, rowStride;
  } views[] = {{"q", d->q, d->q_batch_stride, d->q_row_stride},
               {"k", d->k, d->k_batch_stride, d->k_row_stride},
               {"v", d->v, d->v_batch_stride, d->v_row_stride},
               {"out", d->out, d->out_batch_stride, d->out_row_stride}};
  for (const auto &view : views) {
    if (!view.data)
      return fail(QFORGE_ERR_INVALID_ARGUMENT, "attention %s is NULL",
                  view.name);
    if (view.batchStride < 0 || view.rowStride < 0)
      return fail(QFORGE_ERR_INVALID_ARGUMENT,
                  "attention %s strides must be >= 0, got %lld and %lld",
                  view.name, (long long)view.batchStride,
                  (long long)view.rowStride);
  }
  if (viewOverlaps(d->batch, d->out_batch_stride, d->seq_q, d->out_row_stride,
                   d->head_dim))
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "attention out rows overlap (batch stride %lld, row stride "
                "%lld, head_dim %lld)",
                (long long)d->out_batch_stride, (long long)d->out_row_stride,
                (long long)d->head_dim);
  return QFORGE_OK;
}

/// Applies QFORGE_DEVICE, if set, over the requested backend.
qforge_status resolveBackend(qforge_backend requested, qforge_backend &out) {
  out = requested;
  const char *env = std::getenv("QFORGE_DEVICE");
  if (!env || !*env)
    return QFORGE_OK;
  if (std::strcmp(env, "cpu") == 0)
    out = QFORGE_BACKEND_CPU;
  else if (std::strcmp(env, "cuda") == 0)
    out = QFORGE_BACKEND_CUDA;
  else
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "QFORGE_DEVICE must be 'cpu' or 'cuda', got '%s'", env);
  return QFORGE_OK;
}

/// Fails, naming the magnitude, if doubling the observer's range (as
/// growObserverRange does) cannot cover `absMax` without overflowing float.
qforge_status checkObserverRangeCovers(const qforge_observer &obs,
                                       float absMax) {
  float range = obs.range;
  if (range == 0.0f)
    return QFORGE_OK; // the first non-zero batch sets the range to its max
  while (absMax > range) {
    if (!std::isfinite(range * 2.0f))
      return fail(QFORGE_ERR_INVALID_ARGUMENT,
                  "observed magnitude %g is too large for a float histogram "
                  "range",
                  double(absMax));
    range *= 2.0f;
  }
  return QFORGE_OK;
}

/// Doubles the observer's range until it covers `absMax`, merging pairs of
/// bins: bin j of [-R, R] lies inside bin numBins/4 + j/2 of [-2R, 2R].
/// checkObserverRangeCovers has already ruled out a range that would
/// overflow.
void growObserverRange(qforge_observer &obs, float absMax) {
  int32_t bins = obs.numBins;
  while (absMax > obs.range) {
    std::vector<int64_t> merged(bins, 0);
    for (int32_t j = 0; j < bins; ++j)
      merged[bins / 4 + j / 2] += obs.histogram[j];
    obs.histogram.swap(merged);
    obs.range *= 2.0f;
  }
}
} // namespace

qforge_status qforge::rt::fail(qforge_status status, const char *format, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  lastError = buffer;
  return status;
}

extern "C" {

const char *qforge_rt_last_error(void) { return lastError.c_str(); }

const char *qforge_rt_status_name(qforge_status status) {
  switch (status) {
  case QFORGE_OK:
    return "ok";
  case QFORGE_ERR_INVALID_ARGUMENT:
    return "invalid argument";
  case QFORGE_ERR_UNSUPPORTED:
    return "unsupported";
  case QFORGE_ERR_OUT_OF_MEMORY:
    return "out of memory";
  case QFORGE_ERR_DEVICE:
    return "device error";
  case QFORGE_ERR_INTERNAL:
    return "internal error";
  }
  return "unknown status";
}

int qforge_rt_cuda_available(void) { return cudaBackendAvailable() ? 1 : 0; }

qforge_status qforge_rt_create(qforge_backend backend, qforge_context **out) {
  return guarded([&]() -> qforge_status {
    QF_RETURN_IF_ERROR(checkPointer("output context pointer", out));
    *out = nullptr;
    qforge_backend chosen;
    QF_RETURN_IF_ERROR(resolveBackend(backend, chosen));
    auto ctx = std::make_unique<qforge_context>();
    if (chosen == QFORGE_BACKEND_CPU) {
      ctx->backend = createCpuBackend();
    } else if (chosen == QFORGE_BACKEND_CUDA) {
      QF_RETURN_IF_ERROR(createCudaBackend(nullptr, false, ctx->backend));
    } else {
      return fail(QFORGE_ERR_INVALID_ARGUMENT, "backend %d is invalid",
                  int(chosen));
    }
    *out = ctx.release();
    return QFORGE_OK;
  });
}

qforge_status qforge_rt_create_on_stream(void *cudaStream,
                                         qforge_context **out) {
  return guarded([&]() -> qforge_status {
    QF_RETURN_IF_ERROR(checkPointer("output context pointer", out));
    *out = nullptr;
    auto ctx = std::make_unique<qforge_context>();
    QF_RETURN_IF_ERROR(createCudaBackend(cudaStream, true, ctx->backend));
    *out = ctx.release();
    return QFORGE_OK;
  });
}

qforge_status qforge_rt_destroy(qforge_context *ctx) {
  if (!ctx)
    return QFORGE_OK;
  return guarded([&]() -> qforge_status {
    qforge_status status =
        ctx->backend ? ctx->backend->synchronize() : QFORGE_OK;
    delete ctx;
    return status;
  });
}

qforge_backend qforge_rt_backend(const qforge_context *ctx) {
  return ctx && ctx->backend ? ctx->backend->kind() : QFORGE_BACKEND_CPU;
}

qforge_status qforge_rt_synchronize(qforge_context *ctx) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  return guarded([&] { return ctx->backend->synchronize(); });
}

qforge_status qforge_rt_alloc(qforge_context *ctx, int64_t bytes, void **out) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkPointer("output pointer", out));
  QF_RETURN_IF_ERROR(checkCount("allocation size", bytes));
  return guarded([&] { return ctx->backend->alloc(bytes, out); });
}

qforge_status qforge_rt_free(qforge_context *ctx, void *ptr) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  if (!ptr)
    return QFORGE_OK;
  return guarded([&] { return ctx->backend->release(ptr); });
}

qforge_status qforge_rt_copy_to_device(qforge_context *ctx, void *dst,
                                       const void *src, int64_t bytes) {
  bool empty = false;
  QF_RETURN_IF_ERROR(checkCopy(ctx, dst, src, bytes, empty));
  if (empty)
    return QFORGE_OK;
  return guarded([&] { return ctx->backend->copyToDevice(dst, src, bytes); });
}

qforge_status qforge_rt_copy_to_host(qforge_context *ctx, void *dst,
                                     const void *src, int64_t bytes) {
  bool empty = false;
  QF_RETURN_IF_ERROR(checkCopy(ctx, dst, src, bytes, empty));
  if (empty)
    return QFORGE_OK;
  return guarded([&] { return ctx->backend->copyToHost(dst, src, bytes); });
}

qforge_status qforge_rt_copy_on_device(qforge_context *ctx, void *dst,
                                       const void *src, int64_t bytes) {
  bool empty = false;
  QF_RETURN_IF_ERROR(checkCopy(ctx, dst, src, bytes, empty));
  if (empty)
    return QFORGE_OK;
  return guarded([&] { return ctx->backend->copyOnDevice(dst, src, bytes); });
}

qforge_status qforge_rt_constant(qforge_context *ctx, const void *host,
                                 int64_t bytes, const void **out) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkPointer("constant data", host));
  QF_RETURN_IF_ERROR(checkPointer("output pointer", out));
  QF_RETURN_IF_ERROR(checkCount("constant size", bytes));
  return guarded([&] { return ctx->backend->constant(host, bytes, out); });
}

qforge_status qforge_rt_transfer_count(const qforge_context *ctx,
                                       int64_t *hostToDevice,
                                       int64_t *deviceToHost) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  if (hostToDevice)
    *hostToDevice = ctx->backend->hostToDevice;
  if (deviceToHost)
    *deviceToHost = ctx->backend->deviceToHost;
  return QFORGE_OK;
}

qforge_status qforge_rt_profile_reset(qforge_context *ctx) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  return guarded([&] {
    ctx->backend->profileReset();
    return QFORGE_OK;
  });
}

qforge_status qforge_rt_quantize(qforge_context *ctx, qforge_dtype inType,
                                 const void *in, int64_t count, float scale,
                                 int32_t zeroPoint, int32_t qmin, int32_t qmax,
                                 int8_t *out) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkFloatType("quantize input", inType));
  QF_RETURN_IF_ERROR(checkCount("element count", count));
  QF_RETURN_IF_ERROR(checkScale("quantize scale", scale));
  QF_RETURN_IF_ERROR(checkQuantRange(qmin, qmax, zeroPoint));
  if (count == 0)
    return QFORGE_OK;
  QF_RETURN_IF_ERROR(checkPointer("quantize input", in));
  QF_RETURN_IF_ERROR(checkPointer("quantize output", out));
  return guarded([&] {
    return ctx->backend->quantize(inType, in, count, scale, zeroPoint, qmin,
                                  qmax, out);
  });
}

qforge_status qforge_rt_quantize_per_axis(
    qforge_context *ctx, qforge_dtype inType, const void *in, int64_t outer,
    int64_t channels, int64_t inner, const float *scales,
    const int32_t *zeroPoints, int32_t qmin, int32_t qmax, int8_t *out) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkFloatType("quantize input", inType));
  AxisView view{outer, channels, inner, scales, zeroPoints};
  QF_RETURN_IF_ERROR(checkAxisView(view));
  // Per-channel zero points live in backend memory; only the range is
  // checked here (the backends clamp every result to it).
  QF_RETURN_IF_ERROR(checkQuantRange(qmin, qmax, qmin));
  if (outer * inner == 0)
    return QFORGE_OK;
  QF_RETURN_IF_ERROR(checkPointer("quantize input", in));
  QF_RETURN_IF_ERROR(checkPointer("quantize output", out));
  return guarded([&] {
    return ctx->backend->quantizePerAxis(inType, in, view, qmin, qmax, out);
  });
}

qforge_status qforge_rt_dynamic_quantize(qforge_context *ctx,
                                         qforge_dtype inType, const void *in,
                                         int64_t rows, int64_t cols,
                                         qforge_granularity granularity,
                                         int8_t *out, float *scales) {
  return qforge_rt_dynamic_quantize_act(
      ctx, inType, in, rows, cols, granularity, QFORGE_ACT_NONE, out, scales);
}

qforge_status qforge_rt_dynamic_quantize_act(
    qforge_context *ctx, qforge_dtype inType, const void *in, int64_t rows,
    int64_t cols, qforge_granularity granularity, qforge_activation activation,
    int8_t *out, float *scales) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkFloatType("dynamic quantize input", inType));
  if (rows < 1 || cols < 1)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "dynamic quantize needs rows >= 1 and cols >= 1, got %lld x "
                "%lld",
                (long long)rows, (long long)cols);
  if (granularity != QFORGE_PER_TENSOR && granularity != QFORGE_PER_TOKEN)
    return fail(QFORGE_ERR_INVALID_ARGUMENT, "granularity %d is invalid",
                int(granularity));
  if (activation < QFORGE_ACT_NONE || activation > QFORGE_ACT_GELU)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "dynamic quantize activation %d is invalid", int(activation));
  QF_RETURN_IF_ERROR(checkPointer("dynamic quantize input", in));
  QF_RETURN_IF_ERROR(checkPointer("dynamic quantize output", out));
  QF_RETURN_IF_ERROR(checkPointer("dynamic quantize scales", scales));
  return guarded([&] {
    return ctx->backend->dynamicQuantize(inType, in, rows, cols, granularity,
                                         activation, out, scales);
  });
}

qforge_status qforge_rt_dequantize(qforge_context *ctx, const int8_t *in,
                                   int64_t count, float scale,
                                   int32_t zeroPoint, qforge_dtype outType,
                                   void *out) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkFloatType("dequantize output", outType));
  QF_RETURN_IF_ERROR(checkCount("element count", count));
  QF_RETURN_IF_ERROR(checkScale("dequantize scale", scale));
  QF_RETURN_IF_ERROR(checkQuantRange(-128, 127, zeroPoint));
  if (count == 0)
    return QFORGE_OK;
  QF_RETURN_IF_ERROR(checkPointer("dequantize input", in));
  QF_RETURN_IF_ERROR(checkPointer("dequantize output", out));
  return guarded([&] {
    return ctx->backend->dequantize(in, count, scale, zeroPoint, outType, out);
  });
}

qforge_status qforge_rt_dequantize_per_axis(qforge_context *ctx,
                                            const int8_t *in, int64_t outer,
                                            int64_t channels, int64_t inner,
                                            const float *scales,
                                            const int32_t *zeroPoints,
                                            qforge_dtype outType, void *out) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkFloatType("dequantize output", outType));
  AxisView view{outer, channels, inner, scales, zeroPoints};
  QF_RETURN_IF_ERROR(checkAxisView(view));
  if (outer * inner == 0)
    return QFORGE_OK;
  QF_RETURN_IF_ERROR(checkPointer("dequantize input", in));
  QF_RETURN_IF_ERROR(checkPointer("dequantize output", out));
  return guarded(
      [&] { return ctx->backend->dequantizePerAxis(in, view, outType, out); });
}

qforge_status qforge_rt_requantize(qforge_context *ctx, qforge_dtype inType,
                                   const void *in, int64_t count, float inScale,
                                   int32_t inZeroPoint, float outScale,
                                   int32_t outZeroPoint, int32_t qmin,
                                   int32_t qmax, int8_t *out) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  if (inType != QFORGE_I8 && inType != QFORGE_I32)
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "requantize input dtype must be i8 or i32, got %s",
                dtypeName(inType));
  QF_RETURN_IF_ERROR(checkCount("element count", count));
  QF_RETURN_IF_ERROR(checkScale("requantize input scale", inScale));
  QF_RETURN_IF_ERROR(checkScale("requantize output scale", outScale));
  QF_RETURN_IF_ERROR(checkQuantRange(qmin, qmax, outZeroPoint));
  if (count == 0)
    return QFORGE_OK;
  QF_RETURN_IF_ERROR(checkPointer("requantize input", in));
  QF_RETURN_IF_ERROR(checkPointer("requantize output", out));
  return guarded([&] {
    return ctx->backend->requantize(inType, in, count, inScale, inZeroPoint,
                                    outScale, outZeroPoint, qmin, qmax, out);
  });
}

qforge_status qforge_rt_gemm_float(qforge_context *ctx,
                                   const qforge_float_gemm_desc *desc) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkFloatGemm(desc));
  return guarded([&] { return ctx->backend->gemmFloat(*desc); });
}

qforge_status qforge_rt_attention(qforge_context *ctx,
                                  const qforge_attention_desc *desc) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkAttention(desc));
  return guarded([&] { return ctx->backend->attention(*desc); });
}

qforge_status qforge_rt_gemm(qforge_context *ctx,
                             const qforge_gemm_desc *desc) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkGemm(desc));
  return guarded([&] { return ctx->backend->gemm(*desc); });
}

qforge_status qforge_rt_observer_create(int32_t numBins,
                                        qforge_observer **out) {
  QF_RETURN_IF_ERROR(checkPointer("output observer pointer", out));
  *out = nullptr;
  if (numBins < 8 || numBins % 4 != 0 || numBins > (1 << 24))
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "observer bin count must be a multiple of 4 in [8, 2^24], got "
                "%d",
                numBins);
  return guarded([&]() -> qforge_status {
    auto obs = std::make_unique<qforge_observer>();
    obs->numBins = numBins;
    obs->histogram.assign(numBins, 0);
    *out = obs.release();
    return QFORGE_OK;
  });
}

qforge_status qforge_rt_observer_destroy(qforge_observer *obs) {
  delete obs;
  return QFORGE_OK;
}

qforge_status qforge_rt_observe(qforge_context *ctx, qforge_observer *obs,
                                qforge_dtype type, const void *data,
                                int64_t count) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkPointer("observer", obs));
  QF_RETURN_IF_ERROR(checkFloatType("observed data", type));
  QF_RETURN_IF_ERROR(checkCount("element count", count));
  if (count == 0)
    return QFORGE_OK;
  QF_RETURN_IF_ERROR(checkPointer("observed data", data));
  return guarded([&]() -> qforge_status {
    BatchStats batch;
    QF_RETURN_IF_ERROR(ctx->backend->batchStats(type, data, count, batch));
    // Every check before the first change: a rejected batch leaves the
    // observer as it was (found by the runtime ABI fuzzer).
    QF_RETURN_IF_ERROR(checkObserverRangeCovers(
        *obs, std::max(std::fabs(batch.min), std::fabs(batch.max))));
    obs->nanCount += batch.nan;
    obs->infCount += batch.inf;
    if (batch.finite == 0)
      return QFORGE_OK;
    obs->min =
        obs->hasFinite ? std::min<double>(obs->min, batch.min) : batch.min;
    obs->max =
        obs->hasFinite ? std::max<double>(obs->max, batch.max) : batch.max;
    obs->hasFinite = true;
    obs->count += batch.finite;

    float absMax = std::max(std::fabs(batch.min), std::fabs(batch.max));
    if (obs->range == 0.0f) {
      if (absMax == 0.0f) { // every value so far is 0: no range to bin over
        obs->pendingZeros += batch.finite;
        return QFORGE_OK;
      }
      obs->range = absMax;
      obs->histogram[obs->numBins / 2] += obs->pendingZeros;
      obs->pendingZeros = 0;
    }
    growObserverRange(*obs, absMax);
    // Half the bins over the half range: 2 * range overflows for ranges
    // near FLT_MAX (the same quotient otherwise, as both halvings are exact).
    float invWidth = float(obs->numBins / 2) / obs->range;
    return ctx->backend->histogram(type, data, count, obs->range, invWidth,
                                   obs->numBins, obs->histogram.data());
  });
}

qforge_status qforge_rt_observer_stats(qforge_observer *obs,
                                       qforge_observer_stats *out) {
  QF_RETURN_IF_ERROR(checkPointer("observer", obs));
  QF_RETURN_IF_ERROR(checkPointer("output stats", out));
  out->min = obs->min;
  out->max = obs->max;
  out->count = obs->count;
  out->nan_count = obs->nanCount;
  out->inf_count = obs->infCount;
  out->range = obs->range;
  out->num_bins = obs->numBins;
  // Zeros seen before any non-zero value belong to the centre bin; while no
  // range exists they are reported there too (range 0 means "all zero").
  if (obs->range == 0.0f) {
    obs->report.assign(size_t(obs->numBins), 0);
    obs->report[size_t(obs->numBins / 2)] = obs->pendingZeros;
    out->histogram = obs->report.data();
  } else {
    out->histogram = obs->histogram.data();
  }
  return QFORGE_OK;
}

qforge_status qforge_rt_observe_by_id(qforge_context *ctx, const char *id,
                                      qforge_dtype type, const void *data,
                                      int64_t count) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkPointer("observer id", id));
  return guarded([&]() -> qforge_status {
    std::unique_ptr<qforge_observer> &slot = ctx->calibration[id];
    if (!slot) {
      qforge_observer *created = nullptr;
      QF_RETURN_IF_ERROR(qforge_rt_observer_create(2048, &created));
      slot.reset(created);
    }
    return qforge_rt_observe(ctx, slot.get(), type, data, count);
  });
}

int64_t qforge_rt_calibration_size(const qforge_context *ctx) {
  return ctx ? int64_t(ctx->calibration.size()) : 0;
}

qforge_status qforge_rt_calibration_entry(qforge_context *ctx, int64_t index,
                                          const char **id,
                                          qforge_observer_stats *stats) {
  QF_RETURN_IF_ERROR(checkContext(ctx));
  QF_RETURN_IF_ERROR(checkPointer("output id", id));
  if (index < 0 || index >= int64_t(ctx->calibration.size()))
    return fail(QFORGE_ERR_INVALID_ARGUMENT,
                "calibration entry %lld is out of range (%lld entries)",
                (long long)index, (long long)ctx->calibration.size());
  auto it = ctx->calibration.begin();
  std::advance(it, index);
  *id = it->first.c_str();
  return qforge_rt_observer_stats(it->second.get(), stats);
}

} // extern "C"
