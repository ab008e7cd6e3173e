//===- qforge-calibrate.cpp - inspect a calibration table -----------------===//
//
// Validates a table written by `qforge-run --calibrate` and prints, for each
// observer, the range and int8 scale a calibration method chooses: what
// qforge-fold-scales will use. Exit 1 with the loader's message on a bad
// table.
//
//===----------------------------------------------------------------------===//

#include "qforge/Support/Calibration.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>

namespace cl = llvm::cl;

static cl::opt<std::string> tablePath(cl::Positional, cl::desc("<calib.json>"),
                                      cl::Required);
static cl::opt<std::string>
    method("method", cl::desc("minmax | percentile | entropy | mse"),
           cl::init("minmax"));
static cl::opt<double> percentile("percentile",
                                  cl::desc("percentile method's percentile"),
                                  cl::init(99.99));
static cl::opt<bool>
    asymmetric("asymmetric", cl::desc("asymmetric ranges (minmax, percentile)"),
               cl::init(false));
static cl::opt<std::string>
    expectHash("expect-hash",
               cl::desc("fail unless the table's model hash is this one"));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(
      argc, argv,
      "qforge-calibrate: validate a calibration table and print the int8 "
      "range and scale of every observer for a calibration method\n");
  auto fail = [](llvm::Error e) {
    llvm::errs() << "qforge-calibrate: error: " << llvm::toString(std::move(e))
                 << "\n";
    return 1;
  };
  llvm::Expected<qforge::CalibrationTable> table =
      qforge::loadCalibrationTable(tablePath);
  if (!table)
    return fail(table.takeError());
  if (!expectHash.empty() && expectHash != table->modelHash)
    return fail(llvm::createStringError(llvm::inconvertibleErrorCode(),
                                        "stale table: it was made for model " +
                                            table->modelHash + ", not " +
                                            expectHash));
  llvm::Expected<qforge::CalibrationMethod> chosen =
      qforge::parseCalibrationMethod(method);
  if (!chosen)
    return fail(chosen.takeError());
  qforge::RangeOptions options;
  options.symmetric = !asymmetric;
  options.percentile = percentile;
  llvm::outs() << "table " << tablePath << ": model " << table->modelHash
               << ", " << table->samples << " samples, "
               << table->observers.size() << " observers, method " << method
               << "\n";
  for (const auto &[id, stats] : table->observers) {
    llvm::Expected<qforge::QuantRange> range =
        qforge::computeRange(stats, *chosen, options);
    if (!range)
      return fail(range.takeError());
    // int8: symmetric scale t / 127; asymmetric (hi - lo) / 255.
    double scale =
        options.symmetric ? range->hi / 127.0 : (range->hi - range->lo) / 255.0;
    if (scale == 0)
      scale = 1.0; // all-zero observer: the documented fallback
    llvm::outs() << llvm::format(
        "%-40s min %10.5g max %10.5g -> [%10.5g, %10.5g] scale %.6g",
        id.c_str(), stats.min, stats.max, range->lo, range->hi, scale);
    if (stats.nanCount || stats.infCount)
      llvm::outs() << " (" << stats.nanCount << " NaN, " << stats.infCount
                   << " Inf left out)";
    llvm::outs() << "\n";
  }
  return 0;
}
