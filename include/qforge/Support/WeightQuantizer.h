//===- WeightQuantizer.h - symmetric int weight quantization ---*- C++ -*-===//
//
// The arithmetic of qforge-quantize-weights, apart from any IR so that it
// can be unit-tested and reused: symmetric quantization of a row-major
// weight tensor per tensor, per channel (one scale per index of one axis) or
// per group (per channel, and blocks of `groupSize` along a second axis).
// Rounding is runtime/src/numerics.h's, so a weight quantized at compile
// time has the codes qforge_rt_quantize_per_axis would give it.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_SUPPORT_WEIGHTQUANTIZER_H
#define QFORGE_SUPPORT_WEIGHTQUANTIZER_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace qforge {

enum class WeightGranularity { PerTensor, PerChannel, PerGroup };

struct WeightQuantSpec {
  WeightGranularity granularity = WeightGranularity::PerChannel;
  int64_t channelAxis = -1; // per-channel and per-group
  int64_t groupAxis = -1;   // per-group: the reduction axis cut into groups
  int64_t groupSize = 0;    // per-group
  int bits = 8;             // 8, or 4 (per-group)
};

struct QuantizedWeight {
  std::vector<int8_t> codes;        // the weight's shape, row-major
  std::vector<float> scales;        // row-major over scalesShape
  std::vector<int64_t> scalesShape; // rank of the weight; 1 where shared
  int32_t qmax = 0;                 // codes lie in [-qmax, qmax]
};

/// The largest code of a symmetric `bits`-bit quantization (127 for 8).
int32_t symmetricMaxCode(int bits);

/// Scale of a group whose largest magnitude is `absMax`: absMax / qmax, in
/// f32. An all-zero group gets scale 1 (any positive scale represents it
/// exactly; 1 keeps the scale finite and non-zero).
float symmetricWeightScale(float absMax, int32_t qmax);

/// Quantizes `values` (shape `shape`, row-major) as `spec` says. Fails with
/// a message naming the first non-finite element ("NaN at [2, 5]") or a spec
/// that does not fit the shape.
llvm::Expected<QuantizedWeight> quantizeWeight(llvm::ArrayRef<float> values,
                                               llvm::ArrayRef<int64_t> shape,
                                               const WeightQuantSpec &spec);

} // namespace qforge

#endif // QFORGE_SUPPORT_WEIGHTQUANTIZER_H
