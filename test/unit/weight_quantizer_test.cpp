//===- weight_quantizer_test.cpp - the weight math of quantize-weights ----===//

#include "qforge/Support/WeightQuantizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace qforge;

namespace {

QuantizedWeight quantizeOrFail(const std::vector<float> &values,
                               std::vector<int64_t> shape,
                               const WeightQuantSpec &spec) {
  auto result = quantizeWeight(values, shape, spec);
  if (!result) {
    ADD_FAILURE() << llvm::toString(result.takeError());
    return {};
  }
  return std::move(*result);
}

WeightQuantSpec perChannel(int64_t axis) {
  WeightQuantSpec spec;
  spec.granularity = WeightGranularity::PerChannel;
  spec.channelAxis = axis;
  return spec;
}

TEST(WeightQuantizer, KnownCodesPerChannel) {
  // [K=3, N=2], channel axis 1.
  std::vector<float> w = {1.0f, -2.0f, 0.5f, 4.0f, -1.27f, 0.0f};
  QuantizedWeight q = quantizeOrFail(w, {3, 2}, perChannel(1));
  EXPECT_EQ(q.scalesShape, (std::vector<int64_t>{1, 2}));
  EXPECT_FLOAT_EQ(q.scales[0], 0.01f);
  EXPECT_FLOAT_EQ(q.scales[1], 4.0f / 127.0f);
  // -2 / (4/127) = -63.5 -> -64 (ties to even).
  EXPECT_EQ(q.codes, (std::vector<int8_t>{100, -64, 50, 127, -127, 0}));
  EXPECT_EQ(q.qmax, 127);
}

TEST(WeightQuantizer, PerTensorAndZeroChannel) {
  std::vector<float> w = {0.0f, 0.0f, 0.0f, 0.0f};
  WeightQuantSpec spec;
  spec.granularity = WeightGranularity::PerTensor;
  QuantizedWeight q = quantizeOrFail(w, {2, 2}, spec);
  ASSERT_EQ(q.scales.size(), 1u);
  EXPECT_EQ(q.scales[0], 1.0f); // all zero: a positive, finite scale
  EXPECT_EQ(q.codes, (std::vector<int8_t>{0, 0, 0, 0}));
  EXPECT_EQ(symmetricWeightScale(0.0f, 127), 1.0f);
}

TEST(WeightQuantizer, PerGroupScalesFollowBlocks) {
  // [N=2, K=4], channel 0, groups of 2 along axis 1.
  std::vector<float> w = {1, 2, 3, 4, -5, 6, -7, 8};
  WeightQuantSpec spec;
  spec.granularity = WeightGranularity::PerGroup;
  spec.channelAxis = 0;
  spec.groupAxis = 1;
  spec.groupSize = 2;
  QuantizedWeight q = quantizeOrFail(w, {2, 4}, spec);
  EXPECT_EQ(q.scalesShape, (std::vector<int64_t>{2, 2}));
  EXPECT_FLOAT_EQ(q.scales[0], 2.0f / 127);
  EXPECT_FLOAT_EQ(q.scales[1], 4.0f / 127);
  EXPECT_FLOAT_EQ(q.scales[2], 6.0f / 127);
  EXPECT_FLOAT_EQ(q.scales[3], 8.0f / 127);
  EXPECT_EQ(q.codes[1], 127);
  EXPECT_EQ(q.codes[7], 127);
  EXPECT_EQ(q.codes[6], -111); // -7 / (8/127) = -111.125
}

TEST(WeightQuantizer, FourBitCodesStayInRange) {
  std::vector<float> w = {7, -7, 3.5f, 1};
  WeightQuantSpec spec;
  spec.granularity = WeightGranularity::PerGroup;
  spec.channelAxis = 0;
  spec.groupAxis = 1;
  spec.groupSize = 4;
  spec.bits = 4;
  QuantizedWeight q = quantizeOrFail(w, {1, 4}, spec);
  EXPECT_EQ(q.qmax, 7);
  EXPECT_EQ(q.codes, (std::vector<int8_t>{7, -7, 4, 1})); // 3.5 -> 4 (even)
}

TEST(WeightQuantizer, DequantizedWithinHalfAScale) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<int64_t> shape = {3, 3, 16, 32}; // HWCF
  std::vector<float> w(3 * 3 * 16 * 32);
  for (float &v : w)
    v = normal(rng);
  QuantizedWeight q = quantizeOrFail(w, shape, perChannel(3));
  for (size_t i = 0; i < w.size(); ++i) {
    float scale = q.scales[i % 32];
    float back = float(q.codes[i]) * scale;
    ASSERT_LE(std::fabs(back - w[i]), scale / 2 * (1 + 1e-6f)) << i;
  }
}

TEST(WeightQuantizer, RejectsNonFiniteAndBadSpecs) {
  std::vector<float> w = {1, 2, NAN, 4};
  auto result = quantizeWeight(w, {2, 2}, perChannel(0));
  ASSERT_FALSE(result);
  EXPECT_EQ(llvm::toString(result.takeError()), "NaN at [1, 0]");
  w[2] = -INFINITY;
  result = quantizeWeight(w, {2, 2}, perChannel(0));
  ASSERT_FALSE(result);
  EXPECT_EQ(llvm::toString(result.takeError()), "Inf at [1, 0]");
  w[2] = 0;
  result = quantizeWeight(w, {2, 2}, perChannel(2));
  ASSERT_FALSE(result);
  EXPECT_NE(llvm::toString(result.takeError()).find("out of range"),
            std::string::npos);
  WeightQuantSpec spec;
  spec.granularity = WeightGranularity::PerGroup;
  spec.channelAxis = 0;
  spec.groupAxis = 1;
  spec.groupSize = 3;
  result = quantizeWeight(w, {2, 2}, spec);
  ASSERT_FALSE(result);
  EXPECT_NE(llvm::toString(result.takeError()).find("does not divide"),
            std::string::npos);
}

} // namespace
