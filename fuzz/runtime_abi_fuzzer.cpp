//===- runtime_abi_fuzzer.cpp - fuzz the runtime's C ABI (CPU backend) ----===//
//
// The input bytes choose an entry point, its sizes and options (valid or
// not) and the tensor data (raw float bits: NaN, Inf, denormals included).
// Each call must either fail with a status and a message - exactly when the
// documented contract says the arguments are invalid - or succeed with
// results that satisfy the documented formulas, checked here by an
// independent reference (exact for integer results, to the rounding the
// contract allows for floats). Any violation aborts.
//
//===----------------------------------------------------------------------===//

#include "qforge_rt.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

/// Reads typed values off the fuzzer's bytes; zeros once they run out.
class ByteReader {
public:
  ByteReader(const uint8_t *data, size_t size) : data(data), size(size) {}
  template <typename T> T take() {
    T value{};
    size_t n = sizeof(T) < size - pos ? sizeof(T) : size - pos;
    std::memcpy(&value, data + pos, n);
    pos += n;
    return value;
  }
  /// A size in [lo, hi].
  int64_t size_in(int64_t lo, int64_t hi) {
    return lo + int64_t(take<uint8_t>()) % (hi - lo + 1);
  }
  /// A float that is usually an ordinary scale, sometimes anything.
  float scale() {
    uint8_t kind = take<uint8_t>();
    float raw = take<float>();
    if (kind < 200)
      return 1e-3f + float(kind) * 0.01f;
    return raw;
  }
  std::vector<float> floats(int64_t count) {
    std::vector<float> values(static_cast<size_t>(count));
    for (float &v : values) {
      uint8_t kind = take<uint8_t>();
      // Mostly ordinary magnitudes, so that results are not all saturated.
      v = kind < 224 ? float(int8_t(kind)) * 0.37f : take<float>();
    }
    return values;
  }
  std::vector<int8_t> int8s(int64_t count) {
    std::vector<int8_t> values(static_cast<size_t>(count));
    for (int8_t &v : values)
      v = take<int8_t>();
    return values;
  }

private:
  const uint8_t *data;
  size_t size;
  size_t pos = 0;
};

[[noreturn]] void violation(const char *what) {
  std::fprintf(stderr, "fuzzer: %s (last error: %s)\n", what,
               qforge_rt_last_error());
  std::abort();
}

/// A call's status must match the contract's verdict on its arguments.
bool expectStatus(qforge_status status, bool valid, const char *entry) {
  if (valid && status != QFORGE_OK)
    violation(entry);
  if (!valid && status == QFORGE_OK)
    violation(entry);
  if (!valid && std::strlen(qforge_rt_last_error()) == 0)
    violation("a failing call left no message");
  return valid;
}

bool validScale(float s) { return std::isfinite(s) && s > 0.0f; }
bool validRange(int32_t qmin, int32_t qmax, int32_t zp) {
  return qmin >= -128 && qmax <= 127 && qmin <= qmax && zp >= qmin &&
         zp <= qmax;
}

/// The contract of one quantized value: NaN -> zp, otherwise the nearest
/// level to x/scale + zp (within half a level, ties either way) clamped to
/// [qmin, qmax].
void checkQuantized(float x, float scale, int32_t zp, int32_t qmin,
                    int32_t qmax, int8_t q) {
  if (q < qmin || q > qmax)
    violation("quantized value outside [qmin, qmax]");
  if (std::isnan(x)) {
    if (q != zp)
      violation("NaN did not quantize to the zero point");
    return;
  }
  double exact = double(x) / double(scale) + zp;
  double clamped = exact < qmin ? qmin : (exact > qmax ? qmax : exact);
  // Half a level plus the float rounding of x / scale.
  double slack = 0.5 + 1e-6 * std::fabs(exact) + 1e-6;
  if (std::fabs(double(q) - clamped) > slack)
    violation("quantized value is not the nearest level");
}

void fuzzQuantize(qforge_context *ctx, ByteReader &in) {
  int64_t count = in.size_in(-1, 64);
  float scale = in.scale();
  int32_t zp = int8_t(in.take<uint8_t>()) / 2;
  int32_t qmin = in.take<uint8_t>() < 240 ? -128 : int32_t(in.take<int16_t>());
  int32_t qmax = in.take<uint8_t>() < 240 ? 127 : int32_t(in.take<int16_t>());
  std::vector<float> x = in.floats(count < 0 ? 0 : count);
  std::vector<int8_t> q(x.size() + 1, 0x55);
  qforge_status status = qforge_rt_quantize(ctx, QFORGE_F32, x.data(), count,
                                            scale, zp, qmin, qmax, q.data());
  bool valid = count >= 0 && validScale(scale) && validRange(qmin, qmax, zp);
  if (!expectStatus(status, valid, "quantize: status against the contract"))
    return;
  for (size_t i = 0; i < x.size(); ++i)
    checkQuantized(x[i], scale, zp, qmin, qmax, q[i]);
  if (q[x.size()] != 0x55)
    violation("quantize wrote past the end");
}

void fuzzQuantizePerAxis(qforge_context *ctx, ByteReader &in) {
  int64_t outer = in.size_in(0, 5), channels = in.size_in(0, 6),
          inner = in.size_in(0, 5);
  std::vector<float> scales(static_cast<size_t>(channels) + 1);
  std::vector<int32_t> zps(scales.size());
  bool scalesValid = true;
  for (size_t c = 0; c < scales.size(); ++c) {
    scales[c] = in.scale();
    zps[c] = int8_t(in.take<uint8_t>()) / 4;
    if (c < size_t(channels))
      scalesValid = scalesValid && validScale(scales[c]);
  }
  bool withZps = in.take<uint8_t>() & 1;
  std::vector<float> x = in.floats(outer * channels * inner);
  std::vector<int8_t> q(x.size() + 1, 0x55);
  qforge_status status = qforge_rt_quantize_per_axis(
      ctx, QFORGE_F32, x.data(), outer, channels, inner, scales.data(),
      withZps ? zps.data() : nullptr, -128, 127, q.data());
  // Per-channel scales and zero points are read in backend memory, so the
  // contract checks only the view; with an invalid scale the results are
  // unspecified (but stay in [qmin, qmax] and must not crash).
  if (!expectStatus(status, channels >= 1,
                    "quantize_per_axis: status against the contract"))
    return;
  if (!scalesValid)
    return;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        size_t at = static_cast<size_t>((o * channels + c) * inner + i);
        checkQuantized(x[at], scales[c], withZps ? zps[c] : 0, -128, 127,
                       q[at]);
      }
  if (q[x.size()] != 0x55)
    violation("quantize_per_axis wrote past the end");
}

void fuzzDynamicQuantize(qforge_context *ctx, ByteReader &in) {
  int64_t rows = in.size_in(0, 6), cols = in.size_in(0, 40);
  bool perToken = in.take<uint8_t>() & 1;
  std::vector<float> x = in.floats(rows * cols);
  std::vector<int8_t> q(x.size());
  std::vector<float> scales(static_cast<size_t>(rows) + 1, -1.0f);
  qforge_status status = qforge_rt_dynamic_quantize(
      ctx, QFORGE_F32, x.data(), rows, cols,
      perToken ? QFORGE_PER_TOKEN : QFORGE_PER_TENSOR, q.data(), scales.data());
  if (!expectStatus(status, rows >= 1 && cols >= 1,
                    "dynamic_quantize: status against the contract"))
    return;
  for (int64_t r = 0; r < rows; ++r) {
    float s = scales[perToken ? size_t(r) : 0];
    if (!validScale(s))
      violation("dynamic_quantize produced a zero, negative or non-finite "
                "scale");
    for (int64_t c = 0; c < cols; ++c) {
      size_t at = static_cast<size_t>(r * cols + c);
      float v = x[at];
      if (std::isnan(v)) {
        if (q[at] != 0)
          violation("dynamic_quantize: NaN did not give 0");
        continue;
      }
      if (q[at] < -127)
        violation("dynamic_quantize gave -128");
      if (std::isinf(v)) {
        if (q[at] != (v > 0 ? 127 : -127))
          violation("dynamic_quantize: Inf did not saturate");
        continue;
      }
      // |x| <= max|x| = 127 * s, so x / s is within the range: nearest level.
      double exact = double(v) / double(s);
      if (std::fabs(double(q[at]) - exact) > 0.5 + 1e-5 * std::fabs(exact))
        violation("dynamic_quantize: not the nearest level");
    }
  }
}

void fuzzDequantize(qforge_context *ctx, ByteReader &in) {
  int64_t count = in.size_in(-1, 64);
  float scale = in.scale();
  int32_t zp = int8_t(in.take<uint8_t>());
  std::vector<int8_t> q = in.int8s(count < 0 ? 0 : count);
  std::vector<float> x(q.size());
  qforge_status status = qforge_rt_dequantize(ctx, q.data(), count, scale, zp,
                                              QFORGE_F32, x.data());
  bool valid = count >= 0 && validScale(scale);
  if (!expectStatus(status, valid, "dequantize: status against the contract"))
    return;
  for (size_t i = 0; i < q.size(); ++i) {
    // One f32 product of two exact operands: the documented formula.
    float expected = float(int32_t(q[i]) - zp) * scale;
    if (std::memcmp(&expected, &x[i], sizeof(float)) != 0 &&
        !(std::isnan(expected) && std::isnan(x[i])))
      violation("dequantize is not (q - zp) * scale in f32");
  }
}

void fuzzRequantize(qforge_context *ctx, ByteReader &in) {
  int64_t count = in.size_in(0, 64);
  float inScale = in.scale(), outScale = in.scale();
  int32_t inZp = int8_t(in.take<uint8_t>()) / 2;
  int32_t outZp = int8_t(in.take<uint8_t>()) / 2;
  std::vector<int8_t> q = in.int8s(count);
  std::vector<int8_t> out(q.size());
  qforge_status status =
      qforge_rt_requantize(ctx, QFORGE_I8, q.data(), count, inScale, inZp,
                           outScale, outZp, -128, 127, out.data());
  bool valid = validScale(inScale) && validScale(outScale);
  if (!expectStatus(status, valid, "requantize: status against the contract"))
    return;
  for (size_t i = 0; i < q.size(); ++i) {
    float real = float(int32_t(q[i]) - inZp) * inScale;
    checkQuantized(real, outScale, outZp, -128, 127, out[i]);
  }
}

void fuzzGemm(qforge_context *ctx, ByteReader &in) {
  qforge_gemm_desc d{};
  d.batch = in.size_in(0, 3);
  d.m = in.size_in(0, 9);
  d.n = in.size_in(0, 9);
  d.k = in.size_in(0, 70);
  d.rhs_transposed = in.take<uint8_t>() & 1;
  d.rhs_shared = in.take<uint8_t>() & 1;
  uint8_t epilogue = in.take<uint8_t>();
  bool rawOutput = epilogue % 3 == 0;
  int64_t batch = d.batch < 1 ? 1 : d.batch;
  int64_t rhsBatches = d.rhs_shared ? 1 : batch;
  std::vector<int8_t> lhs = in.int8s(batch * d.m * d.k);
  std::vector<int8_t> rhs = in.int8s(rhsBatches * d.k * d.n);
  std::vector<float> lhsScale(static_cast<size_t>(batch * d.m) + 1),
      rhsScale(static_cast<size_t>(d.n) + 1);
  for (float &s : lhsScale)
    s = in.scale();
  for (float &s : rhsScale)
    s = in.scale();
  std::vector<float> biasF(static_cast<size_t>(d.n) + 1);
  for (float &b : biasF)
    b = float(in.take<int8_t>()) * 0.25f;
  d.lhs = lhs.data();
  d.rhs = rhs.data();
  std::vector<int32_t> outI(static_cast<size_t>(batch * d.m * d.n) + 1);
  std::vector<float> outF(outI.size());
  if (rawOutput) {
    d.out_dtype = QFORGE_I32;
    d.out = outI.data();
    // Occasionally break the raw-output contract on purpose.
    if (epilogue == 255)
      d.activation = QFORGE_ACT_RELU;
  } else {
    d.out_dtype = QFORGE_F32;
    d.out = outF.data();
    d.lhs_scale = lhsScale.data();
    d.lhs_scale_count = epilogue & 2 ? batch * d.m : 1;
    d.rhs_scale = rhsScale.data();
    d.rhs_scale_count = epilogue & 4 ? d.n : 1;
    if (epilogue & 8) {
      d.bias = biasF.data();
      d.bias_dtype = QFORGE_F32;
    }
    d.activation = (epilogue & 16) ? QFORGE_ACT_RELU : QFORGE_ACT_NONE;
  }
  qforge_status status = qforge_rt_gemm(ctx, &d);
  bool valid = d.batch >= 1 && d.m >= 1 && d.n >= 1 && d.k >= 1 &&
               !(rawOutput && d.activation != QFORGE_ACT_NONE);
  if (!expectStatus(status, valid, "gemm: status against the contract"))
    return;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < d.m; ++i)
      for (int64_t j = 0; j < d.n; ++j) {
        int64_t acc = 0;
        const int8_t *r = rhs.data() + (d.rhs_shared ? 0 : b * d.k * d.n);
        for (int64_t p = 0; p < d.k; ++p) {
          int8_t w = d.rhs_transposed ? r[j * d.k + p] : r[p * d.n + j];
          acc += int64_t(lhs[(b * d.m + i) * d.k + p]) * w;
        }
        size_t at = static_cast<size_t>((b * d.m + i) * d.n + j);
        if (rawOutput) {
          if (outI[at] != acc)
            violation("gemm: i32 accumulator differs from the exact sum");
          continue;
        }
        float ls = lhsScale[d.lhs_scale_count == 1 ? 0 : size_t(b * d.m + i)];
        float rs = rhsScale[d.rhs_scale_count == 1 ? 0 : size_t(j)];
        // The documented formula, in its f32 operation order (scales are
        // unchecked floats, so their product may overflow to Inf).
        float expected = float(acc) * (ls * rs) + (d.bias ? biasF[j] : 0.0f);
        if (d.activation == QFORGE_ACT_RELU)
          expected = expected > 0.0f ? expected : 0.0f;
        float got = outF[at];
        if (!std::isfinite(expected) || !std::isfinite(got)) {
          bool same =
              (std::isnan(expected) && std::isnan(got)) || expected == got;
          if (!same)
            violation("gemm: non-finite result differs from the formula");
          continue;
        }
        if (std::fabs(double(got) - double(expected)) >
            1e-6 * std::fabs(double(expected)) + 1e-37)
          violation("gemm: epilogue result off the documented formula");
      }
}

void fuzzObserver(ByteReader &in) {
  int32_t bins = int32_t(in.size_in(-1, 40));
  qforge_observer *obs = nullptr;
  qforge_status status = qforge_rt_observer_create(bins, &obs);
  // Bins pair up when the range doubles, around a centre: a multiple of 4.
  if (!expectStatus(status, bins >= 8 && bins % 4 == 0,
                    "observer_create: status against the contract"))
    return;
  qforge_context *ctx = nullptr;
  if (qforge_rt_create(QFORGE_BACKEND_CPU, &ctx) != QFORGE_OK)
    violation("observer: context creation failed");
  int64_t finite = 0;
  for (int round = in.size_in(1, 3); round > 0; --round) {
    std::vector<float> x = in.floats(in.size_in(0, 30));
    if (qforge_rt_observe(ctx, obs, QFORGE_F32, x.data(), int64_t(x.size())) !=
        QFORGE_OK)
      break; // a magnitude too large for a float range is reported
    for (float v : x)
      finite += std::isfinite(v);
  }
  qforge_observer_stats stats{};
  if (qforge_rt_observer_stats(obs, &stats) != QFORGE_OK)
    violation("observer_stats failed");
  int64_t total = 0;
  for (int32_t j = 0; j < stats.num_bins; ++j)
    total += stats.histogram[j];
  if (total != stats.count || stats.count > finite || stats.min > stats.max)
    violation("observer: histogram counts disagree with the finite count");
  qforge_rt_observer_destroy(obs);
  qforge_rt_destroy(ctx);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static qforge_context *ctx = [] {
    qforge_context *created = nullptr;
    if (qforge_rt_create(QFORGE_BACKEND_CPU, &created) != QFORGE_OK)
      violation("cannot create a CPU context");
    return created;
  }();
  ByteReader in(data, size);
  switch (in.take<uint8_t>() % 7) {
  case 0:
    return fuzzQuantize(ctx, in), 0;
  case 1:
    return fuzzQuantizePerAxis(ctx, in), 0;
  case 2:
    return fuzzDynamicQuantize(ctx, in), 0;
  case 3:
    return fuzzDequantize(ctx, in), 0;
  case 4:
    return fuzzRequantize(ctx, in), 0;
  case 5:
    return fuzzGemm(ctx, in), 0;
  default:
    return fuzzObserver(in), 0;
  }
}
