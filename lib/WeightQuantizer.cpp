//===- WeightQuantizer.cpp - symmetric int weight quantization ------------===//

#include "qforge/Support/WeightQuantizer.h"

#include "numerics.h" // runtime/src: the one definition of rounding

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <string>

using namespace qforge;

int32_t qforge::symmetricMaxCode(int bits) { return (1 << (bits - 1)) - 1; }

float qforge::symmetricWeightScale(float absMax, int32_t qmax) {
  // Same zero-range rule as the runtime (numerics.h): a channel this close
  // to zero would get a denormal or zero scale.
  return absMax >= qforge::rt::kMinGroupAbsMax ? absMax / float(qmax) : 1.0f;
}

namespace {

std::string formatIndex(llvm::ArrayRef<int64_t> shape, int64_t flat) {
  std::vector<int64_t> coords(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    coords[d] = flat % shape[d];
    flat /= shape[d];
  }
  std::string text = "[";
  for (size_t d = 0; d < coords.size(); ++d)
    text += (d ? ", " : "") + std::to_string(coords[d]);
  return text + "]";
}

/// Walks a row-major tensor in order while tracking the flat index of the
/// scale block each element belongs to, without a division per dimension.
class BlockCursor {
public:
  BlockCursor(llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<int64_t> blocks)
      : shape(shape), blocks(blocks), coords(shape.size(), 0),
        strides(shape.size(), 1) {
    for (size_t d = shape.size(); d-- > 1;)
      strides[d - 1] = strides[d] * (shape[d] / blocks[d]);
  }
  int64_t block() const { return current; }
  void next() {
    for (size_t d = shape.size(); d-- > 0;) {
      int64_t before = coords[d] / blocks[d];
      if (++coords[d] == shape[d])
        coords[d] = 0;
      current += (coords[d] / blocks[d] - before) * strides[d];
      if (coords[d] != 0)
        return;
    }
  }

private:
  llvm::ArrayRef<int64_t> shape, blocks;
  std::vector<int64_t> coords, strides;
  int64_t current = 0;
};

} // namespace

llvm::Expected<QuantizedWeight>
qforge::quantizeWeight(llvm::ArrayRef<float> values,
                       llvm::ArrayRef<int64_t> shape,
                       const WeightQuantSpec &spec) {
  auto error = [](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
  };
  int64_t rank = int64_t(shape.size());
  if (spec.bits != 8 && spec.bits != 4)
    return error(llvm::formatv("bits must be 8 or 4, got {0}", spec.bits));
  bool perChannel = spec.granularity != WeightGranularity::PerTensor;
  bool perGroup = spec.granularity == WeightGranularity::PerGroup;
  if (perChannel && (spec.channelAxis < 0 || spec.channelAxis >= rank))
    return error(llvm::formatv("channel axis {0} is out of range for rank {1}",
                               spec.channelAxis, rank));
  if (perGroup) {
    if (spec.groupAxis < 0 || spec.groupAxis >= rank ||
        spec.groupAxis == spec.channelAxis)
      return error(llvm::formatv("group axis {0} is invalid for rank {1}",
                                 spec.groupAxis, rank));
    if (spec.groupSize <= 0 || shape[spec.groupAxis] % spec.groupSize != 0)
      return error(llvm::formatv(
          "group-size {0} does not divide the reduction dimension of size {1}",
          spec.groupSize, shape[spec.groupAxis]));
  }

  // Block extent per dimension: 1 along the channel axis, the group size
  // along the group axis, the whole dimension elsewhere.
  std::vector<int64_t> blocks(shape.begin(), shape.end());
  QuantizedWeight result;
  result.scalesShape.assign(size_t(rank), 1);
  if (perChannel) {
    blocks[size_t(spec.channelAxis)] = 1;
    result.scalesShape[size_t(spec.channelAxis)] = shape[spec.channelAxis];
  }
  if (perGroup) {
    blocks[size_t(spec.groupAxis)] = spec.groupSize;
    result.scalesShape[size_t(spec.groupAxis)] =
        shape[spec.groupAxis] / spec.groupSize;
  }
  int64_t numBlocks = 1;
  for (int64_t s : result.scalesShape)
    numBlocks *= s;
  int64_t count = int64_t(values.size());

  std::vector<float> absMax(size_t(numBlocks), 0.0f);
  {
    BlockCursor cursor(shape, blocks);
    for (int64_t i = 0; i < count; ++i, cursor.next()) {
      float v = values[size_t(i)];
      if (!std::isfinite(v))
        return error(llvm::formatv("{0} at {1}", std::isnan(v) ? "NaN" : "Inf",
                                   formatIndex(shape, i)));
      float magnitude = std::fabs(v);
      float &slot = absMax[size_t(cursor.block())];
      if (magnitude > slot)
        slot = magnitude;
    }
  }
  result.qmax = symmetricMaxCode(spec.bits);
  result.scales.resize(size_t(numBlocks));
  for (int64_t b = 0; b < numBlocks; ++b)
    result.scales[size_t(b)] =
        symmetricWeightScale(absMax[size_t(b)], result.qmax);

  result.codes.resize(size_t(count));
  BlockCursor cursor(shape, blocks);
  for (int64_t i = 0; i < count; ++i, cursor.next())
    result.codes[size_t(i)] = qforge::rt::quantizeValue(
        values[size_t(i)], result.scales[size_t(cursor.block())], 0,
        -result.qmax, result.qmax);
  return result;
}
