//===- runtime_cuda_test.cpp - the CUDA backend against the CPU reference -===//
//
// Every test runs the same call on both backends with fresh random data and
// compares: integer and quantized results bit for bit; float results too,
// since both backends evaluate numerics.h in the same order (a looser check
// would hide a divergence). Skipped cleanly when no CUDA device is present.
//
//===----------------------------------------------------------------------===//

#include "numerics.h"
#include "test_util.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#if QFORGE_RT_HAS_CUDA
#include <cuda_runtime.h>
#endif

using namespace qforge::test;

namespace {

/// The CUDA backend against the CPU reference (test_util.h's fixture).
class RuntimeCuda : public CpuAndCuda {
protected:
  /// A device buffer of n elements filled with a poison byte pattern, so an
  /// element the kernel fails to write cannot match the reference.
  template <typename T> T *poisoned(size_t n) {
    return upload(std::vector<T>(n, poisonValue<T>()));
  }
  template <typename T> static T poisonValue() {
    T value;
    std::memset(&value, 0x5b, sizeof value);
    return value;
  }
  template <typename T> std::vector<T> download(const T *p, size_t n) {
    std::vector<T> host(n);
    EXPECT_EQ(
        qforge_rt_copy_to_host(gpu, host.data(), p, int64_t(n * sizeof(T))),
        QFORGE_OK);
    return host;
  }
};

/// Random floats with some exact ties (x.5 * scale), zeros, NaN and +-Inf.
std::vector<float> awkwardFloats(std::mt19937 &rng, size_t n, float scale) {
  auto v = randomFloats(rng, n, -200.0f * scale, 200.0f * scale);
  for (size_t i = 0; i < n; i += 7)
    v[i] = (float(int(i % 61) - 30) + 0.5f) * scale; // a rounding tie
  if (n > 10) {
    v[1] = 0.0f;
    v[3] = NAN;
    v[5] = INFINITY;
    v[9] = -INFINITY;
  }
  return v;
}

const qforge_dtype kFloatTypes[] = {QFORGE_F32, QFORGE_F16, QFORGE_BF16};
const int64_t kOddSizes[] = {1, 3, 5, 17, 33, 127, 4099};

TEST_F(RuntimeCuda, QuantizeMatchesCpu) {
  for (qforge_dtype type : kFloatTypes)
    for (int64_t n : kOddSizes) {
      auto host = encode(awkwardFloats(rng, size_t(n), 0.05f), type);
      std::vector<int8_t> expected(static_cast<size_t>(n));
      ASSERT_EQ(qforge_rt_quantize(cpu, type, host.data(), n, 0.05f, -3, -128,
                                   127, expected.data()),
                QFORGE_OK);
      // Offsetting by one element exercises the unaligned (scalar) path.
      for (int offset : {0, 1}) {
        if (offset >= n)
          continue;
        auto *in = upload(host);
        int8_t *out = poisoned<int8_t>(size_t(n));
        size_t width = host.size() / size_t(n);
        ASSERT_EQ(qforge_rt_quantize(gpu, type, in + offset * width, n - offset,
                                     0.05f, -3, -128, 127, out + offset),
                  QFORGE_OK)
            << qforge_rt_last_error();
        auto got = download(out, size_t(n));
        for (int64_t i = offset; i < n; ++i)
          ASSERT_EQ(got[size_t(i)], expected[size_t(i)])
              << "type " << type << " n " << n << " i " << i;
      }
    }
}

TEST_F(RuntimeCuda, QuantizeEveryHalfEncoding) {
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i)
    all[i] = uint16_t(i);
  std::vector<int8_t> expected(all.size());
  for (float scale : {1.0f, 0.01f, 300.0f}) {
    ASSERT_EQ(qforge_rt_quantize(cpu, QFORGE_F16, all.data(), 65536, scale, 0,
                                 -128, 127, expected.data()),
              QFORGE_OK);
    int8_t *out = poisoned<int8_t>(all.size());
    ASSERT_EQ(qforge_rt_quantize(gpu, QFORGE_F16, upload(all), 65536, scale, 0,
                                 -128, 127, out),
              QFORGE_OK);
    EXPECT_EQ(download(out, all.size()), expected) << "scale " << scale;
  }
}

TEST_F(RuntimeCuda, QuantizePerAxisMatchesCpu) {
  for (qforge_dtype type : kFloatTypes) {
    int64_t outer = 3, channels = 17, inner = 5, n = outer * channels * inner;
    auto host = encode(awkwardFloats(rng, size_t(n), 0.1f), type);
    auto scales = randomFloats(rng, size_t(channels), 0.01f, 0.5f);
    std::vector<int32_t> zeroPoints(static_cast<size_t>(channels));
    for (size_t c = 0; c < zeroPoints.size(); ++c)
      zeroPoints[c] = int32_t(c % 7) - 3;
    std::vector<int8_t> expected(static_cast<size_t>(n));
    ASSERT_EQ(qforge_rt_quantize_per_axis(
                  cpu, type, host.data(), outer, channels, inner, scales.data(),
                  zeroPoints.data(), -127, 127, expected.data()),
              QFORGE_OK);
    int8_t *out = poisoned<int8_t>(size_t(n));
    ASSERT_EQ(qforge_rt_quantize_per_axis(gpu, type, upload(host), outer,
                                          channels, inner, upload(scales),
                                          upload(zeroPoints), -127, 127, out),
              QFORGE_OK)
        << qforge_rt_last_error();
    EXPECT_EQ(download(out, size_t(n)), expected);
  }
}

TEST_F(RuntimeCuda, DynamicQuantizeMatchesCpu) {
  struct Shape {
    int64_t rows, cols;
  };
  for (qforge_activation act :
       {QFORGE_ACT_NONE, QFORGE_ACT_RELU, QFORGE_ACT_GELU})
    for (qforge_dtype type : kFloatTypes)
      // Scalar rows (odd cols), and the register kernel at 1, 2 and 4 packs
      // per thread (16, 2048, 4096) up to 1024 threads (32768), and the
      // two-pass kernel past 4096 packs (40000, 70000, 140000); with an
      // activation, its own register kernel at 4 packs per thread (16384:
      // the MLP's GELU output at hidden 4096) and 8 (20000, 32768), and the
      // two-pass kernel past 4096 packs.
      for (Shape s :
           {Shape{1, 1}, Shape{3, 5}, Shape{17, 33}, Shape{4, 16},
            Shape{3, 2048}, Shape{5, 4096}, Shape{33, 127}, Shape{2, 8200},
            Shape{3, 16384}, Shape{3, 20000}, Shape{2, 32768}, Shape{2, 40000},
            Shape{1, 70000}, Shape{1, 140000}})
        for (qforge_granularity g : {QFORGE_PER_TOKEN, QFORGE_PER_TENSOR}) {
          size_t n = size_t(s.rows * s.cols);
          auto values = awkwardFloats(rng, n, 0.02f);
          if (s.rows > 2) // an all-zero row: scale 1
            std::fill(values.begin() + s.cols, values.begin() + 2 * s.cols,
                      0.0f);
          auto host = encode(values, type);
          size_t scaleCount = g == QFORGE_PER_TOKEN ? size_t(s.rows) : 1;
          std::vector<int8_t> expected(n);
          std::vector<float> expectedScales(scaleCount);
          ASSERT_EQ(qforge_rt_dynamic_quantize_act(
                        cpu, type, host.data(), s.rows, s.cols, g, act,
                        expected.data(), expectedScales.data()),
                    QFORGE_OK);
          int8_t *out = poisoned<int8_t>(n);
          float *scales = poisoned<float>(scaleCount);
          ASSERT_EQ(qforge_rt_dynamic_quantize_act(gpu, type, upload(host),
                                                   s.rows, s.cols, g, act, out,
                                                   scales),
                    QFORGE_OK)
              << qforge_rt_last_error();
          EXPECT_EQ(download(out, n), expected)
              << "type " << type << " " << s.rows << "x" << s.cols << " g " << g
              << " act " << act;
          auto gotScales = download(scales, scaleCount);
          for (size_t i = 0; i < scaleCount; ++i)
            ASSERT_EQ(qforge::rt::floatToBits(gotScales[i]),
                      qforge::rt::floatToBits(expectedScales[i]));
        }
}

TEST_F(RuntimeCuda, DequantizeAndRequantizeMatchCpu) {
  for (int64_t n : kOddSizes) {
    auto q = randomInt8(rng, size_t(n));
    for (qforge_dtype type : kFloatTypes) {
      size_t width = type == QFORGE_F32 ? 4 : 2;
      std::vector<uint8_t> expected(size_t(n) * width);
      ASSERT_EQ(qforge_rt_dequantize(cpu, q.data(), n, 0.0371f, 5, type,
                                     expected.data()),
                QFORGE_OK);
      uint8_t *out = poisoned<uint8_t>(expected.size());
      ASSERT_EQ(qforge_rt_dequantize(gpu, upload(q), n, 0.0371f, 5, type, out),
                QFORGE_OK);
      EXPECT_EQ(download(out, expected.size()), expected);
    }
    std::vector<int32_t> acc(static_cast<size_t>(n));
    std::uniform_int_distribution<int32_t> dist(-200000, 200000);
    for (int32_t &a : acc)
      a = dist(rng);
    std::vector<int8_t> expected(static_cast<size_t>(n));
    ASSERT_EQ(qforge_rt_requantize(cpu, QFORGE_I32, acc.data(), n, 0.00123f, 0,
                                   0.77f, -2, -128, 127, expected.data()),
              QFORGE_OK);
    int8_t *out = poisoned<int8_t>(size_t(n));
    ASSERT_EQ(qforge_rt_requantize(gpu, QFORGE_I32, upload(acc), n, 0.00123f, 0,
                                   0.77f, -2, -128, 127, out),
              QFORGE_OK);
    EXPECT_EQ(download(out, size_t(n)), expected);
  }
}

struct GemmCase {
  int64_t batch, m, n, k;
  bool transposed, shared;
};

class RuntimeCudaGemm : public RuntimeCuda,
                        public ::testing::WithParamInterface<GemmCase> {};

TEST_P(RuntimeCudaGemm, EveryEpilogueMatchesCpu) {
  GemmCase c = GetParam();
  auto lhs = randomInt8(rng, size_t(c.batch * c.m * c.k));
  auto rhs = randomInt8(rng, size_t((c.shared ? 1 : c.batch) * c.k * c.n));
  auto lhsScale = randomFloats(rng, size_t(c.batch * c.m), 1e-4f, 2e-2f);
  auto rhsScale = randomFloats(rng, size_t(c.n), 1e-4f, 2e-2f);
  auto biasF = randomFloats(rng, size_t(c.n), -2.0f, 2.0f);
  std::vector<int32_t> biasI(static_cast<size_t>(c.n));
  for (size_t i = 0; i < biasI.size(); ++i)
    biasI[i] = int32_t(i * 37 % 2001) - 1000;

  int8_t *dLhs = upload(lhs), *dRhs = upload(rhs);
  float *dLhsScale = upload(lhsScale), *dRhsScale = upload(rhsScale);
  float *dBiasF = upload(biasF);
  int32_t *dBiasI = upload(biasI);
  size_t outCount = size_t(c.batch * c.m * c.n);

  qforge_gemm_desc base{};
  base.batch = c.batch;
  base.m = c.m;
  base.n = c.n;
  base.k = c.k;
  base.rhs_transposed = c.transposed;
  base.rhs_shared = c.shared;

  struct Variant {
    qforge_dtype out;
    qforge_activation act;
    bool intBias;
    int lhsScales; // 0, 1 or per row
  };
  for (Variant v : {Variant{QFORGE_I32, QFORGE_ACT_NONE, false, 0},
                    Variant{QFORGE_F32, QFORGE_ACT_NONE, false, 2},
                    Variant{QFORGE_F16, QFORGE_ACT_RELU, true, 2},
                    Variant{QFORGE_BF16, QFORGE_ACT_GELU, false, 1},
                    Variant{QFORGE_I8, QFORGE_ACT_GELU, true, 2},
                    Variant{QFORGE_I8, QFORGE_ACT_NONE, false, 1}}) {
    qforge_gemm_desc d = base;
    d.out_dtype = v.out;
    bool epilogue = v.out != QFORGE_I32;
    if (epilogue) {
      d.lhs_scale_count = v.lhsScales == 2 ? c.batch * c.m : v.lhsScales;
      d.rhs_scale_count = c.n;
      d.bias_dtype = v.intBias ? QFORGE_I32 : QFORGE_F32;
      d.activation = v.act;
      d.out_scale = 0.05f;
      d.out_zero_point = 3;
    }
    size_t width = v.out == QFORGE_I8                              ? 1
                   : (v.out == QFORGE_F16 || v.out == QFORGE_BF16) ? 2
                                                                   : 4;
    std::vector<uint8_t> expected(outCount * width);
    qforge_gemm_desc h = d;
    h.lhs = lhs.data();
    h.rhs = rhs.data();
    if (epilogue) {
      h.lhs_scale = v.lhsScales ? lhsScale.data() : nullptr;
      h.rhs_scale = rhsScale.data();
      h.bias = v.intBias ? static_cast<const void *>(biasI.data())
                         : static_cast<const void *>(biasF.data());
    }
    h.out = expected.data();
    ASSERT_EQ(qforge_rt_gemm(cpu, &h), QFORGE_OK) << qforge_rt_last_error();

    d.lhs = dLhs;
    d.rhs = dRhs;
    if (epilogue) {
      d.lhs_scale = v.lhsScales ? dLhsScale : nullptr;
      d.rhs_scale = dRhsScale;
      d.bias = v.intBias ? static_cast<const void *>(dBiasI)
                         : static_cast<const void *>(dBiasF);
    }
    uint8_t *out = poisoned<uint8_t>(expected.size());
    d.out = out;
    ASSERT_EQ(qforge_rt_gemm(gpu, &d), QFORGE_OK) << qforge_rt_last_error();
    auto got = download(out, expected.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < got.size(); ++i)
      mismatches += got[i] != expected[i];
    EXPECT_EQ(mismatches, 0u) << "out dtype " << v.out << " act " << v.act;
  }
}

void PrintTo(const GemmCase &s, std::ostream *os) {
  *os << s.batch << "x" << s.m << "x" << s.n << "x" << s.k
      << (s.transposed ? " rhs NxK" : " rhs KxN")
      << (s.shared ? " shared" : "");
}

std::string gemmName(const ::testing::TestParamInfo<GemmCase> &info) {
  const GemmCase &s = info.param;
  return "b" + std::to_string(s.batch) + "_m" + std::to_string(s.m) + "_n" +
         std::to_string(s.n) + "_k" + std::to_string(s.k) +
         (s.transposed ? "_nk" : "_kn") + (s.shared ? "_shared" : "");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RuntimeCudaGemm,
    ::testing::Values(
        // cuBLASLt path (K, N multiples of 4)
        GemmCase{1, 256, 512, 1024, true, false},
        GemmCase{1, 64, 96, 128, false, false},
        GemmCase{3, 17, 64, 256, true, false},
        GemmCase{4, 33, 128, 64, true, true},
        GemmCase{2, 5, 32, 4096, false, false},
        // small-M kernel with the fused epilogue (M <= 4, K % 16 == 0)
        GemmCase{1, 1, 4096, 4096, true, false},
        GemmCase{2, 3, 40, 1040, true, false},
        GemmCase{1, 4, 100, 2064, false, true},
        GemmCase{2, 2, 36, 64, true, true},
        // cuBLASLt just above the small-M limit
        GemmCase{3, 16, 48, 1040, true, false},
        GemmCase{4, 4, 100, 64, true, true},
        GemmCase{1, 7, 36, 528, false, false},
        // Hopper kernel on sm_90 (K % 16 == 0, N % 8 == 0): tails of M, N
        // and K past the 128 x 256 x 128 blocks, a K x N rhs, a shared rhs
        GemmCase{1, 300, 264, 400, true, false},
        GemmCase{1, 129, 520, 1040, false, false},
        GemmCase{2, 200, 776, 272, true, true},
        GemmCase{1, 520, 1032, 2064, true, false},
        GemmCase{1, 5, 8, 16, true, false},
        // fallback kernel (odd K or N)
        GemmCase{1, 1, 1, 1, true, false}, GemmCase{1, 3, 5, 17, false, false},
        GemmCase{2, 33, 127, 5, true, true},
        GemmCase{1, 127, 33, 3, false, false}),
    gemmName);

TEST_F(RuntimeCuda, GemmWithMisalignedOperandsMatchesCpu) {
  int64_t m = 16, n = 32, k = 64;
  auto lhs = randomInt8(rng, size_t(m * k + 1));
  auto rhs = randomInt8(rng, size_t(n * k + 1));
  qforge_gemm_desc d{};
  d.batch = 1;
  d.m = m;
  d.n = n;
  d.k = k;
  d.rhs_transposed = 1;
  d.out_dtype = QFORGE_I32;
  std::vector<int32_t> expected(static_cast<size_t>(m * n));
  d.lhs = lhs.data() + 1;
  d.rhs = rhs.data() + 1;
  d.out = expected.data();
  ASSERT_EQ(qforge_rt_gemm(cpu, &d), QFORGE_OK);
  d.lhs = upload(lhs) + 1; // 1-byte aligned: cuBLASLt refuses, fallback runs
  d.rhs = upload(rhs) + 1;
  int32_t *out = poisoned<int32_t>(size_t(m * n));
  d.out = out;
  ASSERT_EQ(qforge_rt_gemm(gpu, &d), QFORGE_OK) << qforge_rt_last_error();
  EXPECT_EQ(download(out, size_t(m * n)), expected);
}

/// A CUDA context created with QFORGE_CUDA_INT8_GEMM=mode,
/// QFORGE_CUDA_INT8_GEMM_GRID=grid and QFORGE_CUDA_INT8_GEMM_STORE=store
/// (null when the mode cannot run here; `error` says why).
qforge_context *contextWithGemmKernels(const char *mode, std::string &error,
                                       const char *grid = "persistent",
                                       const char *store = "auto") {
  setenv("QFORGE_CUDA_INT8_GEMM_GRID", grid, 1);
  setenv("QFORGE_CUDA_INT8_GEMM_STORE", store, 1);
  qforge_context *ctx =
      cudaContextWithEnv("QFORGE_CUDA_INT8_GEMM", mode, error);
  unsetenv("QFORGE_CUDA_INT8_GEMM_GRID");
  unsetenv("QFORGE_CUDA_INT8_GEMM_STORE");
  return ctx;
}

TEST_F(RuntimeCuda, Int8GemmKernelChoiceIsChecked) {
  std::string error;
  EXPECT_EQ(contextWithGemmKernels("fastest", error), nullptr);
  EXPECT_NE(error.find(
                "expected auto, cublaslt, hopper128, hopper256 or hopper256x2"),
            std::string::npos)
      << error;
  EXPECT_EQ(contextWithGemmKernels("auto", error, "waves"), nullptr);
  EXPECT_NE(error.find("QFORGE_CUDA_INT8_GEMM_GRID is 'waves'; expected "
                       "persistent or tiles"),
            std::string::npos)
      << error;
  EXPECT_EQ(contextWithGemmKernels("auto", error, "persistent", "tma"),
            nullptr);
  EXPECT_NE(error.find("QFORGE_CUDA_INT8_GEMM_STORE is 'tma'; expected "
                       "auto, staged or direct"),
            std::string::npos)
      << error;
}

/// The Hopper kernel (both block widths, clusters of two, persistent and
/// one block per output block) against cuBLASLt + the epilogue pass at
/// transformer sizes, where the CPU reference would be slow: the same
/// accumulators through the same epilogue arithmetic, so bit for bit. The
/// persistent blocks take several output blocks each at the larger shapes (more
/// output blocks than 132 SMs hold), carrying the pipeline's stages from
/// one to the next; odd row-block counts (777, 1000 -> 7 and 8 blocks, 129
/// -> 2) and N not a multiple of 256 (3080, 1032, 520, 264) give clusters
/// a partner past the last row or a W half past the last column; 2-byte
/// outputs both 16-byte aligned and not (the 128 x 256 epilogue's staged
/// stores through the copy engine, whose boxes the edges clip, or with
/// `direct` its 16-byte stores; 4-byte stores where unaligned).
TEST_F(RuntimeCuda, HopperGemmMatchesCublasLtBitForBit) {
  std::string error;
  qforge_context *reference = contextWithGemmKernels("cublaslt", error);
  ASSERT_NE(reference, nullptr) << error;
  struct Shape {
    int64_t m, n, k;
    qforge_dtype out;
    qforge_activation act;
    bool intBias; // an i32 bias (static quantization) instead of f32
  };
  struct Kernel {
    const char *mode, *grid, *store;
  };
  for (Kernel kernel : {Kernel{"hopper128", "persistent", "staged"},
                        Kernel{"hopper256", "persistent", "staged"},
                        Kernel{"hopper256", "persistent", "direct"},
                        Kernel{"hopper256", "tiles", "staged"},
                        Kernel{"hopper256x2", "persistent", "staged"},
                        Kernel{"hopper256x2", "persistent", "direct"},
                        Kernel{"hopper256x2", "tiles", "direct"}}) {
    const char *mode = kernel.mode;
    qforge_context *hopper =
        contextWithGemmKernels(mode, error, kernel.grid, kernel.store);
    if (!hopper) {
      qforge_rt_destroy(reference);
      ASSERT_FALSE(deviceIsHopper()) << error;
      GTEST_SKIP() << error;
    }
    for (Shape shape :
         {Shape{2048, 4096, 4096, QFORGE_F16, QFORGE_ACT_NONE, false},
          Shape{777, 3080, 1552, QFORGE_BF16, QFORGE_ACT_GELU, false},
          Shape{1000, 1024, 4096, QFORGE_I8, QFORGE_ACT_RELU, false},
          Shape{64, 16384, 1024, QFORGE_F32, QFORGE_ACT_GELU, false},
          Shape{300, 520, 2064, QFORGE_F16, QFORGE_ACT_RELU, true},
          Shape{1000, 1032, 1040, QFORGE_I8, QFORGE_ACT_GELU, true},
          Shape{129, 264, 400, QFORGE_BF16, QFORGE_ACT_NONE, true}}) {
      auto lhs = randomInt8(rng, size_t(shape.m * shape.k));
      auto rhs = randomInt8(rng, size_t(shape.n * shape.k));
      auto lhsScale = randomFloats(rng, size_t(shape.m), 1e-4f, 2e-2f);
      auto rhsScale = randomFloats(rng, size_t(shape.n), 1e-4f, 2e-2f);
      auto bias = randomFloats(rng, size_t(shape.n), -2.0f, 2.0f);
      std::vector<int32_t> intBias(size_t(shape.n));
      for (int32_t &b : intBias)
        b = int32_t(rng() % 200001) - 100000;
      qforge_gemm_desc d{};
      d.batch = 1;
      d.m = shape.m;
      d.n = shape.n;
      d.k = shape.k;
      d.rhs_transposed = 1;
      d.lhs = upload(lhs);
      d.rhs = upload(rhs);
      d.lhs_scale = upload(lhsScale);
      d.lhs_scale_count = shape.m;
      d.rhs_scale = upload(rhsScale);
      d.rhs_scale_count = shape.n;
      d.bias = shape.intBias ? static_cast<const void *>(upload(intBias))
                             : static_cast<const void *>(upload(bias));
      d.bias_dtype = shape.intBias ? QFORGE_I32 : QFORGE_F32;
      d.activation = shape.act;
      d.out_dtype = shape.out;
      d.out_scale = 0.05f;
      size_t bytes =
          size_t(shape.m * shape.n) * (shape.out == QFORGE_I8    ? 1
                                       : shape.out == QFORGE_F32 ? 4
                                                                 : 2);
      uint8_t *expected = poisoned<uint8_t>(bytes);
      d.out = expected;
      ASSERT_EQ(qforge_rt_gemm(reference, &d), QFORGE_OK)
          << qforge_rt_last_error();
      ASSERT_EQ(qforge_rt_synchronize(reference), QFORGE_OK);
      auto want = download(expected, bytes);
      // A 2-byte output 16-byte aligned takes the 128 x 256 epilogue's
      // staged (or 16-byte) stores; 4 bytes past a boundary, 4-byte ones.
      bool twoBytes = shape.out == QFORGE_F16 || shape.out == QFORGE_BF16;
      for (size_t shift : {size_t(0), size_t(4)}) {
        if (shift && !twoBytes)
          continue;
        uint8_t *got = poisoned<uint8_t>(bytes + 16) + shift;
        d.out = got;
        ASSERT_EQ(qforge_rt_gemm(hopper, &d), QFORGE_OK)
            << qforge_rt_last_error();
        ASSERT_EQ(qforge_rt_synchronize(hopper), QFORGE_OK);
        auto have = download(got, bytes);
        size_t mismatches = 0;
        for (size_t i = 0; i < bytes; ++i)
          mismatches += want[i] != have[i];
        EXPECT_EQ(mismatches, 0u)
            << mode << " (" << kernel.grid << ", " << kernel.store
            << ", output shifted " << shift << ") " << shape.m << "x" << shape.n
            << "x" << shape.k;
      }
    }
    qforge_rt_destroy(hopper);
  }
  qforge_rt_destroy(reference);
}

TEST_F(RuntimeCuda, ConstantsUploadOnceAndCountTransfers) {
  auto weight = randomInt8(rng, 64 * 32);
  int64_t h2d0 = 0, d2h0 = 0;
  ASSERT_EQ(qforge_rt_transfer_count(gpu, &h2d0, &d2h0), QFORGE_OK);
  const void *first = nullptr, *second = nullptr;
  ASSERT_EQ(qforge_rt_constant(gpu, weight.data(), 64 * 32, &first), QFORGE_OK);
  ASSERT_EQ(qforge_rt_constant(gpu, weight.data(), 64 * 32, &second),
            QFORGE_OK);
  EXPECT_EQ(first, second);
  int64_t h2d = 0, d2h = 0;
  ASSERT_EQ(qforge_rt_transfer_count(gpu, &h2d, &d2h), QFORGE_OK);
  EXPECT_EQ(h2d - h2d0, 1);
  EXPECT_EQ(d2h - d2h0, 0);
  EXPECT_EQ(qforge_rt_constant(gpu, weight.data(), 10, &second),
            QFORGE_ERR_INVALID_ARGUMENT);

  // A constant K x N weight is transposed once and reused: results stay
  // right on the second call.
  auto lhs = randomInt8(rng, 8 * 64);
  qforge_gemm_desc d{};
  d.batch = 1;
  d.m = 8;
  d.n = 32;
  d.k = 64;
  d.rhs_transposed = 0;
  d.out_dtype = QFORGE_I32;
  std::vector<int32_t> expected(8 * 32);
  d.lhs = lhs.data();
  d.rhs = weight.data();
  d.out = expected.data();
  ASSERT_EQ(qforge_rt_gemm(cpu, &d), QFORGE_OK);
  d.lhs = upload(lhs);
  d.rhs = static_cast<const int8_t *>(first);
  for (int call = 0; call < 2; ++call) {
    int32_t *out = poisoned<int32_t>(8 * 32);
    d.out = out;
    ASSERT_EQ(qforge_rt_gemm(gpu, &d), QFORGE_OK) << qforge_rt_last_error();
    EXPECT_EQ(download(out, 8 * 32), expected) << "call " << call;
  }
}

TEST_F(RuntimeCuda, ObserverMatchesCpu) {
  for (qforge_dtype type : kFloatTypes) {
    qforge_observer *onCpu = nullptr, *onGpu = nullptr;
    ASSERT_EQ(qforge_rt_observer_create(2048, &onCpu), QFORGE_OK);
    ASSERT_EQ(qforge_rt_observer_create(2048, &onGpu), QFORGE_OK);
    for (int batch = 0; batch < 4; ++batch) {
      // Growing magnitudes make the range double between batches.
      auto values = awkwardFloats(rng, 5000, 0.01f * float(1 << (2 * batch)));
      auto host = encode(values, type);
      ASSERT_EQ(qforge_rt_observe(cpu, onCpu, type, host.data(), 5000),
                QFORGE_OK);
      ASSERT_EQ(qforge_rt_observe(gpu, onGpu, type, upload(host), 5000),
                QFORGE_OK)
          << qforge_rt_last_error();
    }
    qforge_observer_stats a{}, b{};
    qforge_rt_observer_stats(onCpu, &a);
    qforge_rt_observer_stats(onGpu, &b);
    EXPECT_EQ(a.min, b.min);
    EXPECT_EQ(a.max, b.max);
    EXPECT_EQ(a.count, b.count);
    EXPECT_EQ(a.nan_count, b.nan_count);
    EXPECT_EQ(a.inf_count, b.inf_count);
    EXPECT_EQ(a.range, b.range);
    for (int i = 0; i < 2048; ++i)
      ASSERT_EQ(a.histogram[i], b.histogram[i]) << "bin " << i;
    qforge_rt_observer_destroy(onCpu);
    qforge_rt_observer_destroy(onGpu);
  }
}

} // namespace

namespace {

/// Compiled models pass host pointers; on a cuda context the model entry
/// points stage them through device buffers. Same results as on the cpu.
TEST_F(RuntimeCuda, ModelEntryPointsStageHostOperands) {
  int64_t m = 5, n = 32, k = 64;
  auto lhs = randomInt8(rng, size_t(m * k));
  auto rhs = randomInt8(rng, size_t(n * k));
  auto rhsScale = randomFloats(rng, size_t(n), 1e-3f, 1e-2f);
  auto x = randomFloats(rng, size_t(m * k));
  auto address = [](const void *p) { return int64_t(intptr_t(p)); };
  std::vector<float> outCpu(size_t(m * n)), outGpu(size_t(m * n));
  std::vector<int8_t> qCpu(size_t(m * k)), qGpu(size_t(m * k));
  std::vector<float> sCpu(static_cast<size_t>(m)), sGpu(static_cast<size_t>(m));
  for (qforge_context *ctx : {cpu, gpu}) {
    bool onGpu = ctx == gpu;
    ASSERT_EQ(qforge_rt_set_current(ctx), QFORGE_OK);
    qforge_rt_m_dynamic_quantize(address(x.data()), QFORGE_F32, m, k,
                                 QFORGE_PER_TOKEN,
                                 address((onGpu ? qGpu : qCpu).data()),
                                 address((onGpu ? sGpu : sCpu).data()));
    qforge_rt_m_gemm(1, m, n, k, 1, 0, address(lhs.data()), address(rhs.data()),
                     0, 0, address(rhsScale.data()), n, 0, QFORGE_F32,
                     QFORGE_ACT_GELU, QFORGE_F32, 1.0f, 0, 0, 0,
                     address((onGpu ? outGpu : outCpu).data()));
    qforge_rt_m_observe(address("obs"), 3, address(x.data()), QFORGE_F32,
                        m * k);
    ASSERT_EQ(qforge_rt_model_status(), QFORGE_OK) << qforge_rt_last_error();
  }
  EXPECT_EQ(qGpu, qCpu);
  EXPECT_EQ(std::memcmp(sGpu.data(), sCpu.data(), sCpu.size() * 4), 0);
  EXPECT_EQ(std::memcmp(outGpu.data(), outCpu.data(), outCpu.size() * 4), 0);
  int64_t toDevice = 0, toHost = 0;
  ASSERT_EQ(qforge_rt_transfer_count(gpu, &toDevice, &toHost), QFORGE_OK);
  EXPECT_GT(toDevice, 0);
  EXPECT_GT(toHost, 0);
  const char *id = nullptr;
  qforge_observer_stats a{}, b{};
  ASSERT_EQ(qforge_rt_calibration_entry(cpu, 0, &id, &a), QFORGE_OK);
  ASSERT_EQ(qforge_rt_calibration_entry(gpu, 0, &id, &b), QFORGE_OK);
  EXPECT_EQ(a.min, b.min);
  EXPECT_EQ(a.max, b.max);
  for (int i = 0; i < a.num_bins; ++i)
    ASSERT_EQ(a.histogram[i], b.histogram[i]);
  qforge_rt_set_current(nullptr);
}

} // namespace

namespace {

/// cuBLASLt's float GEMM against the CPU reference (not bit for bit: the
/// summation orders differ), for f32, f16 and bf16, every layout, with the
/// erf-GELU epilogue.
TEST_F(RuntimeCuda, FloatGemmMatchesCpuWithinRounding) {
  for (qforge_dtype type : {QFORGE_F32, QFORGE_F16, QFORGE_BF16}) {
    for (int transposed = 0; transposed < 2; ++transposed) {
      int64_t batch = 2, m = 37, n = 64, k = 96;
      size_t lhsCount = size_t(batch * m * k), rhsCount = size_t(k * n),
             outCount = size_t(batch * m * n);
      int64_t width = type == QFORGE_F32 ? 4 : 2;
      auto lhs = encode(randomFloats(rng, lhsCount, -1, 1), type);
      auto rhs = encode(randomFloats(rng, rhsCount, -1, 1), type);
      auto bias = randomFloats(rng, size_t(n));
      std::vector<uint8_t> cpuOut(outCount * size_t(width)),
          gpuOut(cpuOut.size());
      qforge_float_gemm_desc d{};
      d.batch = batch;
      d.m = m;
      d.n = n;
      d.k = k;
      d.rhs_transposed = transposed;
      d.rhs_shared = 1;
      d.dtype = type;
      d.bias = bias.data();
      d.activation = QFORGE_ACT_GELU;
      d.lhs = lhs.data();
      d.rhs = rhs.data();
      d.out = cpuOut.data();
      QF_ASSERT_OK(qforge_rt_gemm_float(cpu, &d));
      uint8_t *dout = poisoned<uint8_t>(gpuOut.size());
      d.lhs = upload(lhs);
      d.rhs = upload(rhs);
      d.bias = upload(bias);
      d.out = dout;
      QF_ASSERT_OK(qforge_rt_gemm_float(gpu, &d));
      gpuOut = download(dout, gpuOut.size());
      for (size_t i = 0; i < outCount; ++i) {
        float a = decodeAt(cpuOut.data(), i, type);
        float b = decodeAt(gpuOut.data(), i, type);
        float tolerance = type == QFORGE_F32   ? 1e-4f
                          : type == QFORGE_F16 ? 2e-2f
                                               : 1e-1f;
        ASSERT_NEAR(a, b, tolerance * (1.0f + std::fabs(a)))
            << "dtype " << type << " transposed " << transposed << " at " << i;
      }
    }
  }
}

} // namespace
