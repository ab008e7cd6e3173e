//===- calibration_test.cpp - tables and range methods --------------------===//

#include "qforge/Support/Calibration.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

using namespace qforge;

namespace {

/// A table with one observer over [-4, 4] in 8 bins (width 1).
std::string table(const std::string &observer) {
  return R"({"format": "qforge-calibration", "version": 1,
             "model_hash": "0123abcd", "samples": 3,
             "observers": {"f.matmul_0.lhs": )" +
         observer + "}}";
}

const char *kGoodObserver =
    R"({"min": -1.5, "max": 3.5, "count": 6, "nan_count": 1, "inf_count": 0,
        "histogram": {"range": 4, "bins": [0, 0, 1, 1, 2, 0, 0, 2]}})";

std::string parseError(const std::string &json) {
  auto parsed = parseCalibrationTable(json, "t.json");
  if (parsed)
    return "(parsed)";
  return llvm::toString(parsed.takeError());
}

TEST(CalibrationTable, ParsesAValidTable) {
  auto parsed = parseCalibrationTable(table(kGoodObserver), "t.json");
  ASSERT_TRUE(bool(parsed)) << llvm::toString(parsed.takeError());
  EXPECT_EQ(parsed->modelHash, "0123abcd");
  EXPECT_EQ(parsed->samples, 3);
  const ObserverStats &s = parsed->observers.at("f.matmul_0.lhs");
  EXPECT_EQ(s.min, -1.5);
  EXPECT_EQ(s.max, 3.5);
  EXPECT_EQ(s.count, 6);
  EXPECT_EQ(s.nanCount, 1);
  EXPECT_EQ(s.bins.size(), 8u);
}

TEST(CalibrationTable, RejectsMalformedTablesWithSpecificErrors) {
  struct Case {
    std::string json, message;
  };
  std::string good = kGoodObserver;
  auto replaced = [&](const std::string &from, const std::string &to) {
    std::string s = table(good);
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  Case cases[] = {
      {"{", "not valid JSON"},
      {"[1, 2]", "must be a JSON object"},
      {replaced("qforge-calibration", "other"),
       "not a qforge calibration table"},
      {replaced("\"version\": 1", "\"version\": 2"),
       "unsupported table version 2"},
      {replaced("\"version\": 1,", ""), "missing integer \"version\""},
      {replaced("0123abcd", "XYZ"),
       "\"model_hash\" must be a lowercase hex string"},
      {replaced("\"samples\": 3", "\"samples\": 0"),
       "\"samples\" must be a positive integer"},
      {R"({"format": "qforge-calibration", "version": 1, "model_hash": "ab",
           "samples": 1, "observers": {}})",
       "the table has no observer"},
      {replaced("\"min\": -1.5,", ""),
       "observer 'f.matmul_0.lhs': missing \"min\""},
      {replaced("\"max\": 3.5", "\"max\": \"big\""),
       "\"max\" must be a finite number"},
      {replaced("\"count\": 6", "\"count\": -6"),
       "\"count\" must be a non-negative integer"},
      {replaced("[0, 0, 1, 1, 2, 0, 0, 2]", "[0, 0, 1, 1, 2, 4]"),
       "6 bins; expected a multiple of 4"},
      {replaced("[0, 0, 1, 1, 2, 0, 0, 2]", "[0, 0, 1, 1, 2, 0, 0, -2]"),
       "bins must be non-negative integers"},
      {replaced("[0, 0, 1, 1, 2, 0, 0, 2]", "[0, 0, 1, 1, 2, 0, 0, 3]"),
       "bins hold 7 values but count is 6"},
      {replaced("\"min\": -1.5", "\"min\": 5"), "min 5 > max 3.5"},
      {replaced("\"range\": 4", "\"range\": 2"),
       "range 2 does not cover min/max (3.5)"},
      {replaced("\"histogram\"", "\"histo\""), "missing \"histogram\" object"},
      {"", "not valid JSON"},
      {table(good) + " trailing", "not valid JSON"},
      {"\"a string\"", "must be a JSON object"},
      {replaced("\"format\": \"qforge-calibration\",", ""),
       "not a qforge calibration table"},
      {replaced("\"qforge-calibration\"", "7"),
       "not a qforge calibration table"},
      {replaced("\"version\": 1", "\"version\": \"1\""),
       "missing integer \"version\""},
      {replaced("\"version\": 1", "\"version\": 1.5"),
       "missing integer \"version\""},
      {replaced("0123abcd", "0123ABCD"),
       "\"model_hash\" must be a lowercase hex string"},
      {replaced("\"0123abcd\"", "\"\""),
       "\"model_hash\" must be a lowercase hex string"},
      {replaced("\"model_hash\": \"0123abcd\",", ""),
       "\"model_hash\" must be a lowercase hex string"},
      {replaced("\"samples\": 3", "\"samples\": -1"),
       "\"samples\" must be a positive integer"},
      {replaced("\"samples\": 3", "\"samples\": 2.5"),
       "\"samples\" must be a positive integer"},
      {R"({"format": "qforge-calibration", "version": 1, "model_hash": "ab",
           "samples": 1})",
       "missing \"observers\" object"},
      {R"({"format": "qforge-calibration", "version": 1, "model_hash": "ab",
           "samples": 1, "observers": [1]})",
       "missing \"observers\" object"},
      {table("[1, 2]"), "observer 'f.matmul_0.lhs': must be an object"},
      {replaced("\"min\": -1.5", "\"min\": null"),
       "\"min\" must be a finite number"},
      {replaced("\"max\": 3.5", "\"max\": 1e999"),
       "\"max\" must be a finite number"},
      {replaced("\"count\": 6", "\"count\": 6.5"),
       "\"count\" must be a non-negative integer"},
      {replaced("\"nan_count\": 1, ", ""), "missing \"nan_count\""},
      {replaced("\"inf_count\": 0", "\"inf_count\": -3"),
       "\"inf_count\" must be a non-negative integer"},
      {replaced("\"range\": 4", "\"range\": -4"), "range must be >= 0"},
      {replaced("\"range\": 4, ", ""), "missing \"range\""},
      {replaced("\"bins\"", "\"counts\""), "missing \"bins\" array"},
      {replaced("[0, 0, 1, 1, 2, 0, 0, 2]", "{}"), "missing \"bins\" array"},
      {replaced("[0, 0, 1, 1, 2, 0, 0, 2]", "[0, 0, 1, 1]"),
       "4 bins; expected a multiple of 4 in [8, 2^24]"},
      {replaced("[0, 0, 1, 1, 2, 0, 0, 2]", "[0, 0, 1, 1, 2, 0, 0, 1.5]"),
       "bins must be non-negative integers"},
      {replaced("[0, 0, 1, 1, 2, 0, 0, 2]",
                "[0, 0, 1, 1, 2, 0, 9223372036854775807, 2]"),
       "the bins' total overflows 64 bits"},
      {replaced("{\"range\": 4,", "3, \"x\": {\"range\": 4,"),
       "missing \"histogram\" object"},
      {R"({"format": "qforge-calibration", "version": 1, "model_hash": "ab",
           "samples": 1, "observers": {"f.m.lhs": {"min": -1, "max": 1,
           "count": 0, "nan_count": 0, "inf_count": 0, "histogram":
           {"range": 1, "bins": [0, 0, 0, 0, 0, 0, 0, 0]}}}})",
       "count is 0 but min/max are -1/1"},
  };
  // docs/RELIABILITY.md counts these: keep the number there in step.
  EXPECT_EQ(std::size(cases), 46u);
  for (const Case &c : cases) {
    std::string message = parseError(c.json);
    EXPECT_NE(message.find(c.message), std::string::npos)
        << "expected '" << c.message << "', got '" << message << "'";
    EXPECT_EQ(message.rfind("t.json", 0), 0u) << message;
  }
}

ObserverStats stats(double min, double max, double range,
                    std::vector<int64_t> bins) {
  ObserverStats s;
  s.min = min;
  s.max = max;
  s.range = range;
  s.bins = std::move(bins);
  for (int64_t b : s.bins)
    s.count += b;
  return s;
}

TEST(CalibrationMethods, MinMaxAndZeroRange) {
  ObserverStats s = stats(-1.5, 3.5, 4, {0, 0, 1, 1, 2, 0, 0, 2});
  RangeOptions symmetric, asymmetric;
  asymmetric.symmetric = false;
  auto r = computeRange(s, CalibrationMethod::MinMax, symmetric);
  ASSERT_TRUE(bool(r));
  EXPECT_EQ(r->lo, -3.5);
  EXPECT_EQ(r->hi, 3.5);
  r = computeRange(s, CalibrationMethod::MinMax, asymmetric);
  ASSERT_TRUE(bool(r));
  EXPECT_EQ(r->lo, -1.5);
  EXPECT_EQ(r->hi, 3.5);
  // An all-positive asymmetric range still contains 0.
  r = computeRange(stats(1, 2, 2, {0, 0, 0, 0, 0, 0, 1, 1}),
                   CalibrationMethod::MinMax, asymmetric);
  ASSERT_TRUE(bool(r));
  EXPECT_EQ(r->lo, 0);
  ObserverStats zero = stats(0, 0, 0, {0, 0, 0, 0, 5, 0, 0, 0});
  r = computeRange(zero, CalibrationMethod::Entropy, symmetric);
  ASSERT_TRUE(bool(r));
  EXPECT_EQ(r->lo, 0);
  EXPECT_EQ(r->hi, 0);
}

TEST(CalibrationMethods, PercentileOnKnownHistogram) {
  // |x| histogram after folding, width 1: [990 in [0,1), 9 in [1,2), 1 in
  // [3,4)]. 99% of 1000 is reached in the first bin, 99.9% in the second.
  std::vector<int64_t> bins(8, 0);
  bins[4] = 990;
  bins[5] = 9;
  bins[7] = 1;
  ObserverStats s = stats(0, 3.9, 4, bins);
  RangeOptions o;
  o.percentile = 99.0;
  auto r = computeRange(s, CalibrationMethod::Percentile, o);
  ASSERT_TRUE(bool(r));
  EXPECT_DOUBLE_EQ(r->hi, 1.0);
  o.percentile = 99.9;
  r = computeRange(s, CalibrationMethod::Percentile, o);
  EXPECT_DOUBLE_EQ(r->hi, 2.0);
  o.percentile = 100;
  r = computeRange(s, CalibrationMethod::Percentile, o);
  EXPECT_DOUBLE_EQ(r->hi, 3.9); // never past the observed max
  o.percentile = 0;
  EXPECT_FALSE(bool(computeRange(s, CalibrationMethod::Percentile, o)));
}

/// TensorRT's entropy calibration written out again, independently of the
/// library's: integer group boundaries, explicit normalisation.
int64_t referenceEntropy(const std::vector<int64_t> &h, int64_t levels) {
  int64_t n = int64_t(h.size()), best = n;
  double bestKl = std::numeric_limits<double>::infinity();
  for (int64_t i = levels; i <= n; ++i) {
    std::vector<double> p(h.begin(), h.begin() + i);
    double outliers = 0;
    for (int64_t j = i; j < n; ++j)
      outliers += double(h[size_t(j)]);
    p.back() += outliers;
    std::vector<double> q(size_t(i), 0.0);
    for (int64_t l = 0; l < levels; ++l) {
      int64_t begin = l * i / levels, end = (l + 1) * i / levels;
      double sum = 0;
      int64_t used = 0;
      for (int64_t k = begin; k < end; ++k) {
        sum += double(h[size_t(k)]);
        used += h[size_t(k)] > 0;
      }
      for (int64_t k = begin; k < end; ++k)
        if (h[size_t(k)] > 0)
          q[size_t(k)] = sum / double(used);
    }
    double ps = 0, qs = 0;
    for (int64_t k = 0; k < i; ++k) {
      ps += p[size_t(k)];
      qs += q[size_t(k)];
    }
    double kl = 0;
    for (int64_t k = 0; k < i; ++k)
      if (p[size_t(k)] > 0)
        kl +=
            p[size_t(k)] / ps *
            std::log((p[size_t(k)] / ps) / std::max(q[size_t(k)] / qs, 1e-10));
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return best;
}

TEST(CalibrationMethods, EntropyMatchesAnIndependentImplementation) {
  // A Laplace-like |x| histogram of 1024 bins with a few far outliers.
  std::vector<int64_t> h(1024, 0);
  for (size_t j = 0; j < 400; ++j)
    h[j] = int64_t(100000.0 * std::exp(-double(j) / 40.0));
  h[900] = 3;
  h[1023] = 1;
  int64_t bins = entropyThresholdBins(h, 128);
  EXPECT_EQ(bins, referenceEntropy(h, 128));
  EXPECT_GT(bins, 128);
  EXPECT_LT(bins, 900); // the outliers are clipped
  // Fewer bins than levels: nothing to clip.
  EXPECT_EQ(entropyThresholdBins(std::vector<int64_t>(64, 1), 128), 64);
}

TEST(CalibrationMethods, EntropyAndMseClipOutliers) {
  std::vector<int64_t> bins(2048, 0);
  for (size_t j = 0; j < 200; ++j) { // dense core near 0, both signs
    bins[1024 + j] = bins[1023 - j] =
        int64_t(5000.0 * std::exp(-double(j) / 30.0));
  }
  bins[2047] = 1; // one outlier at the top of [-64, 64]
  ObserverStats s = stats(-6.25, 63.97, 64, bins);
  RangeOptions o;
  // Both clip the lone outlier; entropy (distribution shape) much harder
  // than mse, which weighs the outlier's squared error against rounding
  // error of the ~300k core values.
  auto entropy = computeRange(s, CalibrationMethod::Entropy, o);
  auto mse = computeRange(s, CalibrationMethod::MSE, o);
  ASSERT_TRUE(bool(entropy) && bool(mse));
  EXPECT_GT(entropy->hi, 1.0);
  EXPECT_LT(entropy->hi, 20.0);
  EXPECT_GT(mse->hi, 1.0);
  EXPECT_LT(mse->hi, 63.0);
  EXPECT_EQ(mse->lo, -mse->hi);
  o.symmetric = false;
  EXPECT_FALSE(bool(computeRange(s, CalibrationMethod::Entropy, o)));
}

TEST(CalibrationMethods, MethodNames) {
  EXPECT_TRUE(bool(parseCalibrationMethod("entropy")));
  auto bad = parseCalibrationMethod("kl");
  ASSERT_FALSE(bool(bad));
  EXPECT_NE(
      llvm::toString(bad.takeError()).find("unknown calibration method 'kl'"),
      std::string::npos);
}

TEST(CalibrationTable, ModuleHashIsDeterministic) {
  mlir::MLIRContext context;
  context.allowUnregisteredDialects();
  auto a = mlir::parseSourceString<mlir::ModuleOp>(
      "module { \"x.y\"() : () -> () }", &context);
  auto b = mlir::parseSourceString<mlir::ModuleOp>(
      "module {\n  \"x.y\"() : () -> ()\n}", &context);
  auto c = mlir::parseSourceString<mlir::ModuleOp>(
      "module { \"x.z\"() : () -> () }", &context);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(moduleHash(*a), moduleHash(*b)); // formatting does not matter
  EXPECT_NE(moduleHash(*a), moduleHash(*c));
  EXPECT_EQ(formatModuleHash(0xabc).size(), 16u);
}

} // namespace

TEST(CalibrationTable, MissingFileIsAnError) {
  auto loaded = loadCalibrationTable("/nonexistent/dir/calib.json");
  ASSERT_FALSE(bool(loaded));
  std::string message = llvm::toString(loaded.takeError());
  EXPECT_NE(message.find("cannot read calibration table /nonexistent/dir/"),
            std::string::npos)
      << message;
}
