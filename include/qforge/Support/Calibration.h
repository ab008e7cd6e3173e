//===- Calibration.h - calibration tables and range methods ----*- C++ -*-===//
//
// The calibration table written by `qforge-run --calibrate` (JSON, format
// "qforge-calibration" version 1; see docs/CALIBRATION.md) and the methods
// that turn an observer's statistics into a quantization range: minmax,
// percentile, entropy (TensorRT's KL-divergence search) and mse.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_SUPPORT_CALIBRATION_H
#define QFORGE_SUPPORT_CALIBRATION_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace qforge {

/// One observer's statistics: min/max/counts of the finite values and a
/// histogram of bins.size() bins over [-range, range] (range 0: all zero,
/// every count in the centre bin).
struct ObserverStats {
  double min = 0, max = 0;
  int64_t count = 0, nanCount = 0, infCount = 0;
  double range = 0;
  std::vector<int64_t> bins;
};

struct CalibrationTable {
  int version = 1;
  std::string modelHash;
  int64_t samples = 0;
  std::map<std::string, ObserverStats> observers;
};

/// Parses and validates a table; every malformed, inconsistent or
/// unsupported content is an error naming the field (and the observer).
/// `source` names the table in messages.
llvm::Expected<CalibrationTable> parseCalibrationTable(llvm::StringRef json,
                                                       llvm::StringRef source);
llvm::Expected<CalibrationTable> loadCalibrationTable(llvm::StringRef path);

/// A hash of a module's printed form.
uint64_t moduleHash(mlir::ModuleOp module);

/// The identity a calibration table refers to: a hash of the module's
/// calibration points (each qforge.observe's id and type, in order). It does
/// not change when weights are rewritten (qforge-quantize-weights), so a
/// table made with the instrumented float model applies to the model being
/// quantized. Falls back to moduleHash for a module without observers.
uint64_t calibrationHash(mlir::ModuleOp module);
std::string formatModuleHash(uint64_t hash);

enum class CalibrationMethod { MinMax, Percentile, Entropy, MSE };

/// "minmax", "percentile", "entropy" or "mse".
llvm::Expected<CalibrationMethod> parseCalibrationMethod(llvm::StringRef name);

struct RangeOptions {
  bool symmetric = true;
  double percentile = 99.99; // percentile method, in (0, 100]
  int bits = 8;
};

/// The real-value range [lo, hi] to quantize this observer's values into.
/// Symmetric ranges are [-t, t]. An all-zero observer gives [0, 0] (its
/// scale then falls back to 1, as for every zero-range group in qforge).
struct QuantRange {
  double lo = 0, hi = 0;
};
llvm::Expected<QuantRange> computeRange(const ObserverStats &stats,
                                        CalibrationMethod method,
                                        const RangeOptions &options);

/// TensorRT's entropy calibration on a histogram of |x| (bins of equal width
/// starting at 0): the number of leading bins whose clipped distribution
/// loses the least information (KL divergence) when quantized to
/// `levels` levels. The threshold is (result) * bin width.
int64_t entropyThresholdBins(const std::vector<int64_t> &absHistogram,
                             int64_t levels);

} // namespace qforge

#endif // QFORGE_SUPPORT_CALIBRATION_H
