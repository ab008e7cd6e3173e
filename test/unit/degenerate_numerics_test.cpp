//===- degenerate_numerics_test.cpp - the degenerate-input matrix ---------===//
//
// {all-zero, constant, NaN, +-Inf, denormal, 1e30 outlier, one zero channel,
// empty} x {per-tensor, per-channel, per-token} x {CPU, CUDA}
// (docs/RELIABILITY.md). Per-tensor and per-token are the runtime's dynamic
// quantization, which computes its own scales; per-channel is the static
// symmetric path of weights, whose scales come from the shared rule
// symmetricScale (numerics.h, also used by the weight quantizer) and are then
// applied by the runtime's per-axis quantize.
//
// On every backend: every scale is finite and > 0; a group with no finite
// magnitude >= kMinGroupAbsMax falls back to scale 1 and codes 0; NaN gives
// code 0, +-Inf saturate to +-127; finite values get the nearest code. CUDA
// must equal CPU byte for byte (codes and scales); skipped without a GPU.
//
//===----------------------------------------------------------------------===//

#include "numerics.h"
#include "test_util.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

using namespace qforge::test;
using qforge::rt::kMinGroupAbsMax;
using qforge::rt::symmetricScale;

namespace {

enum class Pattern {
  AllZero,
  Constant,
  SomeNaN,
  SomeInf,
  Denormal,
  Outlier1e30,
  OneZeroChannel,
  Empty
};
enum class Granularity { PerTensor, PerChannel, PerToken };

struct Case {
  Pattern pattern;
  Granularity granularity;
};

std::string patternName(Pattern p) {
  const char *names[] = {"AllZero",  "Constant",    "SomeNaN",        "SomeInf",
                         "Denormal", "Outlier1e30", "OneZeroChannel", "Empty"};
  return names[int(p)];
}
std::string granularityName(Granularity g) {
  const char *names[] = {"PerTensor", "PerChannel", "PerToken"};
  return names[int(g)];
}

constexpr int64_t kRows = 5, kCols = 67;

/// The data of a pattern as a [rows, cols] matrix (rows = channels/tokens).
std::vector<float> patternData(Pattern p, int64_t rows, std::mt19937 &rng) {
  std::vector<float> x = randomFloats(rng, size_t(rows * kCols), -3.0f, 3.0f);
  switch (p) {
  case Pattern::AllZero:
    std::fill(x.begin(), x.end(), 0.0f);
    break;
  case Pattern::Constant:
    std::fill(x.begin(), x.end(), 0.7f);
    break;
  case Pattern::SomeNaN:
    for (size_t i = 0; i < x.size(); i += 5)
      x[i] = NAN;
    for (int64_t c = 0; c < kCols; ++c) // row 1 is NaN only
      x[size_t(kCols + c)] = NAN;
    break;
  case Pattern::SomeInf:
    for (size_t i = 0; i < x.size(); i += 7)
      x[i] = (i / 7) % 2 ? INFINITY : -INFINITY;
    break;
  case Pattern::Denormal:
    for (float &v : x)
      v *= 1e-39f; // below FLT_MIN: denormal
    break;
  case Pattern::Outlier1e30:
    x[size_t(kCols + 3)] = 1e30f;
    break;
  case Pattern::OneZeroChannel:
    for (int64_t c = 0; c < kCols; ++c)
      x[size_t(2 * kCols + c)] = 0.0f;
    break;
  case Pattern::Empty:
    break;
  }
  return x;
}

/// Largest finite magnitude over [begin, end).
float finiteAbsMax(const float *begin, const float *end) {
  float m = 0.0f;
  for (const float *p = begin; p != end; ++p)
    if (std::isfinite(*p))
      m = std::max(m, std::fabs(*p));
  return m;
}

class DegenerateNumerics : public ::testing::TestWithParam<Case> {
protected:
  /// Quantizes `x` on `ctx` (host pointers on CPU; staged on CUDA).
  /// Returns the status; fills codes and one scale per group.
  qforge_status run(qforge_context *ctx, bool device,
                    const std::vector<float> &x, int64_t rows,
                    std::vector<int8_t> &codes, std::vector<float> &scales);

  std::mt19937 rng{std::random_device{}()};
};

/// Runs `call` with device copies of the arguments when `device`.
struct Staging {
  qforge_context *ctx;
  bool device;
  std::vector<void *> owned;
  ~Staging() {
    for (void *p : owned)
      qforge_rt_free(ctx, p);
  }
  template <typename T> T *in(const std::vector<T> &host) {
    if (!device || host.empty())
      return const_cast<T *>(host.data());
    void *p = nullptr;
    qforge_rt_alloc(ctx, int64_t(host.size() * sizeof(T)), &p);
    owned.push_back(p);
    qforge_rt_copy_to_device(ctx, p, host.data(),
                             int64_t(host.size() * sizeof(T)));
    return static_cast<T *>(p);
  }
  template <typename T> void out(std::vector<T> &host, const T *p) {
    if (device && !host.empty())
      qforge_rt_copy_to_host(ctx, host.data(), p,
                             int64_t(host.size() * sizeof(T)));
  }
};

qforge_status DegenerateNumerics::run(qforge_context *ctx, bool device,
                                      const std::vector<float> &x, int64_t rows,
                                      std::vector<int8_t> &codes,
                                      std::vector<float> &scales) {
  Granularity g = GetParam().granularity;
  codes.assign(x.size(), int8_t(0x5b));
  Staging stage{ctx, device, {}};
  const float *dx = stage.in(x);
  int8_t *dq = stage.in(codes);
  if (g == Granularity::PerChannel) {
    // Scales from the shared symmetric rule (as qforge-quantize-weights).
    // An empty weight is [channels, 0]: every channel's group is empty.
    int64_t channels = rows ? rows : kRows, inner = rows ? kCols : 0;
    scales.resize(size_t(channels));
    for (int64_t r = 0; r < channels; ++r)
      scales[size_t(r)] =
          rows ? symmetricScale(finiteAbsMax(x.data() + r * kCols,
                                             x.data() + (r + 1) * kCols))
               : symmetricScale(0.0f);
    const float *ds = stage.in(scales);
    qforge_status s = qforge_rt_quantize_per_axis(
        ctx, QFORGE_F32, dx, 1, channels, inner, ds, nullptr, -127, 127, dq);
    stage.out(codes, dq);
    return s;
  }
  scales.assign(g == Granularity::PerToken ? size_t(std::max<int64_t>(rows, 1))
                                           : 1,
                -1.0f);
  float *dscales = stage.in(scales);
  qforge_status s = qforge_rt_dynamic_quantize(
      ctx, QFORGE_F32, dx, rows, kCols,
      g == Granularity::PerToken ? QFORGE_PER_TOKEN : QFORGE_PER_TENSOR, dq,
      dscales);
  stage.out(codes, dq);
  stage.out(scales, dscales);
  return s;
}

TEST_P(DegenerateNumerics, ScalesAndCodesFollowTheDocumentedFallbacks) {
  Case c = GetParam();
  Context cpu(QFORGE_BACKEND_CPU);
  ASSERT_TRUE(cpu.ctx);
  int64_t rows = c.pattern == Pattern::Empty ? 0 : kRows;
  std::vector<float> x = patternData(c.pattern, rows, rng);
  std::vector<int8_t> codes;
  std::vector<float> scales;
  qforge_status status = run(cpu, false, x, rows, codes, scales);
  if (c.pattern == Pattern::Empty) {
    // Documented: dynamic quantization needs rows, cols >= 1 (an empty
    // tensor is an invalid request); an empty per-axis view is a no-op.
    if (c.granularity == Granularity::PerChannel)
      EXPECT_EQ(status, QFORGE_OK) << qforge_rt_last_error();
    else
      EXPECT_EQ(status, QFORGE_ERR_INVALID_ARGUMENT);
    return;
  }
  QF_ASSERT_OK(status);
  bool perTensor = c.granularity == Granularity::PerTensor;
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = x.data() + r * kCols;
    float s = scales[perTensor ? 0 : size_t(r)];
    float groupMax = perTensor ? finiteAbsMax(x.data(), x.data() + x.size())
                               : finiteAbsMax(row, row + kCols);
    ASSERT_TRUE(std::isfinite(s) && s > 0.0f) << "row " << r << ": " << s;
    if (groupMax < kMinGroupAbsMax)
      EXPECT_EQ(s, 1.0f) << "zero-range fallback, row " << r;
    else
      EXPECT_EQ(s, groupMax / 127.0f) << "row " << r;
    for (int64_t j = 0; j < kCols; ++j) {
      float v = row[j];
      int8_t q = codes[size_t(r * kCols + j)];
      ASSERT_GE(q, -127);
      if (std::isnan(v)) {
        EXPECT_EQ(q, 0);
      } else if (std::isinf(v)) {
        EXPECT_EQ(q, v > 0 ? 127 : -127);
      } else if (groupMax < kMinGroupAbsMax) {
        EXPECT_EQ(q, 0) << "value " << v;
      } else {
        EXPECT_LE(std::fabs(double(q) - double(v) / double(s)), 0.5 + 1e-4)
            << "row " << r << " col " << j << " value " << v;
      }
    }
  }
}

TEST_P(DegenerateNumerics, CudaEqualsCpuByteForByte) {
  if (!qforge_rt_cuda_available())
    GTEST_SKIP() << "no CUDA device";
  unsetenv("QFORGE_DEVICE");
  Case c = GetParam();
  Context cpu(QFORGE_BACKEND_CPU), gpu(QFORGE_BACKEND_CUDA);
  ASSERT_TRUE(cpu.ctx && gpu.ctx);
  int64_t rows = c.pattern == Pattern::Empty ? 0 : kRows;
  std::vector<float> x = patternData(c.pattern, rows, rng);
  std::vector<int8_t> cpuCodes, gpuCodes;
  std::vector<float> cpuScales, gpuScales;
  qforge_status cpuStatus = run(cpu, false, x, rows, cpuCodes, cpuScales);
  qforge_status gpuStatus = run(gpu, true, x, rows, gpuCodes, gpuScales);
  ASSERT_EQ(cpuStatus, gpuStatus) << qforge_rt_last_error();
  if (cpuStatus != QFORGE_OK)
    return;
  EXPECT_EQ(cpuCodes, gpuCodes);
  ASSERT_EQ(cpuScales.size(), gpuScales.size());
  EXPECT_EQ(std::memcmp(cpuScales.data(), gpuScales.data(),
                        cpuScales.size() * sizeof(float)),
            0);
}

std::vector<Case> allCases() {
  std::vector<Case> cases;
  for (int p = 0; p <= int(Pattern::Empty); ++p)
    for (int g = 0; g <= int(Granularity::PerToken); ++g)
      cases.push_back({Pattern(p), Granularity(g)});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Matrix, DegenerateNumerics,
                         ::testing::ValuesIn(allCases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           return patternName(info.param.pattern) + "_" +
                                  granularityName(info.param.granularity);
                         });

} // namespace
