//===- Calibration.cpp - calibration tables and range methods -------------===//

#include "qforge/Support/Calibration.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/xxhash.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

using namespace qforge;
namespace json = llvm::json;

namespace {

std::string formatDouble(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Reads a required number field.
llvm::Error getNumber(const json::Object &object, llvm::StringRef key,
                      const llvm::Twine &where, double &out) {
  const json::Value *value = object.get(key);
  if (!value)
    return error(where + ": missing \"" + key + "\"");
  std::optional<double> number = value->getAsNumber();
  if (!number || !std::isfinite(*number))
    return error(where + ": \"" + key + "\" must be a finite number");
  out = *number;
  return llvm::Error::success();
}

llvm::Error getCount(const json::Object &object, llvm::StringRef key,
                     const llvm::Twine &where, int64_t &out) {
  const json::Value *value = object.get(key);
  if (!value)
    return error(where + ": missing \"" + key + "\"");
  std::optional<int64_t> integer = value->getAsInteger();
  if (!integer || *integer < 0)
    return error(where + ": \"" + key + "\" must be a non-negative integer");
  out = *integer;
  return llvm::Error::success();
}

llvm::Expected<ObserverStats> parseObserver(const json::Value &value,
                                            const std::string &where) {
  const json::Object *object = value.getAsObject();
  if (!object)
    return error(where + ": must be an object");
  ObserverStats stats;
  if (auto e = getNumber(*object, "min", where, stats.min))
    return e;
  if (auto e = getNumber(*object, "max", where, stats.max))
    return e;
  if (auto e = getCount(*object, "count", where, stats.count))
    return e;
  if (auto e = getCount(*object, "nan_count", where, stats.nanCount))
    return e;
  if (auto e = getCount(*object, "inf_count", where, stats.infCount))
    return e;
  const json::Object *histogram = object->getObject("histogram");
  if (!histogram)
    return error(where + ": missing \"histogram\" object");
  std::string histogramWhere = where + ".histogram";
  if (auto e = getNumber(*histogram, "range", histogramWhere, stats.range))
    return e;
  const json::Array *bins = histogram->getArray("bins");
  if (!bins)
    return error(histogramWhere + ": missing \"bins\" array");
  // The runtime's observers hold 8 to 2^24 bins, a multiple of 4.
  if (bins->size() < 8 || bins->size() % 4 != 0 || bins->size() > (1u << 24))
    return error(histogramWhere + ": " + llvm::Twine(bins->size()) +
                 " bins; expected a multiple of 4 in [8, 2^24]");
  int64_t total = 0;
  for (const json::Value &bin : *bins) {
    std::optional<int64_t> count = bin.getAsInteger();
    if (!count || *count < 0)
      return error(histogramWhere + ": bins must be non-negative integers");
    if (*count > std::numeric_limits<int64_t>::max() - total)
      return error(histogramWhere + ": the bins' total overflows 64 bits");
    stats.bins.push_back(*count);
    total += *count;
  }
  // Consistency: the statistics must describe one and the same data.
  if (stats.min > stats.max)
    return error(where + ": min " + formatDouble(stats.min) + " > max " +
                 formatDouble(stats.max));
  if (stats.range < 0)
    return error(histogramWhere + ": range must be >= 0");
  if (stats.count == 0 && (stats.min != 0 || stats.max != 0))
    return error(where + ": count is 0 but min/max are " +
                 formatDouble(stats.min) + "/" + formatDouble(stats.max) +
                 " (an observer with no finite value has min = max = 0)");
  if (total != stats.count)
    return error(histogramWhere + ": bins hold " + llvm::Twine(total) +
                 " values but count is " + llvm::Twine(stats.count));
  double absMax = std::max(std::fabs(stats.min), std::fabs(stats.max));
  if (stats.count > 0 && absMax > stats.range &&
      !(stats.range == 0 && absMax == 0))
    return error(histogramWhere + ": range " + formatDouble(stats.range) +
                 " does not cover min/max (" + formatDouble(absMax) + ")");
  return stats;
}

/// |x| histogram: bins.size()/2 bins of width 2R/bins.size() from 0.
std::vector<int64_t> foldToMagnitudes(const std::vector<int64_t> &bins) {
  size_t half = bins.size() / 2;
  std::vector<int64_t> folded(half);
  for (size_t j = 0; j < half; ++j)
    folded[j] = bins[half + j] + bins[half - 1 - j];
  return folded;
}

/// Smallest value v such that at least `fraction` of the histogram's mass
/// lies below v (a bin's upper edge), from the low end.
double quantileEdge(const std::vector<int64_t> &bins, double lo, double width,
                    double fraction) {
  int64_t total = 0;
  for (int64_t b : bins)
    total += b;
  // Relative slack: 99.9% of 1000 must be reached by 999 values despite
  // 0.999 * 1000 rounding to just above 999.
  double needed = fraction * double(total) * (1.0 - 1e-12);
  int64_t cumulative = 0;
  for (size_t j = 0; j < bins.size(); ++j) {
    cumulative += bins[j];
    if (double(cumulative) >= needed)
      return lo + double(j + 1) * width;
  }
  return lo + double(bins.size()) * width;
}

double mseThreshold(const std::vector<int64_t> &absBins, double width,
                    double absMax, int qmax) {
  // Expected error of a value at bin centre c with threshold t (scale
  // s = t / qmax): s^2 / 12 of rounding inside, (c - t)^2 of clipping past.
  size_t n = absBins.size();
  size_t step = std::max<size_t>(1, n / 512);
  double best = absMax, bestError = std::numeric_limits<double>::infinity();
  for (size_t k = step; k <= n; k += step) {
    double t = std::min(double(k) * width, absMax);
    if (t <= 0)
      continue;
    double s = t / qmax, total = 0;
    for (size_t j = 0; j < n; ++j) {
      if (!absBins[j])
        continue;
      double c = (double(j) + 0.5) * width;
      double e = c <= t ? s * s / 12.0 : (c - t) * (c - t);
      total += double(absBins[j]) * e;
    }
    if (total < bestError) {
      bestError = total;
      best = t;
    }
  }
  return best;
}

} // namespace

llvm::Expected<CalibrationTable>
qforge::parseCalibrationTable(llvm::StringRef text, llvm::StringRef source) {
  llvm::Expected<json::Value> parsed = json::parse(text);
  if (!parsed)
    return error(source +
                 ": not valid JSON: " + llvm::toString(parsed.takeError()));
  const json::Object *root = parsed->getAsObject();
  if (!root)
    return error(source + ": the table must be a JSON object");
  std::optional<llvm::StringRef> format = root->getString("format");
  if (!format || *format != "qforge-calibration")
    return error(source + ": not a qforge calibration table (\"format\" must "
                          "be \"qforge-calibration\")");
  CalibrationTable table;
  std::optional<int64_t> version = root->getInteger("version");
  if (!version)
    return error(source + ": missing integer \"version\"");
  if (*version != 1)
    return error(source + ": unsupported table version " +
                 llvm::Twine(*version) + " (this qforge reads version 1)");
  std::optional<llvm::StringRef> hash = root->getString("model_hash");
  if (!hash || hash->empty() ||
      hash->find_first_not_of("0123456789abcdef") != llvm::StringRef::npos)
    return error(source + ": \"model_hash\" must be a lowercase hex string");
  table.modelHash = hash->str();
  std::optional<int64_t> samples = root->getInteger("samples");
  if (!samples || *samples < 1)
    return error(source + ": \"samples\" must be a positive integer");
  table.samples = *samples;
  const json::Object *observers = root->getObject("observers");
  if (!observers)
    return error(source + ": missing \"observers\" object");
  if (observers->empty())
    return error(source + ": the table has no observer");
  for (const auto &entry : *observers) {
    std::string where =
        (source + ": observer '" + entry.first.str() + "'").str();
    llvm::Expected<ObserverStats> stats = parseObserver(entry.second, where);
    if (!stats)
      return stats.takeError();
    table.observers[entry.first.str()] = std::move(*stats);
  }
  return table;
}

llvm::Expected<CalibrationTable>
qforge::loadCalibrationTable(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return error("cannot read calibration table " + path + ": " +
                 buffer.getError().message());
  return parseCalibrationTable((*buffer)->getBuffer(), path);
}

uint64_t qforge::moduleHash(mlir::ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  return llvm::xxh3_64bits(text);
}

uint64_t qforge::calibrationHash(mlir::ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  bool any = false;
  module->walk([&](mlir::Operation *op) {
    if (op->getName().getStringRef() != "qforge.observe")
      return;
    any = true;
    if (auto id = op->getAttrOfType<mlir::StringAttr>("id"))
      os << id.getValue();
    os << ":" << op->getResult(0).getType() << "\n";
  });
  return any ? llvm::xxh3_64bits(text) : moduleHash(module);
}

std::string qforge::formatModuleHash(uint64_t hash) {
  return llvm::formatv("{0:x-16}", hash).str();
}

llvm::Expected<CalibrationMethod>
qforge::parseCalibrationMethod(llvm::StringRef name) {
  if (name == "minmax")
    return CalibrationMethod::MinMax;
  if (name == "percentile")
    return CalibrationMethod::Percentile;
  if (name == "entropy")
    return CalibrationMethod::Entropy;
  if (name == "mse")
    return CalibrationMethod::MSE;
  return error("unknown calibration method '" + name +
               "'; expected minmax, percentile, entropy or mse");
}

int64_t qforge::entropyThresholdBins(const std::vector<int64_t> &hist,
                                     int64_t levels) {
  int64_t n = int64_t(hist.size());
  if (n <= levels)
    return n;
  int64_t best = n;
  double bestDivergence = std::numeric_limits<double>::infinity();
  std::vector<double> p, q;
  for (int64_t i = levels; i <= n; ++i) {
    // Reference: the first i bins, everything beyond clipped into the last.
    p.assign(hist.begin(), hist.begin() + i);
    for (int64_t j = i; j < n; ++j)
      p[size_t(i - 1)] += double(hist[size_t(j)]);
    // Candidate: the first i bins merged into `levels` groups, each group's
    // mass spread evenly over its non-empty bins.
    q.assign(size_t(i), 0.0);
    double perLevel = double(i) / double(levels);
    for (int64_t l = 0; l < levels; ++l) {
      int64_t start = int64_t(std::floor(double(l) * perLevel));
      int64_t end =
          l + 1 == levels ? i : int64_t(std::floor(double(l + 1) * perLevel));
      double mass = 0;
      int64_t nonEmpty = 0;
      for (int64_t k = start; k < end; ++k)
        if (hist[size_t(k)]) {
          mass += double(hist[size_t(k)]);
          ++nonEmpty;
        }
      for (int64_t k = start; k < end && nonEmpty; ++k)
        if (hist[size_t(k)])
          q[size_t(k)] = mass / double(nonEmpty);
    }
    double pTotal = 0, qTotal = 0;
    for (int64_t k = 0; k < i; ++k) {
      pTotal += p[size_t(k)];
      qTotal += q[size_t(k)];
    }
    if (pTotal == 0 || qTotal == 0)
      continue;
    double divergence = 0;
    for (int64_t k = 0; k < i; ++k) {
      if (p[size_t(k)] == 0)
        continue;
      double pk = p[size_t(k)] / pTotal;
      // A bin the candidate leaves empty gets a tiny mass (smoothing), so a
      // clipped outlier costs a large but finite divergence.
      double qk = std::max(q[size_t(k)] / qTotal, 1e-10);
      divergence += pk * std::log(pk / qk);
    }
    if (divergence < bestDivergence) {
      bestDivergence = divergence;
      best = i;
    }
  }
  return best;
}

llvm::Expected<QuantRange> qforge::computeRange(const ObserverStats &stats,
                                                CalibrationMethod method,
                                                const RangeOptions &options) {
  if (options.percentile <= 0 || options.percentile > 100)
    return error("percentile " + formatDouble(options.percentile) +
                 " is outside (0, 100]");
  double absMax = std::max(std::fabs(stats.min), std::fabs(stats.max));
  if (stats.count == 0 || absMax == 0)
    return QuantRange{0, 0}; // all zero (or nothing seen): scale falls back
  int qmax = (1 << (options.bits - 1)) - 1;
  double binWidth = 2.0 * stats.range / double(stats.bins.size());
  if (!options.symmetric) {
    double lo = std::min(stats.min, 0.0), hi = std::max(stats.max, 0.0);
    if (method == CalibrationMethod::MinMax)
      return QuantRange{lo, hi};
    if (method == CalibrationMethod::Percentile) {
      double fraction = options.percentile / 100.0;
      double upper = quantileEdge(stats.bins, -stats.range, binWidth, fraction);
      // The lower quantile is the upper one of the mirrored histogram.
      std::vector<int64_t> mirrored(stats.bins.rbegin(), stats.bins.rend());
      double lower = -quantileEdge(mirrored, -stats.range, binWidth, fraction);
      return QuantRange{std::max(std::min(lower, 0.0), lo),
                        std::min(std::max(upper, 0.0), hi)};
    }
    return error("the entropy and mse methods compute symmetric ranges only; "
                 "use minmax or percentile for asymmetric quantization");
  }
  std::vector<int64_t> magnitudes = foldToMagnitudes(stats.bins);
  double t = absMax;
  switch (method) {
  case CalibrationMethod::MinMax:
    break;
  case CalibrationMethod::Percentile:
    t = std::min(
        quantileEdge(magnitudes, 0, binWidth, options.percentile / 100.0),
        absMax);
    break;
  case CalibrationMethod::Entropy:
    // The bin at 0 holds every exact zero (all of a ReLU's negative side);
    // left as is, that spike dominates the divergence and drives the
    // threshold down to the smallest candidates. Like NVIDIA's
    // pytorch-quantization, give it its neighbour's count.
    if (magnitudes.size() > 1)
      magnitudes[0] = magnitudes[1];
    t = std::min(double(entropyThresholdBins(magnitudes, qmax + 1)) * binWidth,
                 absMax);
    break;
  case CalibrationMethod::MSE:
    t = mseThreshold(magnitudes, binWidth, absMax, qmax);
    break;
  }
  return QuantRange{-t, t};
}
