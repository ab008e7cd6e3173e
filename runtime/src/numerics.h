//===- numerics.h - the runtime's scalar arithmetic, host and device -*- C++
//-*-===//
//
// Every element-wise formula of the runtime lives here, once, and is compiled
// for the CPU backend and for the CUDA kernels alike. With floating-point
// contraction disabled on both sides (-ffp-contract=off, nvcc -fmad=false)
// and IEEE division and rounding everywhere, the two backends produce
// bit-identical results for the same inputs: this is what makes the CPU
// backend a reference the CUDA one can be checked against exactly.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_RT_NUMERICS_H
#define QFORGE_RT_NUMERICS_H

#include <stdint.h>

#include <cmath>
#include <cstring>

#if defined(__CUDACC__)
#define QF_HD __host__ __device__ __forceinline__
#include <cuda_runtime.h>
#else
#define QF_HD inline
#endif

namespace qforge::rt {

QF_HD float bitsToFloat(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

QF_HD uint32_t floatToBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
#endif
}

QF_HD bool isNaN(float x) { return x != x; }
QF_HD bool isFinite(float x) { return x - x == 0.0f; }

/// IEEE half (binary16) bits to float: exact.
QF_HD float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) // Inf / NaN
    return bitsToFloat(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    if (mantissa == 0)
      return bitsToFloat(sign);
    // Subnormal half: value = mantissa * 2^-24, exact in float.
    float magnitude = float(mantissa) * 5.9604644775390625e-8f;
    return sign ? -magnitude : magnitude;
  }
  return bitsToFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

/// Float to IEEE half bits, round to nearest even, overflow to Inf, NaN kept
/// quiet.
QF_HD uint16_t floatToHalf(float f) {
  uint32_t bits = floatToBits(f);
  uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
  uint32_t absBits = bits & 0x7fffffffu;
  if (absBits >= 0x7f800000u) // Inf or NaN
    return uint16_t(sign | 0x7c00u | (absBits > 0x7f800000u ? 0x200u : 0u));
  if (absBits >= 0x477ff000u) // rounds to >= 65520: overflow
    return uint16_t(sign | 0x7c00u);
  if (absBits < 0x38800000u) { // below the smallest normal half (2^-14)
    if (absBits < 0x33000000u) // below half the smallest subnormal: +-0
      return sign;
    // Subnormal: shift the full significand so that 2^-24 is the unit.
    uint32_t exponent = absBits >> 23;
    uint32_t significand = (absBits & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - exponent; // in [14, 24]
    uint32_t result = significand >> shift;
    uint32_t remainder = significand & ((1u << shift) - 1u);
    uint32_t halfway = 1u << (shift - 1u);
    if (remainder > halfway || (remainder == halfway && (result & 1u)))
      ++result;
    return uint16_t(sign | result);
  }
  // Normal: rebias the exponent, round the 13 dropped bits to nearest even.
  uint32_t result = absBits - 0x38000000u; // exponent bias 127 -> 15
  uint32_t remainder = result & 0x1fffu;
  result >>= 13;
  if (remainder > 0x1000u || (remainder == 0x1000u && (result & 1u)))
    ++result; // a carry into the exponent is the correct rounding
  return uint16_t(sign | result);
}

QF_HD float bf16ToFloat(uint16_t b) { return bitsToFloat(uint32_t(b) << 16); }

/// Float to bfloat16 bits, round to nearest even, NaN kept quiet.
QF_HD uint16_t floatToBf16(float f) {
  uint32_t bits = floatToBits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((bits >> 16) | 0x40u);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t((bits + rounding) >> 16);
}

/// Round half to even in the current (default: nearest-even) mode.
QF_HD float roundHalfEven(float x) { return rintf(x); }

/// q = clamp(rne(x / scale) + zero_point, qmin, qmax); NaN -> zero_point.
QF_HD int8_t quantizeValue(float x, float scale, int32_t zeroPoint,
                           int32_t qmin, int32_t qmax) {
  if (isNaN(x))
    return int8_t(zeroPoint);
  float q = roundHalfEven(x / scale);
  float lo = float(qmin - zeroPoint);
  float hi = float(qmax - zeroPoint);
  // Written so that a NaN quotient (possible only with an invalid scale,
  // which per-axis calls cannot check: their scales may live in device
  // memory) gives the zero point instead of an undefined float->int cast.
  q = q >= lo ? q : (q < lo ? lo : 0.0f);
  q = q <= hi ? q : hi;
  return int8_t(int32_t(q) + zeroPoint);
}

/// x = (q - zero_point) * scale, in f32.
QF_HD float dequantizeValue(int32_t q, float scale, int32_t zeroPoint) {
  return float(int64_t(q) - int64_t(zeroPoint)) * scale;
}

/// A group whose largest magnitude is below this is quantized as all zero
/// (scale 1, every code 0). Below it, 127 / max|x| overflows float to Inf
/// (and 0 * Inf is NaN), and max|x| / 127 can underflow to a zero scale;
/// the values it drops are within 1e-30 of zero. Found by the runtime ABI
/// fuzzer (a denormal group).
constexpr float kMinGroupAbsMax = 1e-30f;

/// The scale of a symmetric int8 group with maximum magnitude `absMax`.
QF_HD float symmetricScale(float absMax) {
  return absMax >= kMinGroupAbsMax ? absMax / 127.0f : 1.0f;
}

/// What dynamic quantization multiplies by: 127 / max|x|, or 1 for an
/// all-zero group (whose scale is 1). One division per group instead of one
/// per element.
QF_HD float symmetricInverseScale(float absMax) {
  return absMax >= kMinGroupAbsMax ? 127.0f / absMax : 1.0f;
}

/// Dynamic (symmetric, run-time scale) quantization of one element:
/// clamp(rne(x * inverse), -127, 127); NaN -> 0, +-Inf saturate.
///
/// Clamped before rounding (the same: +-127 are integers and rounding is
/// monotonic), then rounded by adding 1.5 * 2^23, whose float sum has the
/// rounded value in its low mantissa bits (round-half-even is the add's own
/// rounding; the magic number is even): the code is the sum's low byte. One
/// add instead of a float round and a float-to-int conversion, which run at
/// a quarter of the FMA rate on the GPU, where the quantization of a GELU
/// output is compute-bound.
QF_HD int8_t dynamicQuantizeValue(float x, float inverse) {
  float q = x * inverse;
  if (isNaN(q)) // x NaN (inverse is finite and positive)
    return 0;
  q = q < -127.0f ? -127.0f : (q > 127.0f ? 127.0f : q);
  return int8_t(uint8_t(floatToBits(q + 12582912.0f)));
}

/// Fused multiply-add, rounded once: the same bits from the host's libm
/// (glibc's fmaf is exact) and the device's FFMA, whatever -ffp-contract /
/// -fmad say, since an explicit fma is never split.
QF_HD float fusedMultiplyAdd(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

/// Where erfOfScaled reaches 1 in float: erf(5.6 / sqrt 2) = 1 - 5e-9.
constexpr float kGeluSaturation = 5.6f;

/// erf(a / sqrt 2) for a >= 0 (NaN counts as large): a polynomial of degree
/// 16 in u = a / 2.8 - 1 over a in [0, 5.6] (the Chebyshev interpolant,
/// coefficients rounded to float; exactly 1 at and beyond 5.6). Only fused
/// multiply-adds, so host and device agree to the bit, and no division:
/// GELU is f32 arithmetic on every element of an MLP's widest tensor, and
/// this is 18 instructions against 40 for a rational function with an IEEE
/// division. Max error 3e-7 (from float rounding near 0, where the terms
/// cancel).
QF_HD float erfOfScaled(float a) {
  a = a < kGeluSaturation ? a : kGeluSaturation;
  float u = fusedMultiplyAdd(a, 0.357142866f, -1.0f);
  // Coefficients from u^16 down to u^0, evaluated by Horner's rule.
  constexpr float kCoefficients[] = {
      -0.00376888714f, 0.0168360062f, 0.00221686764f, -0.085797146f,
      0.0748370439f,   0.148752242f,  -0.283745825f,  0.0228919797f,
      0.382185459f,    -0.439743459f, 0.0565395877f,  0.396630257f,
      -0.549392819f,   0.39610219f,   -0.173761234f,  0.0443280041f,
      0.994889736f};
  float p = kCoefficients[0];
  for (int i = 1; i < int(sizeof kCoefficients / sizeof *kCoefficients); ++i)
    p = fusedMultiplyAdd(p, u, kCoefficients[i]);
  return p;
}

/// GELU in its erf form, x * (1 + erf(x / sqrt 2)) / 2, as h + h * e with
/// h = x / 2 and e = erf(x / sqrt 2) (odd: the sign of x on erf(|x| / sqrt
/// 2)). Exactly x for x >= 5.6 and 0 for x <= -5.6 (true values within
/// 3e-8); NaN and -Inf give NaN, +Inf gives +Inf.
QF_HD float gelu(float x) {
  float half = 0.5f * x;
  float erfValue = copysignf(erfOfScaled(fabsf(x)), x);
  return fusedMultiplyAdd(half, erfValue, half);
}

QF_HD float relu(float x) { return x > 0.0f ? x : 0.0f; }

/// `activation` (0 none, 1 relu, 2 gelu: qforge_activation) of x.
QF_HD float activationValue(float x, int activation) {
  if (activation == 1)
    return relu(x);
  if (activation == 2)
    return gelu(x);
  return x;
}

/// The GEMM epilogue of one element (see qforge_rt_gemm):
///   act((float)(acc + bias_i32) * (lhs_scale * rhs_scale) + bias_f32)
QF_HD float epilogueValue(int32_t acc, int32_t biasInt, float lhsScale,
                          float rhsScale, float biasFloat, int activation) {
  float value = float(int64_t(acc) + int64_t(biasInt));
  value = value * (lhsScale * rhsScale);
  value = value + biasFloat;
  return activationValue(value, activation);
}

/// Histogram bin of a finite x over [-range, range] with `numBins` bins,
/// where invWidth = numBins / (2 * range) computed in float.
QF_HD int32_t histogramBin(float x, float range, float invWidth,
                           int32_t numBins) {
  float position = (x + range) * invWidth;
  // Clamped in float before the conversion: near FLT_MAX, x + range
  // overflows to Inf, and a float->int cast of Inf is undefined.
  if (!(position >= 0.0f))
    return 0;
  if (position >= float(numBins))
    return numBins - 1;
  return int32_t(floorf(position));
}

} // namespace qforge::rt

#endif // QFORGE_RT_NUMERICS_H
