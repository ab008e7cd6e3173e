//===- numerics_test.cpp - the runtime's scalar arithmetic ----------------===//

#include "numerics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

using namespace qforge::rt;

namespace {

TEST(Numerics, HalfRoundTripsEveryEncoding) {
  for (uint32_t bits = 0; bits < 0x10000u; ++bits) {
    uint16_t h = uint16_t(bits);
    float f = halfToFloat(h);
    bool isNan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
    if (isNan) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << bits;
      EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(f))));
      continue;
    }
    EXPECT_EQ(floatToHalf(f), h) << std::hex << bits;
  }
}

TEST(Numerics, HalfKnownValues) {
  EXPECT_EQ(floatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(floatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(floatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(65519.0f), 0x7bff); // below the halfway point
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00); // halfway: ties to even = Inf
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -24)), 0x0001); // smallest subnormal
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -25)), 0x0000); // tie to even: 0
  EXPECT_EQ(floatToHalf(std::ldexp(3.0f, -25)), 0x0002); // 1.5 units -> 2
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -14)), 0x0400); // smallest normal
  // 1 + 2^-11 is halfway between 1 and the next half: ties to even (1).
  EXPECT_EQ(floatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // 1 + 3 * 2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9: rounds up.
  EXPECT_EQ(floatToHalf(1.0f + 3.0f * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(floatToHalf(INFINITY), 0x7c00);
  EXPECT_EQ(floatToHalf(-INFINITY), 0xfc00);
  EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(NAN))));
}

TEST(Numerics, HalfMatchesCorrectRoundingOnRandomFloats) {
  // Reference: the two neighbouring halves bracketing f, compared in double.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-70000.0f, 70000.0f);
  for (int i = 0; i < 200000; ++i) {
    float f = i % 2 ? dist(rng) : dist(rng) * 1e-6f;
    uint16_t h = floatToHalf(f);
    double chosen = halfToFloat(h);
    if (std::isinf(chosen)) {
      EXPECT_GE(std::fabs(f), 65520.0f);
      continue;
    }
    // No other finite half may be strictly closer.
    uint16_t up = uint16_t(h + 1), down = uint16_t(h - 1);
    for (uint16_t other : {up, down}) {
      double value = halfToFloat(other);
      if (std::isnan(value) || std::isinf(value))
        continue;
      EXPECT_LE(std::fabs(chosen - f), std::fabs(value - f)) << f;
    }
  }
}

TEST(Numerics, Bf16KnownValues) {
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1).
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(floatToBf16(1.0f + 3.0f * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(bf16ToFloat(0x4049), 3.140625f);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(NAN))));
  EXPECT_EQ(floatToBf16(INFINITY), 0x7f80);
}

TEST(Numerics, QuantizeRoundsHalfToEvenAndSaturates) {
  EXPECT_EQ(quantizeValue(0.25f, 0.5f, 0, -128, 127), 0);   // 0.5 -> 0
  EXPECT_EQ(quantizeValue(0.75f, 0.5f, 0, -128, 127), 2);   // 1.5 -> 2
  EXPECT_EQ(quantizeValue(1.25f, 0.5f, 0, -128, 127), 2);   // 2.5 -> 2
  EXPECT_EQ(quantizeValue(-1.25f, 0.5f, 0, -128, 127), -2); // -2.5 -> -2
  EXPECT_EQ(quantizeValue(-0.75f, 0.5f, 0, -128, 127), -2); // -1.5 -> -2
  EXPECT_EQ(quantizeValue(1000.0f, 0.5f, 0, -128, 127), 127);
  EXPECT_EQ(quantizeValue(-1000.0f, 0.5f, 0, -127, 127), -127);
  EXPECT_EQ(quantizeValue(1.0f, 0.5f, -3, -128, 127), -1); // 2 + (-3)
  EXPECT_EQ(quantizeValue(1000.0f, 0.5f, -3, -128, 127), 127);
  EXPECT_EQ(quantizeValue(NAN, 0.5f, 5, -128, 127), 5);
  EXPECT_EQ(quantizeValue(INFINITY, 0.5f, 0, -128, 127), 127);
  EXPECT_EQ(quantizeValue(-INFINITY, 0.5f, 0, -128, 127), -128);
}

/// clamp(rne(x * inverse), -127, 127) with NaN -> 0, written out plainly:
/// what dynamicQuantizeValue's add-a-magic-number rounding must equal.
int referenceDynamicCode(float x, float inverse) {
  float q = x * inverse;
  if (std::isnan(q))
    return 0;
  return int(std::clamp(std::nearbyint(q), -127.0f, 127.0f));
}

TEST(Numerics, DynamicQuantizeRoundsHalfToEvenAndSaturates) {
  EXPECT_EQ(dynamicQuantizeValue(0.5f, 1.0f), 0);
  EXPECT_EQ(dynamicQuantizeValue(1.5f, 1.0f), 2);
  EXPECT_EQ(dynamicQuantizeValue(-2.5f, 1.0f), -2);
  EXPECT_EQ(dynamicQuantizeValue(126.5f, 1.0f), 126);
  EXPECT_EQ(dynamicQuantizeValue(-127.5f, 1.0f), -127);
  EXPECT_EQ(dynamicQuantizeValue(1e30f, 1.0f), 127);
  EXPECT_EQ(dynamicQuantizeValue(-INFINITY, 2.0f), -127);
  EXPECT_EQ(dynamicQuantizeValue(NAN, 2.0f), 0);
  EXPECT_EQ(dynamicQuantizeValue(-0.0f, 2.0f), 0);
  // Every half-integer and its neighbours over the code range and past it,
  // then random values at random scales.
  for (int k = -300; k <= 300; ++k)
    for (float x : {k + 0.5f, std::nextafter(k + 0.5f, 1e9f),
                    std::nextafter(k + 0.5f, -1e9f), float(k)})
      ASSERT_EQ(dynamicQuantizeValue(x, 1.0f), referenceDynamicCode(x, 1.0f))
          << x;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_real_distribution<float> inverses(0.5f, 400.0f);
  for (int i = 0; i < 1000000; ++i) {
    float x = normal(rng), inverse = inverses(rng);
    ASSERT_EQ(dynamicQuantizeValue(x, inverse),
              referenceDynamicCode(x, inverse))
        << x << " " << inverse;
  }
}

TEST(Numerics, DequantizeAndSymmetricScale) {
  EXPECT_EQ(dequantizeValue(-3, 0.5f, 1), -2.0f);
  EXPECT_EQ(dequantizeValue(127, 0.25f, 0), 31.75f);
  EXPECT_EQ(symmetricScale(0.0f), 1.0f); // all-zero group fallback
  EXPECT_EQ(symmetricScale(127.0f), 1.0f);
  EXPECT_FLOAT_EQ(symmetricScale(2.54f), 0.02f);
}

TEST(Numerics, ErfPolynomialIsAccurate) {
  // erf(a / sqrt 2) for a >= 0 over and beyond the fitted range, on every
  // 1/4096 step; never above 1 (else GELU of a large x would exceed x).
  double worst = 0;
  for (int i = 0; i <= 8 * 4096; ++i) {
    float a = float(i) / 4096.0f;
    float value = erfOfScaled(a);
    worst = std::max(
        worst, std::fabs(double(value) - std::erf(double(a) / std::sqrt(2.0))));
    EXPECT_LE(value, 1.0f) << a;
  }
  EXPECT_LT(worst, 5e-7);
}

TEST(Numerics, GeluSaturatesAndPropagates) {
  EXPECT_EQ(gelu(0.0f), 0.0f);
  EXPECT_EQ(gelu(5.6f), 5.6f);
  EXPECT_EQ(gelu(100.0f), 100.0f);
  EXPECT_EQ(gelu(-5.6f), 0.0f);
  EXPECT_EQ(gelu(-100.0f), 0.0f);
  EXPECT_EQ(gelu(INFINITY), INFINITY);
  EXPECT_TRUE(std::isnan(gelu(NAN)));
  EXPECT_TRUE(std::isnan(gelu(-INFINITY)));
}

TEST(Numerics, GeluMatchesExactForm) {
  for (int i = -800; i <= 800; ++i) {
    double x = i / 100.0;
    double exact = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    EXPECT_NEAR(gelu(float(x)), exact, 2e-6 * std::max(1.0, std::fabs(x))) << x;
  }
}

TEST(Numerics, EpilogueOrder) {
  // (10 + 2) * (0.5 * 0.25) + 1 = 2.5
  EXPECT_EQ(epilogueValue(10, 2, 0.5f, 0.25f, 1.0f, 0), 2.5f);
  EXPECT_EQ(epilogueValue(-10, 0, 1.0f, 1.0f, 0.0f, 1), 0.0f);
  // The bias add cannot overflow i32: it is done in 64 bits.
  EXPECT_EQ(epilogueValue(INT32_MAX, 1, 1.0f, 1.0f, 0.0f, 0), 2147483648.0f);
}

TEST(Numerics, HistogramBins) {
  // [-1, 1] with 8 bins of width 0.25.
  float inv = 8.0f / 2.0f;
  EXPECT_EQ(histogramBin(-1.0f, 1.0f, inv, 8), 0);
  EXPECT_EQ(histogramBin(-0.01f, 1.0f, inv, 8), 3);
  EXPECT_EQ(histogramBin(0.0f, 1.0f, inv, 8), 4);
  EXPECT_EQ(histogramBin(0.99f, 1.0f, inv, 8), 7);
  EXPECT_EQ(histogramBin(1.0f, 1.0f, inv, 8), 7); // the top edge is inside
}

} // namespace
