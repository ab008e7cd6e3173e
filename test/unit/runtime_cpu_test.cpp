//===- runtime_cpu_test.cpp - the C API on the reference backend ----------===//

#include "numerics.h"
#include "test_util.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

using namespace qforge::test;

namespace {

class RuntimeCpu : public ::testing::Test {
protected:
  void SetUp() override {
    unsetenv("QFORGE_DEVICE");
    ASSERT_EQ(qforge_rt_create(QFORGE_BACKEND_CPU, &ctx), QFORGE_OK)
        << qforge_rt_last_error();
  }
  void TearDown() override { qforge_rt_destroy(ctx); }
  qforge_context *ctx = nullptr;
  std::mt19937 rng{1234};
};

void expectError(qforge_status status, qforge_status expected,
                 const std::string &fragment) {
  EXPECT_EQ(status, expected);
  EXPECT_NE(std::string(qforge_rt_last_error()).find(fragment),
            std::string::npos)
      << "message was: " << qforge_rt_last_error();
}

TEST_F(RuntimeCpu, QuantizeKnownCodes) {
  float x[] = {0.25f, 0.35f, -0.05f, 0.15f, 100.0f, -100.0f, NAN, INFINITY};
  int8_t q[8];
  QF_ASSERT_OK(
      qforge_rt_quantize(ctx, QFORGE_F32, x, 8, 0.1f, 0, -128, 127, q));
  // In f32, 0.25/0.1, 0.35/0.1 and 0.15/0.1 divide to exactly 2.5, 3.5 and
  // 1.5: ties, rounded to even.
  int8_t expected[] = {2, 4, 0, 2, 127, -128, 0, 127};
  EXPECT_EQ(std::memcmp(q, expected, 8), 0);
}

TEST_F(RuntimeCpu, QuantizeHalfInput) {
  uint16_t x[] = {qforge::rt::floatToHalf(1.5f),
                  qforge::rt::floatToHalf(-2.5f)};
  int8_t q[2];
  QF_ASSERT_OK(
      qforge_rt_quantize(ctx, QFORGE_F16, x, 2, 1.0f, 0, -128, 127, q));
  EXPECT_EQ(q[0], 2);
  EXPECT_EQ(q[1], -2);
}

TEST_F(RuntimeCpu, QuantizePerAxisUsesEachChannelsScale) {
  // [outer=2, channels=3, inner=2]
  std::vector<float> x(12, 1.0f);
  float scales[] = {1.0f, 0.5f, 0.25f};
  int32_t zeroPoints[] = {0, 1, -1};
  int8_t q[12];
  QF_ASSERT_OK(qforge_rt_quantize_per_axis(ctx, QFORGE_F32, x.data(), 2, 3, 2,
                                           scales, zeroPoints, -128, 127, q));
  int8_t expected[] = {1, 1, 3, 3, 3, 3, 1, 1, 3, 3, 3, 3};
  EXPECT_EQ(std::memcmp(q, expected, 12), 0);
}

TEST_F(RuntimeCpu, DynamicPerTokenScalesAndZeroRows) {
  // Row 0: max 2.54 -> scale 0.02; row 1: all zero -> scale 1; row 2: NaN
  // and Inf are left out of the max.
  float x[] = {2.54f, -1.27f, 0.0f, 0.0f, 0.0f, 0.0f, NAN, 1.27f, -INFINITY};
  int8_t q[9];
  float scales[3];
  QF_ASSERT_OK(qforge_rt_dynamic_quantize(ctx, QFORGE_F32, x, 3, 3,
                                          QFORGE_PER_TOKEN, q, scales));
  EXPECT_FLOAT_EQ(scales[0], 0.02f);
  EXPECT_EQ(scales[1], 1.0f);
  EXPECT_FLOAT_EQ(scales[2], 0.01f);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], -64); // -63.5 -> -64 (ties to even)
  EXPECT_EQ(q[3], 0);
  EXPECT_EQ(q[6], 0);    // NaN
  EXPECT_EQ(q[7], 127);  // 1.27 / 0.01
  EXPECT_EQ(q[8], -127); // -Inf saturates to the symmetric range
}

TEST_F(RuntimeCpu, DynamicPerTensor) {
  float x[] = {1.0f, -4.0f, 2.0f, 0.5f};
  int8_t q[4];
  float scale = 0;
  QF_ASSERT_OK(qforge_rt_dynamic_quantize(ctx, QFORGE_F32, x, 2, 2,
                                          QFORGE_PER_TENSOR, q, &scale));
  EXPECT_FLOAT_EQ(scale, 4.0f / 127.0f);
  EXPECT_EQ(q[1], -127);
  EXPECT_EQ(q[0], 32); // 31.75 -> 32
}

/// Quantizing act(x) is quantizing the activated values: for every float
/// type, granularity and activation, the codes and scales equal those of
/// the f32 tensor act(widen(x)) quantized without an activation (GELU
/// moved out of a GEMM's epilogue into its output's quantization).
TEST_F(RuntimeCpu, DynamicQuantizeOfActivation) {
  const int64_t rows = 5, cols = 37;
  size_t n = size_t(rows * cols);
  auto values = randomFloats(rng, n, -6.0f, 6.0f);
  values[3] = NAN;
  values[40] = INFINITY;
  std::fill(values.begin() + 2 * cols, values.begin() + 3 * cols, -2.0f);
  for (qforge_dtype type : {QFORGE_F32, QFORGE_F16, QFORGE_BF16})
    for (qforge_activation act : {QFORGE_ACT_RELU, QFORGE_ACT_GELU})
      for (qforge_granularity g : {QFORGE_PER_TOKEN, QFORGE_PER_TENSOR}) {
        auto stored = encode(values, type);
        std::vector<float> activated(n);
        for (size_t i = 0; i < n; ++i)
          activated[i] = qforge::rt::activationValue(
              decodeAt(stored.data(), i, type), int(act));
        size_t scaleCount = g == QFORGE_PER_TOKEN ? size_t(rows) : 1;
        std::vector<int8_t> want(n), got(n);
        std::vector<float> wantScales(scaleCount), gotScales(scaleCount);
        QF_ASSERT_OK(qforge_rt_dynamic_quantize(
            ctx, QFORGE_F32, activated.data(), rows, cols, g, want.data(),
            wantScales.data()));
        QF_ASSERT_OK(qforge_rt_dynamic_quantize_act(
            ctx, type, stored.data(), rows, cols, g, act, got.data(),
            gotScales.data()));
        EXPECT_EQ(got, want) << "type " << type << " act " << act;
        EXPECT_EQ(gotScales, wantScales) << "type " << type << " act " << act;
      }
  // GELU of a row of -2 (GELU(-2) = -0.0455) is not a row of zeros: the
  // activation comes before the maximum.
  int8_t q[2];
  float x[] = {-2.0f, -2.0f}, scale = 0;
  QF_ASSERT_OK(qforge_rt_dynamic_quantize_act(
      ctx, QFORGE_F32, x, 1, 2, QFORGE_PER_TOKEN, QFORGE_ACT_GELU, q, &scale));
  EXPECT_EQ(q[0], -127);
  EXPECT_NEAR(scale, 0.0455f / 127.0f, 1e-6f);
  expectError(qforge_rt_dynamic_quantize_act(ctx, QFORGE_F32, x, 1, 2,
                                             QFORGE_PER_TOKEN,
                                             qforge_activation(7), q, &scale),
              QFORGE_ERR_INVALID_ARGUMENT, "activation 7 is invalid");
}

TEST_F(RuntimeCpu, DequantizeToEveryFloatType) {
  int8_t q[] = {-128, -1, 0, 1, 127};
  float f32[5];
  QF_ASSERT_OK(qforge_rt_dequantize(ctx, q, 5, 0.5f, 1, QFORGE_F32, f32));
  EXPECT_EQ(f32[0], -64.5f);
  EXPECT_EQ(f32[2], -0.5f);
  EXPECT_EQ(f32[4], 63.0f);
  uint16_t f16[5], bf16[5];
  QF_ASSERT_OK(qforge_rt_dequantize(ctx, q, 5, 0.5f, 1, QFORGE_F16, f16));
  QF_ASSERT_OK(qforge_rt_dequantize(ctx, q, 5, 0.5f, 1, QFORGE_BF16, bf16));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(qforge::rt::halfToFloat(f16[i]), f32[i]);
    EXPECT_EQ(qforge::rt::bf16ToFloat(bf16[i]), f32[i]);
  }
}

TEST_F(RuntimeCpu, DequantizePerAxis) {
  int8_t q[] = {2, 2, 2, 2};
  float scales[] = {0.5f, 2.0f};
  float out[4];
  QF_ASSERT_OK(qforge_rt_dequantize_per_axis(ctx, q, 2, 2, 1, scales, nullptr,
                                             QFORGE_F32, out));
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 4.0f);
  EXPECT_EQ(out[2], 1.0f);
  EXPECT_EQ(out[3], 4.0f);
}

TEST_F(RuntimeCpu, RequantizeAccumulatorToInt8) {
  int32_t acc[] = {1000, -1000, 50, 1000000};
  int8_t q[4];
  // 1000 * 0.001 / 0.1 = 10; 50 * 0.001 / 0.1 = 0.5 -> 0 (even), + zp 3.
  QF_ASSERT_OK(qforge_rt_requantize(ctx, QFORGE_I32, acc, 4, 0.001f, 0, 0.1f, 3,
                                    -128, 127, q));
  EXPECT_EQ(q[0], 13);
  EXPECT_EQ(q[1], -7);
  EXPECT_EQ(q[2], 3);
  EXPECT_EQ(q[3], 127);
}

struct GemmShape {
  int64_t batch, m, n, k;
  bool transposed, shared;
};

class RuntimeCpuGemm : public RuntimeCpu,
                       public ::testing::WithParamInterface<GemmShape> {};

TEST_P(RuntimeCpuGemm, AccumulatorMatchesInt64Reference) {
  GemmShape s = GetParam();
  auto lhs = randomInt8(rng, size_t(s.batch * s.m * s.k));
  auto rhs = randomInt8(rng, size_t((s.shared ? 1 : s.batch) * s.k * s.n));
  std::vector<int32_t> acc(size_t(s.batch * s.m * s.n), 0x5a5a5a5a);
  qforge_gemm_desc d{};
  d.batch = s.batch;
  d.m = s.m;
  d.n = s.n;
  d.k = s.k;
  d.rhs_transposed = s.transposed;
  d.rhs_shared = s.shared;
  d.lhs = lhs.data();
  d.rhs = rhs.data();
  d.out_dtype = QFORGE_I32;
  d.out = acc.data();
  QF_ASSERT_OK(qforge_rt_gemm(ctx, &d));
  auto expected =
      gemmReference64(lhs, rhs, s.batch, s.m, s.n, s.k, s.transposed, s.shared);
  for (size_t i = 0; i < acc.size(); ++i)
    ASSERT_EQ(int64_t(acc[i]), expected[i]) << "element " << i;
}

void PrintTo(const GemmShape &s, std::ostream *os) {
  *os << s.batch << "x" << s.m << "x" << s.n << "x" << s.k
      << (s.transposed ? " rhs NxK" : " rhs KxN")
      << (s.shared ? " shared" : "");
}

std::string gemmName(const ::testing::TestParamInfo<GemmShape> &info) {
  const GemmShape &s = info.param;
  return "b" + std::to_string(s.batch) + "_m" + std::to_string(s.m) + "_n" +
         std::to_string(s.n) + "_k" + std::to_string(s.k) +
         (s.transposed ? "_nk" : "_kn") + (s.shared ? "_shared" : "");
}

INSTANTIATE_TEST_SUITE_P(Shapes, RuntimeCpuGemm,
                         ::testing::Values(GemmShape{1, 1, 1, 1, false, false},
                                           GemmShape{1, 3, 5, 17, true, false},
                                           GemmShape{1, 17, 33, 127, false,
                                                     false},
                                           GemmShape{2, 5, 3, 33, true, false},
                                           GemmShape{3, 33, 17, 5, false, true},
                                           GemmShape{2, 127, 1, 3, true, true}),
                         gemmName);

TEST_F(RuntimeCpu, GemmExtremeProductsDoNotOverflow) {
  // K = 4096 products of (-128)*(-128): 67,108,864 fits i32 exactly.
  int64_t k = 4096;
  std::vector<int8_t> lhs(size_t(k), -128), rhs(size_t(k), -128);
  int32_t acc = 0;
  qforge_gemm_desc d{};
  d.batch = d.m = d.n = 1;
  d.k = k;
  d.rhs_transposed = 1;
  d.lhs = lhs.data();
  d.rhs = rhs.data();
  d.out_dtype = QFORGE_I32;
  d.out = &acc;
  QF_ASSERT_OK(qforge_rt_gemm(ctx, &d));
  EXPECT_EQ(acc, 4096 * 16384);
}

TEST_F(RuntimeCpu, GemmEpilogueAgainstDoubleReference) {
  int64_t batch = 2, m = 5, n = 7, k = 33;
  auto lhs = randomInt8(rng, size_t(batch * m * k));
  auto rhs = randomInt8(rng, size_t(n * k));
  auto lhsScale = randomFloats(rng, size_t(batch * m), 0.001f, 0.02f);
  auto rhsScale = randomFloats(rng, size_t(n), 0.001f, 0.02f);
  auto bias = randomFloats(rng, size_t(n), -1.0f, 1.0f);
  std::vector<float> out(static_cast<size_t>(batch * m * n));
  qforge_gemm_desc d{};
  d.batch = batch;
  d.m = m;
  d.n = n;
  d.k = k;
  d.rhs_transposed = 1;
  d.rhs_shared = 1;
  d.lhs = lhs.data();
  d.rhs = rhs.data();
  d.lhs_scale = lhsScale.data();
  d.lhs_scale_count = batch * m;
  d.rhs_scale = rhsScale.data();
  d.rhs_scale_count = n;
  d.bias = bias.data();
  d.bias_dtype = QFORGE_F32;
  d.activation = QFORGE_ACT_GELU;
  d.out_dtype = QFORGE_F32;
  d.out = out.data();
  QF_ASSERT_OK(qforge_rt_gemm(ctx, &d));
  auto acc = gemmReference64(lhs, rhs, batch, m, n, k, true, true);
  for (int64_t r = 0; r < batch * m; ++r)
    for (int64_t j = 0; j < n; ++j) {
      double y = double(acc[size_t(r * n + j)]) * lhsScale[size_t(r)] *
                     rhsScale[size_t(j)] +
                 bias[size_t(j)];
      double expected = 0.5 * y * (1.0 + std::erf(y / std::sqrt(2.0)));
      EXPECT_NEAR(out[size_t(r * n + j)], expected, 1e-5 * (1 + std::fabs(y)));
    }
}

TEST_F(RuntimeCpu, GemmRequantizedOutputWithIntBias) {
  // acc = 4*1 + 4*1 = 8; (8 + 2) * (0.5 * 0.5) = 2.5; relu; / 0.5 = 5, +1.
  int8_t lhs[] = {4, 4}, rhs[] = {1, 1};
  int32_t bias[] = {2};
  float ls = 0.5f, rs = 0.5f;
  int8_t out = 0;
  qforge_gemm_desc d{};
  d.batch = d.m = d.n = 1;
  d.k = 2;
  d.rhs_transposed = 1;
  d.lhs = lhs;
  d.rhs = rhs;
  d.lhs_scale = &ls;
  d.lhs_scale_count = 1;
  d.rhs_scale = &rs;
  d.rhs_scale_count = 1;
  d.bias = bias;
  d.bias_dtype = QFORGE_I32;
  d.activation = QFORGE_ACT_RELU;
  d.out_dtype = QFORGE_I8;
  d.out_scale = 0.5f;
  d.out_zero_point = 1;
  d.out = &out;
  QF_ASSERT_OK(qforge_rt_gemm(ctx, &d));
  EXPECT_EQ(out, 6);
}

TEST_F(RuntimeCpu, GemmRejectsBadRequests) {
  int8_t a[4] = {}, b[4] = {};
  int32_t out[4];
  float scale = 1.0f;
  qforge_gemm_desc d{};
  d.batch = 1;
  d.m = d.n = d.k = 2;
  d.lhs = a;
  d.rhs = b;
  d.out = out;
  d.out_dtype = QFORGE_I32;
  d.activation = QFORGE_ACT_RELU;
  expectError(qforge_rt_gemm(ctx, &d), QFORGE_ERR_INVALID_ARGUMENT,
              "raw accumulator");
  d.activation = QFORGE_ACT_NONE;
  d.k = QFORGE_MAX_GEMM_K + 1;
  expectError(qforge_rt_gemm(ctx, &d), QFORGE_ERR_UNSUPPORTED, "overflow");
  d.k = 2;
  d.m = 0;
  expectError(qforge_rt_gemm(ctx, &d), QFORGE_ERR_INVALID_ARGUMENT,
              "sizes must be >= 1");
  d.m = 2;
  d.out_dtype = QFORGE_F32;
  d.lhs_scale = &scale;
  d.lhs_scale_count = 3;
  expectError(qforge_rt_gemm(ctx, &d), QFORGE_ERR_INVALID_ARGUMENT,
              "lhs_scale_count");
  d.lhs_scale_count = 1;
  d.rhs_scale_count = 2;
  expectError(qforge_rt_gemm(ctx, &d), QFORGE_ERR_INVALID_ARGUMENT,
              "rhs_scale is null");
  d.rhs_scale_count = 0;
  d.out_dtype = QFORGE_I8;
  d.out_scale = 0.0f;
  expectError(qforge_rt_gemm(ctx, &d), QFORGE_ERR_INVALID_ARGUMENT,
              "out_scale must be finite and > 0");
  d.out_dtype = QFORGE_F32;
  d.bias = out;
  d.bias_dtype = QFORGE_F16;
  expectError(qforge_rt_gemm(ctx, &d), QFORGE_ERR_INVALID_ARGUMENT,
              "bias dtype must be i32 or f32");
  d.bias = nullptr;
  d.lhs = nullptr;
  expectError(qforge_rt_gemm(ctx, &d), QFORGE_ERR_INVALID_ARGUMENT,
              "gemm lhs is null");
  expectError(qforge_rt_gemm(ctx, nullptr), QFORGE_ERR_INVALID_ARGUMENT,
              "gemm descriptor is null");
  expectError(qforge_rt_gemm(nullptr, &d), QFORGE_ERR_INVALID_ARGUMENT,
              "context is null");
}

TEST_F(RuntimeCpu, QuantizeRejectsBadParameters) {
  float x[2] = {};
  int8_t q[2];
  expectError(qforge_rt_quantize(ctx, QFORGE_F32, x, 2, 0.0f, 0, -128, 127, q),
              QFORGE_ERR_INVALID_ARGUMENT, "scale must be finite and > 0");
  expectError(qforge_rt_quantize(ctx, QFORGE_F32, x, 2, NAN, 0, -128, 127, q),
              QFORGE_ERR_INVALID_ARGUMENT, "scale must be finite and > 0");
  expectError(
      qforge_rt_quantize(ctx, QFORGE_F32, x, 2, 1.0f, 200, -128, 127, q),
      QFORGE_ERR_INVALID_ARGUMENT, "zero point 200");
  expectError(qforge_rt_quantize(ctx, QFORGE_F32, x, 2, 1.0f, 0, -129, 127, q),
              QFORGE_ERR_INVALID_ARGUMENT, "storage range");
  expectError(qforge_rt_quantize(ctx, QFORGE_I8, x, 2, 1.0f, 0, -128, 127, q),
              QFORGE_ERR_INVALID_ARGUMENT, "must be f32, f16 or bf16");
  expectError(qforge_rt_quantize(ctx, QFORGE_F32, x, -1, 1.0f, 0, -128, 127, q),
              QFORGE_ERR_INVALID_ARGUMENT, "element count must be >= 0");
  expectError(qforge_rt_dynamic_quantize(ctx, QFORGE_F32, x, 0, 2,
                                         QFORGE_PER_TOKEN, q, x),
              QFORGE_ERR_INVALID_ARGUMENT, "rows >= 1");
  expectError(qforge_rt_requantize(ctx, QFORGE_F32, x, 2, 1.0f, 0, 1.0f, 0,
                                   -128, 127, q),
              QFORGE_ERR_INVALID_ARGUMENT, "must be i8 or i32");
  // Zero elements is a valid no-op, even with null pointers.
  EXPECT_EQ(qforge_rt_quantize(ctx, QFORGE_F32, nullptr, 0, 1.0f, 0, -128, 127,
                               nullptr),
            QFORGE_OK);
}

TEST(RuntimeEnv, DeviceOverride) {
  qforge_context *ctx = nullptr;
  setenv("QFORGE_DEVICE", "tpu", 1);
  EXPECT_EQ(qforge_rt_create(QFORGE_BACKEND_CPU, &ctx),
            QFORGE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(qforge_rt_last_error()).find("'tpu'"),
            std::string::npos);
  EXPECT_EQ(ctx, nullptr);
  setenv("QFORGE_DEVICE", "cpu", 1);
  ASSERT_EQ(qforge_rt_create(QFORGE_BACKEND_CUDA, &ctx), QFORGE_OK);
  EXPECT_EQ(qforge_rt_backend(ctx), QFORGE_BACKEND_CPU);
  qforge_rt_destroy(ctx);
  unsetenv("QFORGE_DEVICE");
}

TEST(RuntimeEnv, CudaWithoutDeviceIsAnError) {
  if (qforge_rt_cuda_available())
    GTEST_SKIP() << "a CUDA device is present";
  unsetenv("QFORGE_DEVICE");
  qforge_context *ctx = nullptr;
  EXPECT_NE(qforge_rt_create(QFORGE_BACKEND_CUDA, &ctx), QFORGE_OK);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_STRNE(qforge_rt_last_error(), "");
}

//===--- observers --------------------------------------------------------===//

struct Observer {
  qforge_observer *obs = nullptr;
  explicit Observer(int32_t bins) { qforge_rt_observer_create(bins, &obs); }
  ~Observer() { qforge_rt_observer_destroy(obs); }
  qforge_observer_stats stats() const {
    qforge_observer_stats s{};
    qforge_rt_observer_stats(obs, &s);
    return s;
  }
};

int64_t total(const qforge_observer_stats &s) {
  int64_t sum = 0;
  for (int32_t i = 0; i < s.num_bins; ++i)
    sum += s.histogram[i];
  return sum;
}

TEST_F(RuntimeCpu, ObserverKnownHistogram) {
  Observer o(8);
  float x[] = {-1.0f, -0.3f, 0.0f, 0.1f, 0.9f, 1.0f};
  QF_ASSERT_OK(qforge_rt_observe(ctx, o.obs, QFORGE_F32, x, 6));
  auto s = o.stats();
  EXPECT_EQ(s.min, -1.0);
  EXPECT_EQ(s.max, 1.0);
  EXPECT_EQ(s.range, 1.0);
  EXPECT_EQ(s.count, 6);
  int64_t expected[] = {1, 0, 1, 0, 2, 0, 0, 2};
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(s.histogram[i], expected[i]) << "bin " << i;
}

TEST_F(RuntimeCpu, ObserverRangeGrowsWithoutLosingCounts) {
  Observer o(8);
  float first[] = {-1.0f, -0.3f, 0.0f, 0.1f, 0.9f, 1.0f};
  QF_ASSERT_OK(qforge_rt_observe(ctx, o.obs, QFORGE_F32, first, 6));
  float second[] = {3.5f};
  QF_ASSERT_OK(qforge_rt_observe(ctx, o.obs, QFORGE_F32, second, 1));
  auto s = o.stats();
  EXPECT_EQ(s.range, 4.0); // doubled twice
  EXPECT_EQ(total(s), 7);
  // Range [-4, 4], width 1: -1 and -0.3 in bin 3, 0..1 in bin 4, 3.5 in 7.
  int64_t expected[] = {0, 0, 0, 2, 4, 0, 0, 1};
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(s.histogram[i], expected[i]) << "bin " << i;
}

TEST_F(RuntimeCpu, ObserverCountsNanAndInfApart) {
  Observer o(2048);
  float x[] = {NAN, INFINITY, -INFINITY, 2.0f, -3.0f};
  QF_ASSERT_OK(qforge_rt_observe(ctx, o.obs, QFORGE_F32, x, 5));
  auto s = o.stats();
  EXPECT_EQ(s.nan_count, 1);
  EXPECT_EQ(s.inf_count, 2);
  EXPECT_EQ(s.count, 2);
  EXPECT_EQ(s.min, -3.0);
  EXPECT_EQ(s.max, 2.0);
  EXPECT_EQ(total(s), 2);
}

TEST_F(RuntimeCpu, ObserverAllZeroThenData) {
  Observer o(8);
  float zeros[4] = {};
  QF_ASSERT_OK(qforge_rt_observe(ctx, o.obs, QFORGE_F32, zeros, 4));
  auto s = o.stats();
  EXPECT_EQ(s.range, 0.0);
  EXPECT_EQ(s.histogram[4], 4); // reported in the centre bin
  float data[] = {2.0f};
  QF_ASSERT_OK(qforge_rt_observe(ctx, o.obs, QFORGE_F32, data, 1));
  s = o.stats();
  EXPECT_EQ(s.range, 2.0);
  EXPECT_EQ(s.histogram[4], 4);
  EXPECT_EQ(s.histogram[7], 1);
  EXPECT_EQ(total(s), 5);
}

TEST(RuntimeObserver, RejectsBadBinCounts) {
  qforge_observer *obs = nullptr;
  EXPECT_EQ(qforge_rt_observer_create(6, &obs), QFORGE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qforge_rt_observer_create(2050, &obs), QFORGE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(obs, nullptr);
}

TEST_F(RuntimeCpu, TransferCountStaysZeroOnCpu) {
  float x = 1.0f, y = 0.0f;
  void *buffer = nullptr;
  QF_ASSERT_OK(qforge_rt_alloc(ctx, 4, &buffer));
  QF_ASSERT_OK(qforge_rt_copy_to_device(ctx, buffer, &x, 4));
  QF_ASSERT_OK(qforge_rt_copy_to_host(ctx, &y, buffer, 4));
  QF_ASSERT_OK(qforge_rt_free(ctx, buffer));
  EXPECT_EQ(y, 1.0f);
  int64_t h2d = -1, d2h = -1;
  QF_ASSERT_OK(qforge_rt_transfer_count(ctx, &h2d, &d2h));
  EXPECT_EQ(h2d, 0);
  EXPECT_EQ(d2h, 0);
}

} // namespace

namespace {

TEST(RuntimeModelAbi, RunsOnTheCurrentContextAndKeepsTheFirstFailure) {
  unsetenv("QFORGE_DEVICE");
  qforge_context *ctx = nullptr;
  ASSERT_EQ(qforge_rt_create(QFORGE_BACKEND_CPU, &ctx), QFORGE_OK);
  ASSERT_EQ(qforge_rt_set_current(ctx), QFORGE_OK);
  float x[2] = {0.25f, -1.0f};
  int8_t q[2] = {9, 9};
  auto address = [](const void *p) { return int64_t(intptr_t(p)); };
  qforge_rt_m_quantize(address(x), QFORGE_F32, 2, 0.5f, 0, -128, 127,
                       address(q));
  EXPECT_EQ(qforge_rt_model_status(), QFORGE_OK);
  EXPECT_EQ(q[0], 0); // 0.5 -> 0 (even)
  EXPECT_EQ(q[1], -2);
  // A bad call is recorded, and later calls do nothing.
  qforge_rt_m_quantize(address(x), QFORGE_F32, 2, -1.0f, 0, -128, 127,
                       address(q));
  EXPECT_EQ(qforge_rt_model_status(), QFORGE_ERR_INVALID_ARGUMENT);
  q[0] = 9;
  qforge_rt_m_quantize(address(x), QFORGE_F32, 2, 0.5f, 0, -128, 127,
                       address(q));
  EXPECT_EQ(q[0], 9);
  EXPECT_NE(std::string(qforge_rt_last_error()).find("scale"),
            std::string::npos);
  // set_current clears the failure.
  ASSERT_EQ(qforge_rt_set_current(ctx), QFORGE_OK);
  EXPECT_EQ(qforge_rt_model_status(), QFORGE_OK);
  ASSERT_EQ(qforge_rt_set_current(nullptr), QFORGE_OK);
  qforge_rt_m_dequantize(address(q), 2, 1.0f, 0, QFORGE_F32, address(x));
  EXPECT_EQ(qforge_rt_model_status(), QFORGE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(qforge_rt_last_error()).find("no current context"),
            std::string::npos);
  qforge_rt_destroy(ctx);
}

} // namespace

namespace {

TEST(RuntimeCalibration, ObserversByIdAreListedInIdOrder) {
  unsetenv("QFORGE_DEVICE");
  qforge_context *ctx = nullptr;
  ASSERT_EQ(qforge_rt_create(QFORGE_BACKEND_CPU, &ctx), QFORGE_OK);
  float a[] = {1.0f, -2.0f}, b[] = {0.5f, NAN};
  ASSERT_EQ(qforge_rt_observe_by_id(ctx, "z.rhs", QFORGE_F32, a, 2), QFORGE_OK);
  ASSERT_EQ(qforge_rt_observe_by_id(ctx, "a.lhs", QFORGE_F32, b, 2), QFORGE_OK);
  ASSERT_EQ(qforge_rt_observe_by_id(ctx, "z.rhs", QFORGE_F32, b, 2), QFORGE_OK);
  ASSERT_EQ(qforge_rt_calibration_size(ctx), 2);
  const char *id = nullptr;
  qforge_observer_stats stats{};
  ASSERT_EQ(qforge_rt_calibration_entry(ctx, 0, &id, &stats), QFORGE_OK);
  EXPECT_STREQ(id, "a.lhs");
  EXPECT_EQ(stats.count, 1);
  EXPECT_EQ(stats.nan_count, 1);
  EXPECT_EQ(stats.num_bins, 2048);
  ASSERT_EQ(qforge_rt_calibration_entry(ctx, 1, &id, &stats), QFORGE_OK);
  EXPECT_STREQ(id, "z.rhs");
  EXPECT_EQ(stats.count, 3);
  EXPECT_EQ(stats.min, -2.0);
  EXPECT_EQ(stats.max, 1.0);
  EXPECT_EQ(qforge_rt_calibration_entry(ctx, 2, &id, &stats),
            QFORGE_ERR_INVALID_ARGUMENT);
  qforge_rt_destroy(ctx);
}

} // namespace

namespace {

/// Four threads, each on its own context (on cuda: its own stream), run the
/// same sequence of calls as a serial run on fresh data: results must be
/// bitwise equal to the serial ones. Runs on every backend present.
TEST(RuntimeThreads, FourContextsMatchSerialRuns) {
  unsetenv("QFORGE_DEVICE");
  std::vector<qforge_backend> backends = {QFORGE_BACKEND_CPU};
  if (qforge_rt_cuda_available())
    backends.push_back(QFORGE_BACKEND_CUDA);
  std::mt19937 rng(99);
  const int64_t m = 33, n = 64, k = 256;
  struct Work {
    std::vector<float> x;
    std::vector<int8_t> w;
    std::vector<float> out;
  };
  std::vector<Work> work(4);
  for (Work &item : work) {
    item.x = randomFloats(rng, size_t(m * k));
    item.w = randomInt8(rng, size_t(n * k));
    item.out.assign(size_t(m * n), 0.0f);
  }
  // quantize x per token, then the GEMM with per-row x per-channel scales.
  auto run = [&](qforge_backend backend, Work &item) {
    qforge_context *ctx = nullptr;
    if (qforge_rt_create(backend, &ctx) != QFORGE_OK)
      return false;
    void *x = nullptr, *w = nullptr, *q = nullptr, *s = nullptr, *y = nullptr,
         *sw = nullptr;
    std::vector<float> weightScale(size_t(n), 0.01f);
    bool ok =
        qforge_rt_alloc(ctx, m * k * 4, &x) == QFORGE_OK &&
        qforge_rt_alloc(ctx, n * k, &w) == QFORGE_OK &&
        qforge_rt_alloc(ctx, m * k, &q) == QFORGE_OK &&
        qforge_rt_alloc(ctx, m * 4, &s) == QFORGE_OK &&
        qforge_rt_alloc(ctx, n * 4, &sw) == QFORGE_OK &&
        qforge_rt_alloc(ctx, m * n * 4, &y) == QFORGE_OK &&
        qforge_rt_copy_to_device(ctx, x, item.x.data(), m * k * 4) ==
            QFORGE_OK &&
        qforge_rt_copy_to_device(ctx, w, item.w.data(), n * k) == QFORGE_OK &&
        qforge_rt_copy_to_device(ctx, sw, weightScale.data(), n * 4) ==
            QFORGE_OK;
    for (int repeat = 0; ok && repeat < 20; ++repeat) {
      ok = qforge_rt_dynamic_quantize(
               ctx, QFORGE_F32, x, m, k, QFORGE_PER_TOKEN,
               static_cast<int8_t *>(q), static_cast<float *>(s)) == QFORGE_OK;
      qforge_gemm_desc d{};
      d.batch = 1;
      d.m = m;
      d.n = n;
      d.k = k;
      d.rhs_transposed = 1;
      d.lhs = static_cast<int8_t *>(q);
      d.rhs = static_cast<int8_t *>(w);
      d.lhs_scale = static_cast<float *>(s);
      d.lhs_scale_count = m;
      d.rhs_scale = static_cast<float *>(sw);
      d.rhs_scale_count = n;
      d.activation = QFORGE_ACT_GELU;
      d.out_dtype = QFORGE_F32;
      d.out = y;
      ok = ok && qforge_rt_gemm(ctx, &d) == QFORGE_OK;
    }
    ok = ok && qforge_rt_copy_to_host(ctx, item.out.data(), y, m * n * 4) ==
                   QFORGE_OK;
    for (void *p : {x, w, q, s, y, sw})
      qforge_rt_free(ctx, p);
    qforge_rt_destroy(ctx);
    return ok;
  };
  for (qforge_backend backend : backends) {
    std::vector<std::vector<float>> serial;
    for (Work &item : work) {
      ASSERT_TRUE(run(backend, item)) << qforge_rt_last_error();
      serial.push_back(item.out);
      std::fill(item.out.begin(), item.out.end(), 0.0f);
    }
    std::vector<std::thread> threads;
    std::vector<int> ok(work.size(), 0);
    for (size_t t = 0; t < work.size(); ++t)
      threads.emplace_back([&, t] { ok[t] = run(backend, work[t]); });
    for (std::thread &thread : threads)
      thread.join();
    for (size_t t = 0; t < work.size(); ++t) {
      ASSERT_TRUE(ok[t]) << "thread " << t;
      EXPECT_EQ(std::memcmp(work[t].out.data(), serial[t].data(),
                            serial[t].size() * 4),
                0)
          << "backend " << backend << " thread " << t;
    }
  }
}

} // namespace

namespace {

/// The float GEMM against a double-precision reference, every layout.
TEST(RuntimeFloatGemm, MatchesDoubleReference) {
  Context cpu(QFORGE_BACKEND_CPU);
  ASSERT_TRUE(cpu.ctx);
  std::mt19937 rng(77);
  for (int transposed = 0; transposed < 2; ++transposed) {
    for (int shared = 0; shared < 2; ++shared) {
      int64_t batch = 3, m = 5, n = 7, k = 33;
      auto lhs = randomFloats(rng, size_t(batch * m * k));
      auto rhs = randomFloats(rng, size_t((shared ? 1 : batch) * k * n));
      auto bias = randomFloats(rng, size_t(n));
      std::vector<float> out(size_t(batch * m * n), NAN);
      qforge_float_gemm_desc d{};
      d.batch = batch;
      d.m = m;
      d.n = n;
      d.k = k;
      d.rhs_transposed = transposed;
      d.rhs_shared = shared;
      d.dtype = QFORGE_F32;
      d.lhs = lhs.data();
      d.rhs = rhs.data();
      d.bias = bias.data();
      d.activation = QFORGE_ACT_RELU;
      d.out = out.data();
      QF_ASSERT_OK(qforge_rt_gemm_float(cpu, &d));
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double acc = bias[size_t(j)];
            for (int64_t p = 0; p < k; ++p) {
              size_t r = size_t((shared ? 0 : b * k * n) +
                                (transposed ? j * k + p : p * n + j));
              acc += double(lhs[size_t((b * m + i) * k + p)]) * rhs[r];
            }
            acc = acc > 0 ? acc : 0;
            EXPECT_NEAR(out[size_t((b * m + i) * n + j)], acc, 1e-4)
                << "b" << b << " i" << i << " j" << j << " t" << transposed;
          }
    }
  }
}

TEST(RuntimeFloatGemm, RejectsBadRequests) {
  Context cpu(QFORGE_BACKEND_CPU);
  float a[4] = {1, 2, 3, 4}, out[4];
  qforge_float_gemm_desc d{};
  d.batch = 1;
  d.m = d.n = d.k = 2;
  d.dtype = QFORGE_I8;
  d.lhs = a;
  d.rhs = a;
  d.out = out;
  EXPECT_EQ(qforge_rt_gemm_float(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
  d.dtype = QFORGE_F16;
  d.allow_tf32 = 1;
  EXPECT_EQ(qforge_rt_gemm_float(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(qforge_rt_last_error()).find("allow_tf32"),
            std::string::npos);
  d.dtype = QFORGE_F32;
  d.allow_tf32 = 0;
  d.k = 0;
  EXPECT_EQ(qforge_rt_gemm_float(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
}

} // namespace

namespace {

/// A requantized (i8) GEMM output honours the storage range: a narrow
/// [-127, 127] type never gets -128, the default (0, 0) is [-128, 127].
TEST(RuntimeGemmRange, RequantizedOutputUsesTheStorageRange) {
  Context cpu(QFORGE_BACKEND_CPU);
  int8_t lhs[2] = {-128, -128}, rhs[2] = {127, 127};
  int8_t out = 0;
  qforge_gemm_desc d{};
  d.batch = 1;
  d.m = 1;
  d.n = 1;
  d.k = 2;
  d.lhs = lhs;
  d.rhs = rhs;
  d.out_dtype = QFORGE_I8;
  d.out_scale = 1.0f; // -32512: saturates
  d.out = &out;
  QF_ASSERT_OK(qforge_rt_gemm(cpu, &d));
  EXPECT_EQ(out, -128);
  d.out_qmin = -127;
  d.out_qmax = 127;
  QF_ASSERT_OK(qforge_rt_gemm(cpu, &d));
  EXPECT_EQ(out, -127);
  d.out_qmin = 5;
  d.out_qmax = 3;
  EXPECT_EQ(qforge_rt_gemm(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
}

} // namespace
