//===- cpu_backend.cpp - the reference backend ----------------------------===//
//
// Plain loops over numerics.h: this backend defines what every runtime call
// computes. It is also what compiled models run on without a GPU, so the
// GEMM is written to be cache-friendly, but clarity wins over speed here.
//
//===----------------------------------------------------------------------===//

#include "backend.h"
#include "numerics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace qforge::rt {
namespace {

float loadFloat(qforge_dtype type, const void *data, int64_t i) {
  switch (type) {
  case QFORGE_F16:
    return halfToFloat(static_cast<const uint16_t *>(data)[i]);
  case QFORGE_BF16:
    return bf16ToFloat(static_cast<const uint16_t *>(data)[i]);
  default:
    return static_cast<const float *>(data)[i];
  }
}

void storeFloat(qforge_dtype type, void *data, int64_t i, float value) {
  switch (type) {
  case QFORGE_F16:
    static_cast<uint16_t *>(data)[i] = floatToHalf(value);
    break;
  case QFORGE_BF16:
    static_cast<uint16_t *>(data)[i] = floatToBf16(value);
    break;
  default:
    static_cast<float *>(data)[i] = value;
    break;
  }
}

/// Calls fn(flat index, channel scale, channel zero point) for every element
/// of a per-axis [outer, channels, inner] view, in memory order.
template <typename Fn> void forEachAxisElement(const AxisView &view, Fn &&fn) {
  int64_t i = 0;
  for (int64_t o = 0; o < view.outer; ++o)
    for (int64_t c = 0; c < view.channels; ++c) {
      float scale = view.scales[c];
      int32_t zeroPoint = view.zeroPoints ? view.zeroPoints[c] : 0;
      for (int64_t e = 0; e < view.inner; ++e, ++i)
        fn(i, scale, zeroPoint);
    }
}

/// acc[m, n] for one batch: lhs is M x K, rhs K x N or (transposed) N x K.
void gemmAccumulate(const int8_t *lhs, const int8_t *rhs, int64_t m, int64_t n,
                    int64_t k, bool rhsTransposed, int32_t *acc) {
  if (rhsTransposed) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const int8_t *a = lhs + i * k;
        const int8_t *b = rhs + j * k;
        int32_t sum = 0;
        for (int64_t p = 0; p < k; ++p)
          sum += int32_t(a[p]) * int32_t(b[p]);
        acc[i * n + j] = sum;
      }
    return;
  }
  std::fill(acc, acc + m * n, 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) {
      int32_t a = lhs[i * k + p];
      const int8_t *b = rhs + p * n;
      int32_t *row = acc + i * n;
      for (int64_t j = 0; j < n; ++j)
        row[j] += a * int32_t(b[j]);
    }
}

class CpuBackend final : public Backend {
public:
  qforge_backend kind() const override { return QFORGE_BACKEND_CPU; }
  qforge_status synchronize() override { return QFORGE_OK; }

  qforge_status alloc(int64_t bytes, void **out) override {
    // 64-byte alignment, like the device allocator's 256: vector-friendly.
    size_t size = size_t((std::max<int64_t>(bytes, 1) + 63) / 64 * 64);
    *out = std::aligned_alloc(64, size);
    if (!*out)
      return fail(QFORGE_ERR_OUT_OF_MEMORY, "cannot allocate %lld bytes",
                  (long long)bytes);
    return QFORGE_OK;
  }
  qforge_status release(void *ptr) override {
    std::free(ptr);
    return QFORGE_OK;
  }
  qforge_status copyToDevice(void *dst, const void *src,
                             int64_t bytes) override {
    std::memmove(dst, src, size_t(bytes));
    return QFORGE_OK;
  }
  qforge_status copyToHost(void *dst, const void *src, int64_t bytes) override {
    std::memmove(dst, src, size_t(bytes));
    return QFORGE_OK;
  }
  qforge_status copyOnDevice(void *dst, const void *src,
                             int64_t bytes) override {
    std::memmove(dst, src, size_t(bytes));
    return QFORGE_OK;
  }
  qforge_status constant(const void *host, int64_t, const void **out) override {
    *out = host;
    return QFORGE_OK;
  }

  qforge_status quantize(qforge_dtype inType, const void *in, int64_t count,
                         float scale, int32_t zeroPoint, int32_t qmin,
                         int32_t qmax, int8_t *out) override {
    for (int64_t i = 0; i < count; ++i)
      out[i] =
          quantizeValue(loadFloat(inType, in, i), scale, zeroPoint, qmin, qmax);
    return QFORGE_OK;
  }

  qforge_status quantizePerAxis(qforge_dtype inType, const void *in,
                                const AxisView &view, int32_t qmin,
                                int32_t qmax, int8_t *out) override {
    forEachAxisElement(view, [&](int64_t i, float scale, int32_t zeroPoint) {
      out[i] =
          quantizeValue(loadFloat(inType, in, i), scale, zeroPoint, qmin, qmax);
    });
    return QFORGE_OK;
  }

  qforge_status dynamicQuantize(qforge_dtype inType, const void *in,
                                int64_t rows, int64_t cols,
                                qforge_granularity granularity,
                                qforge_activation activation, int8_t *out,
                                float *scales) override {
    auto element = [&](int64_t i) {
      return activationValue(loadFloat(inType, in, i), int(activation));
    };
    auto groupAbsMax = [&](int64_t begin, int64_t end) {
      float absMax = 0.0f;
      for (int64_t i = begin; i < end; ++i) {
        float v = std::fabs(element(i));
        if (isFinite(v) && v > absMax)
          absMax = v;
      }
      return absMax;
    };
    // Quantizes [begin, end) and returns the group's scale.
    auto quantizeGroup = [&](int64_t begin, int64_t end) {
      float absMax = groupAbsMax(begin, end);
      float inverse = symmetricInverseScale(absMax);
      for (int64_t i = begin; i < end; ++i)
        out[i] = dynamicQuantizeValue(element(i), inverse);
      return symmetricScale(absMax);
    };
    if (granularity == QFORGE_PER_TENSOR) {
      scales[0] = quantizeGroup(0, rows * cols);
      return QFORGE_OK;
    }
    for (int64_t r = 0; r < rows; ++r)
      scales[r] = quantizeGroup(r * cols, (r + 1) * cols);
    return QFORGE_OK;
  }

  qforge_status dequantize(const int8_t *in, int64_t count, float scale,
                           int32_t zeroPoint, qforge_dtype outType,
                           void *out) override {
    for (int64_t i = 0; i < count; ++i)
      storeFloat(outType, out, i, dequantizeValue(in[i], scale, zeroPoint));
    return QFORGE_OK;
  }

  qforge_status dequantizePerAxis(const int8_t *in, const AxisView &view,
                                  qforge_dtype outType, void *out) override {
    forEachAxisElement(view, [&](int64_t i, float scale, int32_t zeroPoint) {
      storeFloat(outType, out, i, dequantizeValue(in[i], scale, zeroPoint));
    });
    return QFORGE_OK;
  }

  qforge_status requantize(qforge_dtype inType, const void *in, int64_t count,
                           float inScale, int32_t inZeroPoint, float outScale,
                           int32_t outZeroPoint, int32_t qmin, int32_t qmax,
                           int8_t *out) override {
    for (int64_t i = 0; i < count; ++i) {
      int32_t q = inType == QFORGE_I8 ? static_cast<const int8_t *>(in)[i]
                                      : static_cast<const int32_t *>(in)[i];
      float value = dequantizeValue(q, inScale, inZeroPoint);
      out[i] = quantizeValue(value, outScale, outZeroPoint, qmin, qmax);
    }
    return QFORGE_OK;
  }

  /// The reference float GEMM: f32 accumulation in k order, then the
  /// epilogue of numerics.h (CUDA agrees within rounding, not bit for bit:
  /// cuBLASLt sums in its own order).
  qforge_status gemmFloat(const qforge_float_gemm_desc &d) override {
    std::vector<float> rhsRow(static_cast<size_t>(d.k));
    for (int64_t b = 0; b < d.batch; ++b) {
      int64_t rhsBase = d.rhs_shared ? 0 : b * d.k * d.n;
      for (int64_t j = 0; j < d.n; ++j) {
        for (int64_t p = 0; p < d.k; ++p)
          rhsRow[size_t(p)] = loadFloat(
              d.dtype, d.rhs,
              rhsBase + (d.rhs_transposed ? j * d.k + p : p * d.n + j));
        for (int64_t i = 0; i < d.m; ++i) {
          int64_t lhsBase = (b * d.m + i) * d.k;
          float acc = 0.0f;
          for (int64_t p = 0; p < d.k; ++p)
            acc += loadFloat(d.dtype, d.lhs, lhsBase + p) * rhsRow[size_t(p)];
          float value = acc + (d.bias ? d.bias[j] : 0.0f);
          if (d.activation == QFORGE_ACT_RELU)
            value = relu(value);
          else if (d.activation == QFORGE_ACT_GELU)
            value = gelu(value);
          storeFloat(d.dtype, d.out, (b * d.m + i) * d.n + j, value);
        }
      }
    }
    return QFORGE_OK;
  }

  /// The reference attention: f32 scores (dot products in head_dim order),
  /// an exact softmax (max subtracted, sum in key order), f32 weighted sum
  /// of the values, rounded to dtype once. The CUDA kernel agrees within
  /// the float type's rounding (it rounds the probabilities to dtype).
  qforge_status attention(const qforge_attention_desc &d) override {
    if (d.mode == QFORGE_ATTENTION_INT8) {
      for (int64_t b = 0; b < d.batch; ++b)
        attentionInt8(d, b);
      return QFORGE_OK;
    }
    std::vector<float> query(size_t(d.head_dim)), probs(size_t(d.seq_kv)),
        acc(size_t(d.head_dim));
    for (int64_t b = 0; b < d.batch; ++b) {
      for (int64_t i = 0; i < d.seq_q; ++i) {
        int64_t qBase = b * d.q_batch_stride + i * d.q_row_stride;
        for (int64_t c = 0; c < d.head_dim; ++c)
          query[size_t(c)] = loadFloat(d.dtype, d.q, qBase + c);
        // Causal: keys 0..i only (every row has key 0).
        int64_t keys = d.causal ? std::min(d.seq_kv, i + 1) : d.seq_kv;
        float max = -INFINITY;
        for (int64_t j = 0; j < keys; ++j) {
          int64_t kBase = b * d.k_batch_stride + j * d.k_row_stride;
          float dot = 0.0f;
          for (int64_t c = 0; c < d.head_dim; ++c)
            dot += query[size_t(c)] * loadFloat(d.dtype, d.k, kBase + c);
          probs[size_t(j)] = dot * d.scale;
          max = std::max(max, probs[size_t(j)]);
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < keys; ++j) {
          probs[size_t(j)] = std::exp(probs[size_t(j)] - max);
          sum += probs[size_t(j)];
        }
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t j = 0; j < keys; ++j) {
          int64_t vBase = b * d.v_batch_stride + j * d.v_row_stride;
          for (int64_t c = 0; c < d.head_dim; ++c)
            acc[size_t(c)] +=
                probs[size_t(j)] * loadFloat(d.dtype, d.v, vBase + c);
        }
        int64_t outBase = b * d.out_batch_stride + i * d.out_row_stride;
        for (int64_t c = 0; c < d.head_dim; ++c)
          storeFloat(d.dtype, d.out, outBase + c, acc[size_t(c)] / sum);
      }
    }
    return QFORGE_OK;
  }

  /// max(a, b), NaN if either is (std::max drops a NaN second argument).
  static float maxKeepingNaN(float a, float b) {
    return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
  }

  /// round(x * 127 / m) in [-127, 127], half to even; 0 for a non-finite
  /// product (what the GPU's conversion gives).
  static int8_t quantize127(float x, float inverse) {
    float y = x * inverse;
    return std::isfinite(y)
               ? int8_t(std::clamp(std::nearbyint(y), -127.0f, 127.0f))
               : int8_t(0);
  }

  /// round-half-even(x * 127 / max|x|) over `count` values `stride`
  /// apart; returns max|x| / 127 (0 for all zeros: every value 0; not
  /// finite when a value is not).
  static float quantizeSymmetric(const qforge_attention_desc &d,
                                 const void *data, int64_t base, int64_t stride,
                                 int64_t count, int8_t *out) {
    float absMax = 0.0f;
    for (int64_t e = 0; e < count; ++e)
      absMax = maxKeepingNaN(
          absMax, std::fabs(loadFloat(d.dtype, data, base + e * stride)));
    float inverse = absMax > 0.0f ? 127.0f / absMax : 0.0f;
    for (int64_t e = 0; e < count; ++e)
      out[e] =
          quantize127(loadFloat(d.dtype, data, base + e * stride), inverse);
    return absMax / 127.0f;
  }

  /// The reference of QFORGE_ATTENTION_INT8 for batch `b` (qforge_rt.h
  /// states the arithmetic): two passes per row, the block maxima first.
  void attentionInt8(const qforge_attention_desc &d, int64_t b) {
    constexpr int64_t kBlock = 128; // keys per K scale and per P rounding
    constexpr float kLog2Of255 = 7.99435343685885793f;
    const int64_t dim = d.head_dim, keys = d.seq_kv;
    const float scaleLog2 = d.scale * 1.4426950408889634f;
    const size_t n = size_t(keys), width = size_t(dim);
    std::vector<int8_t> k8(n * width), v8(n * width), q8(width), channel(n);
    std::vector<float> kScale(n), vScale(width);
    // K: centred per channel (the mean of its finite values over the
    // keys), then one scale per block of keys (the max over its rows).
    auto keyAt = [&](int64_t j, int64_t c) {
      return loadFloat(d.dtype, d.k,
                       b * d.k_batch_stride + j * d.k_row_stride + c);
    };
    std::vector<float> mean(width, 0.0f);
    for (int64_t j = 0; j < keys; ++j)
      for (int64_t c = 0; c < dim; ++c)
        if (float x = keyAt(j, c); std::isfinite(x))
          mean[size_t(c)] += x;
    for (float &m : mean)
      m /= float(keys);
    for (int64_t first = 0; first < keys; first += kBlock) {
      int64_t rows = std::min(kBlock, keys - first);
      float absMax = 0.0f;
      for (int64_t j = first; j < first + rows; ++j)
        for (int64_t c = 0; c < dim; ++c)
          absMax =
              maxKeepingNaN(absMax, std::fabs(keyAt(j, c) - mean[size_t(c)]));
      float inverse = absMax > 0.0f ? 127.0f / absMax : 0.0f;
      for (int64_t j = first; j < first + rows; ++j) {
        kScale[size_t(j)] = absMax / 127.0f;
        for (int64_t c = 0; c < dim; ++c) {
          k8[size_t(j * dim + c)] =
              quantize127(keyAt(j, c) - mean[size_t(c)], inverse);
        }
      }
    }
    for (int64_t c = 0; c < dim; ++c) {
      vScale[size_t(c)] =
          quantizeSymmetric(d, d.v, b * d.v_batch_stride + c, d.v_row_stride,
                            keys, channel.data());
      for (int64_t j = 0; j < keys; ++j)
        v8[size_t(j * dim + c)] = channel[size_t(j)];
    }
    std::vector<float> score(n), acc(width);
    std::vector<float> blockMax((n + kBlock - 1) / kBlock);
    std::vector<int32_t> blockAcc(width);
    for (int64_t i = 0; i < d.seq_q; ++i) {
      float rowFactor =
          quantizeSymmetric(d, d.q, b * d.q_batch_stride + i * d.q_row_stride,
                            1, dim, q8.data()) *
          scaleLog2;
      int64_t seen = d.causal ? std::min(keys, i + 1) : keys;
      float rowMax = -INFINITY;
      for (int64_t j = 0; j < seen; ++j) {
        int32_t dot = 0;
        for (int64_t c = 0; c < dim; ++c)
          dot += int32_t(q8[size_t(c)]) * int32_t(k8[size_t(j * dim + c)]);
        score[size_t(j)] = float(dot) * rowFactor * kScale[size_t(j)];
        float &m = blockMax[size_t(j / kBlock)];
        m = j % kBlock == 0 ? score[size_t(j)] : std::max(m, score[size_t(j)]);
        rowMax = std::max(rowMax, score[size_t(j)]);
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      float sum = 0.0f;
      for (int64_t first = 0; first < seen; first += kBlock) {
        float m = blockMax[size_t(first / kBlock)];
        float weight = std::exp2(m - rowMax);
        int32_t termSum = 0;
        std::fill(blockAcc.begin(), blockAcc.end(), 0);
        for (int64_t j = first; j < std::min(seen, first + kBlock); ++j) {
          float term = std::exp2(score[size_t(j)] + (kLog2Of255 - m));
          int32_t p = std::isfinite(term) ? int32_t(std::nearbyint(term)) : 0;
          termSum += p;
          for (int64_t c = 0; c < dim; ++c)
            blockAcc[size_t(c)] += p * int32_t(v8[size_t(j * dim + c)]);
        }
        sum += weight * float(termSum);
        for (int64_t c = 0; c < dim; ++c)
          acc[size_t(c)] += weight * float(blockAcc[size_t(c)]);
      }
      // A non-finite Q row or K block the row sees: NaN, as the float
      // softmax would give.
      bool poisoned = !std::isfinite(rowFactor);
      for (int64_t j = 0; j < seen; j += kBlock)
        poisoned = poisoned || !std::isfinite(kScale[size_t(j)]);
      float inverse = poisoned ? NAN : 1.0f / sum;
      int64_t outBase = b * d.out_batch_stride + i * d.out_row_stride;
      for (int64_t c = 0; c < dim; ++c)
        storeFloat(d.dtype, d.out, outBase + c,
                   acc[size_t(c)] * inverse * vScale[size_t(c)]);
    }
  }

  qforge_status gemm(const qforge_gemm_desc &d) override {
    std::vector<int32_t> acc(size_t(d.m * d.n));
    int64_t lhsStride = d.m * d.k;
    int64_t rhsStride = d.rhs_shared ? 0 : d.k * d.n;
    for (int64_t b = 0; b < d.batch; ++b) {
      int32_t *accumulator = d.out_dtype == QFORGE_I32
                                 ? static_cast<int32_t *>(d.out) + b * d.m * d.n
                                 : acc.data();
      gemmAccumulate(d.lhs + b * lhsStride, d.rhs + b * rhsStride, d.m, d.n,
                     d.k, d.rhs_transposed != 0, accumulator);
      if (d.out_dtype != QFORGE_I32)
        applyEpilogue(d, b, accumulator);
    }
    return QFORGE_OK;
  }

  qforge_status batchStats(qforge_dtype type, const void *data, int64_t count,
                           BatchStats &stats) override {
    for (int64_t i = 0; i < count; ++i) {
      float v = loadFloat(type, data, i);
      if (isNaN(v)) {
        ++stats.nan;
      } else if (!isFinite(v)) {
        ++stats.inf;
      } else {
        stats.min = stats.finite ? std::min(stats.min, v) : v;
        stats.max = stats.finite ? std::max(stats.max, v) : v;
        ++stats.finite;
      }
    }
    return QFORGE_OK;
  }

  qforge_status histogram(qforge_dtype type, const void *data, int64_t count,
                          float range, float invWidth, int32_t numBins,
                          int64_t *bins) override {
    for (int64_t i = 0; i < count; ++i) {
      float v = loadFloat(type, data, i);
      if (isFinite(v))
        ++bins[histogramBin(v, range, invWidth, numBins)];
    }
    return QFORGE_OK;
  }

private:
  void applyEpilogue(const qforge_gemm_desc &d, int64_t batch,
                     const int32_t *acc) {
    const int32_t *biasInt = d.bias && d.bias_dtype == QFORGE_I32
                                 ? static_cast<const int32_t *>(d.bias)
                                 : nullptr;
    const float *biasFloat = d.bias && d.bias_dtype == QFORGE_F32
                                 ? static_cast<const float *>(d.bias)
                                 : nullptr;
    int64_t rhsScaleOffset =
        d.rhs_scale_count == d.batch * d.n && d.batch > 1 ? batch * d.n : 0;
    for (int64_t i = 0; i < d.m; ++i) {
      int64_t row = batch * d.m + i;
      float lhsScale = d.lhs_scale_count == 0   ? 1.0f
                       : d.lhs_scale_count == 1 ? d.lhs_scale[0]
                                                : d.lhs_scale[row];
      for (int64_t j = 0; j < d.n; ++j) {
        float rhsScale = d.rhs_scale_count == 0 ? 1.0f
                         : d.rhs_scale_count == 1
                             ? d.rhs_scale[0]
                             : d.rhs_scale[rhsScaleOffset + j];
        float value = epilogueValue(
            acc[i * d.n + j], biasInt ? biasInt[j] : 0, lhsScale, rhsScale,
            biasFloat ? biasFloat[j] : 0.0f, int(d.activation));
        int64_t index = row * d.n + j;
        if (d.out_dtype == QFORGE_I8)
          static_cast<int8_t *>(d.out)[index] = quantizeValue(
              value, d.out_scale, d.out_zero_point, outQmin(d), outQmax(d));
        else
          storeFloat(d.out_dtype, d.out, index, value);
      }
    }
  }
};

} // namespace

std::unique_ptr<Backend> createCpuBackend() {
  return std::make_unique<CpuBackend>();
}

} // namespace qforge::rt
