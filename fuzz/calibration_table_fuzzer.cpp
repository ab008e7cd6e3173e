//===- calibration_table_fuzzer.cpp - fuzz the calibration-table loader ---===//
//
// Input: the text of a calibration table. The loader must reject anything
// malformed with an error; a table it accepts must give, for every observer
// and every method, either an error or a finite range that contains zero
// (so its scale is finite and positive).
//
//===----------------------------------------------------------------------===//

#include "qforge/Support/Calibration.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace {

void checkRange(const std::string &id, const qforge::ObserverStats &stats,
                qforge::CalibrationMethod method,
                const qforge::RangeOptions &options) {
  llvm::Expected<qforge::QuantRange> range =
      qforge::computeRange(stats, method, options);
  if (!range) {
    llvm::consumeError(range.takeError());
    return;
  }
  bool sound = std::isfinite(range->lo) && std::isfinite(range->hi) &&
               range->lo <= 0 && range->hi >= 0;
  if (options.symmetric)
    sound = sound && range->lo == -range->hi;
  if (!sound) {
    llvm::errs() << "fuzzer: observer " << id << " got range [" << range->lo
                 << ", " << range->hi << "]\n";
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536)
    return 0;
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  llvm::Expected<qforge::CalibrationTable> table =
      qforge::parseCalibrationTable(text, "fuzz.json");
  if (!table) {
    std::string message = llvm::toString(table.takeError());
    if (message.empty()) {
      llvm::errs() << "fuzzer: rejected with an empty message\n";
      std::abort();
    }
    return 0;
  }
  const qforge::CalibrationMethod methods[] = {
      qforge::CalibrationMethod::MinMax, qforge::CalibrationMethod::Percentile,
      qforge::CalibrationMethod::Entropy, qforge::CalibrationMethod::MSE};
  for (const auto &[id, stats] : table->observers) {
    for (qforge::CalibrationMethod method : methods) {
      for (bool symmetric : {true, false}) {
        qforge::RangeOptions options;
        options.symmetric = symmetric;
        checkRange(id, stats, method, options);
      }
    }
  }
  return 0;
}
