/*===- qforge_rt.h - the qforge runtime C API ------------------------------===*
 *
 * The library that compiled qforge models call. It has no LLVM/MLIR
 * dependency and two backends: `cpu`, the reference that defines the numerics,
 * and `cuda`, checked against it (bit-exact for integer and quantized results;
 * float results are also computed with the same operation order, see
 * docs/RUNTIME.md).
 *
 * Conventions
 *  - Every call returns a qforge_status; on failure qforge_rt_last_error()
 *    gives a message (thread-local, valid until the next failing call on the
 *    same thread). Nothing exits, aborts or throws across this ABI.
 *  - Sizes are int64_t (MLIR `index`).
 *  - Tensor pointers are backend pointers: device memory on `cuda` (from
 *    qforge_rt_alloc, qforge_rt_constant or any cudaMalloc'd memory), host
 *    memory on `cpu`. Small parameter arrays (per-channel scales and zero
 *    points) follow the same rule.
 *  - All work is ordered on the context's stream; results are visible on the
 *    host after qforge_rt_synchronize or a device-to-host copy.
 *  - A context is used by one thread at a time; separate contexts may run
 *    concurrently (each has its own stream and workspace).
 *===----------------------------------------------------------------------===*/

#ifndef QFORGE_RT_H
#define QFORGE_RT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The model ABI: the qforge_rt_m_* signatures compiled models call. A model
 * records the version it was compiled for ("qforge-model N") and qforge-run
 * refuses another, so a changed signature is an error, not a misread call.
 * 2: the int8 GEMM's output range, the float GEMM, the GPU ABI;
 * 3: qforge_rt_m_attention;
 * 4: qforge_rt_m_attention's mode (int8 attention). */
#define QFORGE_MODEL_ABI_VERSION 4

#if defined(_WIN32)
#define QFORGE_RT_API __declspec(dllexport)
#else
#define QFORGE_RT_API __attribute__((visibility("default")))
#endif

typedef enum qforge_status {
  QFORGE_OK = 0,
  QFORGE_ERR_INVALID_ARGUMENT = 1, /* bad pointer, shape, dtype or option */
  QFORGE_ERR_UNSUPPORTED = 2,      /* valid request this backend cannot run */
  QFORGE_ERR_OUT_OF_MEMORY = 3,
  QFORGE_ERR_DEVICE = 4, /* CUDA / cuBLASLt failure, or no device */
  QFORGE_ERR_INTERNAL = 5
} qforge_status;

typedef enum qforge_backend {
  QFORGE_BACKEND_CPU = 0,
  QFORGE_BACKEND_CUDA = 1
} qforge_backend;

typedef enum qforge_dtype {
  QFORGE_F32 = 0,
  QFORGE_F16 = 1,
  QFORGE_BF16 = 2,
  QFORGE_I8 = 3,
  QFORGE_I32 = 4
} qforge_dtype;

typedef enum qforge_activation {
  QFORGE_ACT_NONE = 0,
  QFORGE_ACT_RELU = 1,
  QFORGE_ACT_GELU = 2 /* exact form 0.5*x*(1+erf(x/sqrt(2))) */
} qforge_activation;

typedef enum qforge_granularity {
  QFORGE_PER_TENSOR = 0,
  QFORGE_PER_TOKEN = 1 /* one scale per row (all dims but the last) */
} qforge_granularity;

typedef struct qforge_context qforge_context;

/*--- errors ---------------------------------------------------------------*/

/* Message of the last failing call on this thread ("" if none). */
QFORGE_RT_API const char *qforge_rt_last_error(void);
QFORGE_RT_API const char *qforge_rt_status_name(qforge_status status);

/*--- contexts -------------------------------------------------------------*/

/* Whether this build has the CUDA backend and a usable device. */
QFORGE_RT_API int qforge_rt_cuda_available(void);

/* Creates a context on `backend`. The environment variable QFORGE_DEVICE
 * (`cpu` or `cuda`) overrides the argument; any other value is an error. */
QFORGE_RT_API qforge_status qforge_rt_create(qforge_backend backend,
                                             qforge_context **out);
/* As qforge_rt_create, ordering all work on an existing cudaStream_t (cuda
 * only; pass NULL for the legacy default stream of the caller). The stream
 * stays owned by the caller. Lets a framework (PyTorch, a benchmark) time
 * runtime calls on its own stream. */
QFORGE_RT_API qforge_status qforge_rt_create_on_stream(void *cuda_stream,
                                                       qforge_context **out);
QFORGE_RT_API qforge_status qforge_rt_destroy(qforge_context *ctx);
QFORGE_RT_API qforge_backend qforge_rt_backend(const qforge_context *ctx);
QFORGE_RT_API qforge_status qforge_rt_synchronize(qforge_context *ctx);

/*--- buffers --------------------------------------------------------------*/

QFORGE_RT_API qforge_status qforge_rt_alloc(qforge_context *ctx, int64_t bytes,
                                            void **out);
QFORGE_RT_API qforge_status qforge_rt_free(qforge_context *ctx, void *ptr);
QFORGE_RT_API qforge_status qforge_rt_copy_to_device(qforge_context *ctx,
                                                     void *dst,
                                                     const void *host_src,
                                                     int64_t bytes);
QFORGE_RT_API qforge_status qforge_rt_copy_to_host(qforge_context *ctx,
                                                   void *host_dst,
                                                   const void *src,
                                                   int64_t bytes);
QFORGE_RT_API qforge_status qforge_rt_copy_on_device(qforge_context *ctx,
                                                     void *dst, const void *src,
                                                     int64_t bytes);

/* A constant (a weight, a scale vector) that lives for the context's life.
 * Uploaded on the first call for `host_data`, then the cached device copy is
 * returned: the host data must not change while the context lives. On `cpu`
 * returns host_data itself. */
QFORGE_RT_API qforge_status qforge_rt_constant(qforge_context *ctx,
                                               const void *host_data,
                                               int64_t bytes, const void **out);

/* Host<->device copies made by this context so far (uploads of constants
 * included). */
QFORGE_RT_API qforge_status qforge_rt_transfer_count(const qforge_context *ctx,
                                                     int64_t *host_to_device,
                                                     int64_t *device_to_host);

/* QFORGE_PROFILE=1 (cuda): drops the per-op device timings gathered so far,
 * so that the table printed when the context is destroyed covers only what
 * runs after this call (e.g. without the first, warm-up run). No-op when
 * not profiling. */
QFORGE_RT_API qforge_status qforge_rt_profile_reset(qforge_context *ctx);

/*--- quantize / dequantize ------------------------------------------------*/
/* Rounding is to nearest, ties to even; results saturate to [qmin, qmax].
 * NaN quantizes to the zero point, +Inf to qmax, -Inf to qmin.
 * Scales must be finite and > 0, zero points within [qmin, qmax], and
 * -128 <= qmin <= qmax <= 127. */

QFORGE_RT_API qforge_status qforge_rt_quantize(
    qforge_context *ctx, qforge_dtype in_dtype, const void *in, int64_t count,
    float scale, int32_t zero_point, int32_t qmin, int32_t qmax, int8_t *out);

/* Per-axis: the tensor is viewed as [outer, channels, inner]; channel c uses
 * scales[c] and zero_points[c] (zero_points may be NULL: all zero). */
QFORGE_RT_API qforge_status qforge_rt_quantize_per_axis(
    qforge_context *ctx, qforge_dtype in_dtype, const void *in, int64_t outer,
    int64_t channels, int64_t inner, const float *scales,
    const int32_t *zero_points, int32_t qmin, int32_t qmax, int8_t *out);

/* Symmetric int8 with run-time scales over a [rows, cols] view:
 * per_token: scales[r] = max|x[r,:]| / 127 for each row; per_tensor: one
 * scale in scales[0]. q = clamp(rne(x * (127 / max|x|)), -127, 127): one
 * division per group, not per element (as LLM.int8 / BMINF). An all-zero
 * group gets scale 1 (never 0 or NaN). NaN and +-Inf are left out of the
 * max; NaN quantizes to 0 and +-Inf saturate to +-127. */
QFORGE_RT_API qforge_status qforge_rt_dynamic_quantize(
    qforge_context *ctx, qforge_dtype in_dtype, const void *in, int64_t rows,
    int64_t cols, qforge_granularity granularity, int8_t *out, float *scales);
/* The same of act(x): each element widened to f32, then `activation`
 * applied (as the GEMM epilogue applies it), then quantized. A GEMM whose
 * only user is this quantization leaves its GELU here, off the tensor
 * cores' critical path (qforge-fuse-qdq). */
QFORGE_RT_API qforge_status qforge_rt_dynamic_quantize_act(
    qforge_context *ctx, qforge_dtype in_dtype, const void *in, int64_t rows,
    int64_t cols, qforge_granularity granularity, qforge_activation activation,
    int8_t *out, float *scales);

/* x = (q - zero_point) * scale in f32, rounded to out_dtype (f32/f16/bf16). */
QFORGE_RT_API qforge_status qforge_rt_dequantize(
    qforge_context *ctx, const int8_t *in, int64_t count, float scale,
    int32_t zero_point, qforge_dtype out_dtype, void *out);
QFORGE_RT_API qforge_status qforge_rt_dequantize_per_axis(
    qforge_context *ctx, const int8_t *in, int64_t outer, int64_t channels,
    int64_t inner, const float *scales, const int32_t *zero_points,
    qforge_dtype out_dtype, void *out);

/* in (i8 or i32) at (in_scale, in_zero_point) -> i8 at (out_scale,
 * out_zero_point): q' = clamp(rne(((q - z) * in_scale) / out_scale) + z'),
 * i.e. a dequantize to f32 followed by a quantize. */
QFORGE_RT_API qforge_status qforge_rt_requantize(
    qforge_context *ctx, qforge_dtype in_dtype, const void *in, int64_t count,
    float in_scale, int32_t in_zero_point, float out_scale,
    int32_t out_zero_point, int32_t qmin, int32_t qmax, int8_t *out);

/*--- int8 GEMM ------------------------------------------------------------*/

/* out[b] = epilogue(lhs[b] (M x K, row-major) * rhs[b]), rhs row-major
 * K x N, or N x K when rhs_transposed (the nn.Linear weight layout).
 * Accumulation is exact in i32; K may not exceed QFORGE_MAX_GEMM_K, the
 * largest K for which no sum of i8*i8 products can overflow i32.
 *
 * Epilogue, in f32:
 *   y = act((float)(acc + bias_i32[n]) * (lhs_scale[.] * rhs_scale[.])
 *           + bias_f32[n])
 * lhs_scale has lhs_scale_count = 0 (absent: 1), 1 (per tensor) or
 * batch*M (per row) entries; rhs_scale has 0, 1, N (per output channel) or
 * batch*N entries. out_dtype: f32, f16, bf16; i8 (requantized:
 * clamp(rne(y / out_scale) + out_zero_point, out_qmin, out_qmax), the
 * range [-128, 127] when both are 0); or i32 (the raw
 * accumulator, which takes no scales, bias or activation). */
#define QFORGE_MAX_GEMM_K 131072

typedef struct qforge_gemm_desc {
  int64_t batch;          /* >= 1 */
  int64_t m, n, k;        /* >= 1 */
  int32_t rhs_transposed; /* 0: rhs is K x N; 1: rhs is N x K */
  int32_t rhs_shared;     /* 1: one rhs for every batch (a weight) */
  const int8_t *lhs;      /* batch x M x K */
  const int8_t *rhs;      /* (batch x) K x N, or (batch x) N x K */
  const float *lhs_scale; /* may be NULL when lhs_scale_count == 0 */
  int64_t lhs_scale_count;
  const float *rhs_scale; /* may be NULL when rhs_scale_count == 0 */
  int64_t rhs_scale_count;
  const void *bias;        /* N values of bias_dtype, or NULL */
  qforge_dtype bias_dtype; /* QFORGE_I32 or QFORGE_F32 */
  qforge_activation activation;
  qforge_dtype out_dtype;
  float out_scale;        /* i8 output only */
  int32_t out_zero_point; /* i8 output only */
  int32_t out_qmin;       /* i8 output only: storage range; both 0 means */
  int32_t out_qmax;       /* [-128, 127] */
  void *out;              /* batch x M x N */
} qforge_gemm_desc;

QFORGE_RT_API qforge_status qforge_rt_gemm(qforge_context *ctx,
                                           const qforge_gemm_desc *desc);

/*--- float GEMM -----------------------------------------------------------*/

/* out[b] = act(lhs[b] (M x K) * rhs[b] + bias[n]) with lhs, rhs and out of
 * `dtype` (f32, f16 or bf16), rhs K x N or, when rhs_transposed, N x K;
 * accumulation in f32 (cuBLASLt on cuda; TF32 inputs only with allow_tf32,
 * f32 only). bias: N f32 values or NULL; activation as for the int8 GEMM
 * (GELU exact, erf form). What float matmuls of a model compiled for the
 * cuda target run on. */
typedef struct qforge_float_gemm_desc {
  int64_t batch;   /* >= 1 */
  int64_t m, n, k; /* >= 1 */
  int32_t rhs_transposed;
  int32_t rhs_shared; /* 1: one rhs for every batch */
  qforge_dtype dtype; /* of lhs, rhs and out */
  int32_t allow_tf32;
  const void *lhs;
  const void *rhs;
  const float *bias; /* N values, or NULL */
  qforge_activation activation;
  void *out;
} qforge_float_gemm_desc;

QFORGE_RT_API qforge_status
qforge_rt_gemm_float(qforge_context *ctx, const qforge_float_gemm_desc *desc);

/*--- attention ------------------------------------------------------------*/

/* Scaled dot-product attention without a mask (qforge.attention):
 *   out[b, i, :] = sum_j p[b, i, j] v[b, j, :],
 *   p[b, i, :] = softmax_j(scale * dot(q[b, i, :], k[b, j, :])),
 * q and out batch x seq_q x head_dim, k and v batch x seq_kv x head_dim,
 * all of `dtype`. Each tensor is addressed through element strides between
 * batches and between rows (1 along head_dim), so heads split out of a
 * [seq, heads * head_dim] activation are read, and written, in place; the
 * rows of `out` must not overlap. Scores and softmax are computed in f32.
 * cuda: flash attention on tensor cores (the scores never reach memory,
 * the probabilities are rounded to dtype once, for the second product) for
 * f16 and bf16, head_dim 32, 64 or 128, 16-byte aligned pointers and
 * strides that are multiples of 8; anything else is QFORGE_ERR_UNSUPPORTED.
 * cpu: any float dtype and head_dim (the reference, exact softmax).
 * causal: the softmax of query row i runs over keys 0..i only, as PyTorch's
 * scaled_dot_product_attention(is_causal=True); the kernel skips the key
 * tiles past a query block's last row.
 * mode QFORGE_ATTENTION_INT8 (f16 / bf16 inputs; the result stays in
 * dtype) runs both products on int8, quantized at run time:
 * keys in blocks of 128 (keys 128t..128t+127):
 *   q8[i] = round(q[i] * 127 / max|q[i]|) per row of Q;
 *   mu[c] = mean of the finite k[:, c] over the batch's keys (K centred:
 *     each score of row i moves by q[i] . mu, which the softmax ignores);
 *   k8[j] = round((k[j] - mu) * 127 / max|k - mu|), the max over K's
 *     block of j;
 *   v8[:, c] = round(v[:, c] * 127 / max_j |v[j, c]|) per channel of V
 *     over the batch's keys (round half to even, in f32; zeros quantize
 *     to 0);
 *   s[i, j] = dot(q8[i], k8[j]) * (max|q[i]| / 127 * scale * log2 e)
 *     * (K's block max / 127), in f32, in log2 units;
 *   per row and block t (the keys of the block the row sees): m_t = max s,
 *     p8[i, j] = round(255 * exp2(s - m_t)) as u8;
 *   out[i, c] = sum_t w_t sum_j p8 v8[j, c] / sum_t w_t sum_j p8
 *     * (max_j |v[j, c]| / 127), w_t = exp2(m_t - max_t m_t).
 * The cuda kernel (exp2 approximated, the sums online) agrees with the cpu
 * reference of this arithmetic to about 1e-3 of the output's norm (> 50 dB;
 * a u8 term may differ by one step where exp2 rounds differently); against
 * float attention the error is that of 7-bit operands (30-40 dB on
 * Gaussian data). */
typedef enum qforge_attention_mode {
  QFORGE_ATTENTION_FLOAT = 0, /* products in dtype, f32 scores */
  QFORGE_ATTENTION_INT8 = 1   /* products in int8, as above */
} qforge_attention_mode;

typedef struct qforge_attention_desc {
  int64_t batch, seq_q, seq_kv, head_dim; /* >= 1 */
  qforge_dtype dtype;
  float scale;    /* finite */
  int32_t causal; /* 1: query i sees keys j <= i only (top-left aligned) */
  int32_t mode;   /* qforge_attention_mode */
  const void *q;
  int64_t q_batch_stride, q_row_stride;
  const void *k;
  int64_t k_batch_stride, k_row_stride;
  const void *v;
  int64_t v_batch_stride, v_row_stride;
  void *out;
  int64_t out_batch_stride, out_row_stride;
} qforge_attention_desc;

QFORGE_RT_API qforge_status
qforge_rt_attention(qforge_context *ctx, const qforge_attention_desc *desc);

/*--- calibration observers ------------------------------------------------*/

/* Running statistics of the values flowing through one calibration point:
 * min/max of the finite values, counts, and a histogram of `num_bins` bins
 * over the symmetric range [-range, range]. The first data sets the range to
 * its max |x|; when later data exceeds it, the range doubles (as often as
 * needed) and pairs of bins merge, so no earlier count is lost. */
typedef struct qforge_observer qforge_observer;

typedef struct qforge_observer_stats {
  double min, max;   /* over finite values; 0 when none */
  int64_t count;     /* finite values seen */
  int64_t nan_count; /* NaN values seen (left out of everything else) */
  int64_t inf_count; /* +-Inf values seen (left out of everything else) */
  double range;      /* histogram covers [-range, range]; 0 = all zero */
  int32_t num_bins;
  const int64_t *histogram; /* num_bins counts, owned by the observer */
} qforge_observer_stats;

/* num_bins: a multiple of 4, at least 8 (2048 is the usual choice). */
QFORGE_RT_API qforge_status qforge_rt_observer_create(int32_t num_bins,
                                                      qforge_observer **out);
QFORGE_RT_API qforge_status qforge_rt_observer_destroy(qforge_observer *obs);
QFORGE_RT_API qforge_status qforge_rt_observe(qforge_context *ctx,
                                              qforge_observer *obs,
                                              qforge_dtype dtype,
                                              const void *data, int64_t count);
/* Stats stay valid until the next observe/destroy of `obs`. */
QFORGE_RT_API qforge_status
qforge_rt_observer_stats(qforge_observer *obs, qforge_observer_stats *out);

/*--- calibration by observer id -------------------------------------------*/
/* A context keeps one observer (2048 bins) per id: what the qforge.observe
 * ops of a calibration build feed. Entries are listed in id order. */
QFORGE_RT_API qforge_status qforge_rt_observe_by_id(qforge_context *ctx,
                                                    const char *id,
                                                    qforge_dtype dtype,
                                                    const void *data,
                                                    int64_t count);
QFORGE_RT_API int64_t qforge_rt_calibration_size(const qforge_context *ctx);
/* `*id` and `stats` stay valid until the next observe on `ctx`. */
QFORGE_RT_API qforge_status
qforge_rt_calibration_entry(qforge_context *ctx, int64_t index, const char **id,
                            qforge_observer_stats *stats);

/*--- entry points of compiled models --------------------------------------*/
/* Code generated by qforge-lower-to-runtime calls these. They take pointers
 * as integers (MLIR `index` / i64) and scalars by value, and run on the
 * calling thread's current context. A failure cannot unwind through
 * generated code, so it is recorded instead: the first failure since
 * qforge_rt_set_current is kept (later calls become no-ops) and the host
 * program reads it with qforge_rt_model_status after the model returns.
 * Compiled models keep their tensors in host memory: on a cuda context each
 * call copies its operands to device buffers and its results back (counted
 * by qforge_rt_transfer_count); operands inside a loaded library image (the
 * model's constant weights, scales, biases) are uploaded once, as
 * qforge_rt_constant does. */

/* Makes `ctx` the calling thread's current context and clears the recorded
 * failure. NULL clears the current context. */
QFORGE_RT_API qforge_status qforge_rt_set_current(qforge_context *ctx);
/* QFORGE_OK, or the first failure of a model call since set_current; the
 * message is in qforge_rt_last_error(). */
QFORGE_RT_API qforge_status qforge_rt_model_status(void);

QFORGE_RT_API void qforge_rt_m_quantize(int64_t in, int32_t in_dtype,
                                        int64_t count, float scale,
                                        int32_t zero_point, int32_t qmin,
                                        int32_t qmax, int64_t out);
QFORGE_RT_API void
qforge_rt_m_quantize_per_axis(int64_t in, int32_t in_dtype, int64_t outer,
                              int64_t channels, int64_t inner, int64_t scales,
                              int64_t zero_points, int32_t qmin, int32_t qmax,
                              int64_t out);
QFORGE_RT_API void qforge_rt_m_dequantize(int64_t in, int64_t count,
                                          float scale, int32_t zero_point,
                                          int32_t out_dtype, int64_t out);
QFORGE_RT_API void qforge_rt_m_dequantize_per_axis(
    int64_t in, int64_t outer, int64_t channels, int64_t inner, int64_t scales,
    int64_t zero_points, int32_t out_dtype, int64_t out);
QFORGE_RT_API void qforge_rt_m_dynamic_quantize(int64_t in, int32_t in_dtype,
                                                int64_t rows, int64_t cols,
                                                int32_t granularity,
                                                int64_t out, int64_t scales);
QFORGE_RT_API void qforge_rt_m_dynamic_quantize_act(
    int64_t in, int32_t in_dtype, int64_t rows, int64_t cols,
    int32_t granularity, int32_t activation, int64_t out, int64_t scales);
QFORGE_RT_API void qforge_rt_m_requantize(int64_t in, int32_t in_dtype,
                                          int64_t count, float in_scale,
                                          int32_t in_zero_point,
                                          float out_scale,
                                          int32_t out_zero_point, int32_t qmin,
                                          int32_t qmax, int64_t out);
/* qforge.observe: `id` is `id_length` bytes (not NUL-terminated). */
QFORGE_RT_API void qforge_rt_m_observe(int64_t id, int64_t id_length,
                                       int64_t data, int32_t dtype,
                                       int64_t count);
/* A run-time shape check the compiler emits where a size it must trust is
 * dynamic (a contraction size, a batch size, a bias length, a per-axis
 * channel count): when actual != expected it records an invalid-argument
 * failure "<what> is <actual>, expected <expected>", and the model's later
 * runtime calls are skipped. `what` is `what_length` bytes. */
QFORGE_RT_API void qforge_rt_m_check_size(int64_t actual, int64_t expected,
                                          int64_t what, int64_t what_length);
QFORGE_RT_API void qforge_rt_m_gemm_float(int64_t batch, int64_t m, int64_t n,
                                          int64_t k, int32_t rhs_transposed,
                                          int32_t rhs_shared, int32_t dtype,
                                          int64_t lhs, int64_t rhs,
                                          int64_t bias, int32_t activation,
                                          int64_t out);
/* qforge.attention; strides in elements as in qforge_attention_desc. */
QFORGE_RT_API void
qforge_rt_m_attention(int64_t batch, int64_t seq_q, int64_t seq_kv,
                      int64_t head_dim, int32_t dtype, float scale,
                      int32_t causal, int32_t mode, int64_t q,
                      int64_t q_batch_stride, int64_t q_row_stride, int64_t k,
                      int64_t k_batch_stride, int64_t k_row_stride, int64_t v,
                      int64_t v_batch_stride, int64_t v_row_stride, int64_t out,
                      int64_t out_batch_stride, int64_t out_row_stride);
QFORGE_RT_API void
qforge_rt_m_gemm(int64_t batch, int64_t m, int64_t n, int64_t k,
                 int32_t rhs_transposed, int32_t rhs_shared, int64_t lhs,
                 int64_t rhs, int64_t lhs_scale, int64_t lhs_scale_count,
                 int64_t rhs_scale, int64_t rhs_scale_count, int64_t bias,
                 int32_t bias_dtype, int32_t activation, int32_t out_dtype,
                 float out_scale, int32_t out_zero_point, int32_t out_qmin,
                 int32_t out_qmax, int64_t out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* QFORGE_RT_H */
