//===- test_util.h - helpers of the runtime unit tests ---------*- C++ -*-===//

#ifndef QFORGE_TEST_UNIT_TEST_UTIL_H
#define QFORGE_TEST_UNIT_TEST_UTIL_H

#include "numerics.h"
#include "qforge_rt.h"

#include <gtest/gtest.h>
#if QFORGE_RT_HAS_CUDA
#include <cuda_runtime.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace qforge::test {

/// Fails the current test with the runtime's message when `expr` is not OK.
#define QF_ASSERT_OK(expr)                                                     \
  do {                                                                         \
    qforge_status status_ = (expr);                                            \
    ASSERT_EQ(status_, QFORGE_OK) << #expr << ": " << qforge_rt_last_error();  \
  } while (0)

/// Whether the device is an sm_90 GPU, where the Hopper kernels must run.
inline bool deviceIsHopper() {
#if QFORGE_RT_HAS_CUDA
  cudaDeviceProp props{};
  return cudaGetDeviceProperties(&props, 0) == cudaSuccess &&
         props.major == 9 && props.minor == 0;
#else
  return false;
#endif
}

/// A CUDA context created with the environment variable `name` set to
/// `value` (it is read at creation); null when that cannot run here,
/// `error` saying why.
inline qforge_context *cudaContextWithEnv(const char *name, const char *value,
                                          std::string &error) {
  setenv(name, value, 1);
  qforge_context *ctx = nullptr;
  if (qforge_rt_create(QFORGE_BACKEND_CUDA, &ctx) != QFORGE_OK)
    error = qforge_rt_last_error();
  unsetenv(name);
  return ctx;
}

/// Owns a context.
struct Context {
  qforge_context *ctx = nullptr;
  Context() = default; // set ctx later (cudaContextWithEnv)
  explicit Context(qforge_backend backend) {
    if (qforge_rt_create(backend, &ctx) != QFORGE_OK)
      ctx = nullptr;
  }
  ~Context() { qforge_rt_destroy(ctx); }
  operator qforge_context *() const { return ctx; }
};

inline std::vector<float> randomFloats(std::mt19937 &rng, size_t n,
                                       float lo = -4.0f, float hi = 4.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

inline std::vector<int8_t> randomInt8(std::mt19937 &rng, size_t n,
                                      int lo = -128, int hi = 127) {
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int8_t> v(n);
  for (int8_t &x : v)
    x = int8_t(dist(rng));
  return v;
}

/// acc[b, i, j] = sum_p lhs[b, i, p] * rhs[b?, ...] in int64: the reference
/// that the i32 GEMM accumulators are checked against.
inline std::vector<int64_t> gemmReference64(const std::vector<int8_t> &lhs,
                                            const std::vector<int8_t> &rhs,
                                            int64_t batch, int64_t m, int64_t n,
                                            int64_t k, bool transposed,
                                            bool shared) {
  std::vector<int64_t> acc(size_t(batch * m * n), 0);
  for (int64_t b = 0; b < batch; ++b) {
    const int8_t *w = rhs.data() + (shared ? 0 : b * k * n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        int64_t sum = 0;
        for (int64_t p = 0; p < k; ++p)
          sum += int64_t(lhs[size_t(b * m * k + i * k + p)]) *
                 int64_t(transposed ? w[j * k + p] : w[p * n + j]);
        acc[size_t(b * m * n + i * n + j)] = sum;
      }
  }
  return acc;
}

/// The elements of `v` stored as `type` (f32, f16 or bf16 bits).
inline std::vector<uint8_t> encode(const std::vector<float> &v,
                                   qforge_dtype type) {
  size_t width = type == QFORGE_F32 ? 4 : 2;
  std::vector<uint8_t> bytes(v.size() * width);
  for (size_t i = 0; i < v.size(); ++i) {
    if (type == QFORGE_F32) {
      std::memcpy(&bytes[i * 4], &v[i], 4);
    } else {
      uint16_t h = type == QFORGE_F16 ? qforge::rt::floatToHalf(v[i])
                                      : qforge::rt::floatToBf16(v[i]);
      std::memcpy(&bytes[i * 2], &h, 2);
    }
  }
  return bytes;
}

/// Element `i` of `type` (f32, f16 or bf16 bits) at `bytes`, as float.
inline float decodeAt(const uint8_t *bytes, size_t i, qforge_dtype type) {
  if (type == QFORGE_F32) {
    float f;
    std::memcpy(&f, bytes + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, bytes + 2 * i, 2);
  return type == QFORGE_F16 ? qforge::rt::halfToFloat(h)
                            : qforge::rt::bf16ToFloat(h);
}

/// A CPU context (the reference) and a CUDA one, for tests that compare the
/// two; skipped cleanly without a CUDA device. Device buffers made with
/// upload() are freed at the end of the test.
class CpuAndCuda : public ::testing::Test {
protected:
  void SetUp() override {
    if (!qforge_rt_cuda_available())
      GTEST_SKIP() << "no CUDA device";
    unsetenv("QFORGE_DEVICE");
    ASSERT_EQ(qforge_rt_create(QFORGE_BACKEND_CPU, &cpu), QFORGE_OK);
    ASSERT_EQ(qforge_rt_create(QFORGE_BACKEND_CUDA, &gpu), QFORGE_OK)
        << qforge_rt_last_error();
  }
  void TearDown() override {
    for (void *p : buffers)
      qforge_rt_free(gpu, p);
    qforge_rt_destroy(gpu);
    qforge_rt_destroy(cpu);
  }

  /// Copies `data` to a new device buffer (freed at the end of the test).
  template <typename T> T *upload(const std::vector<T> &data) {
    void *p = nullptr;
    EXPECT_EQ(qforge_rt_alloc(gpu, int64_t(data.size() * sizeof(T)), &p),
              QFORGE_OK);
    buffers.push_back(p);
    EXPECT_EQ(qforge_rt_copy_to_device(gpu, p, data.data(),
                                       int64_t(data.size() * sizeof(T))),
              QFORGE_OK);
    return static_cast<T *>(p);
  }

  qforge_context *cpu = nullptr, *gpu = nullptr;
  std::vector<void *> buffers;
  std::mt19937 rng{std::random_device{}()};
};

} // namespace qforge::test

#endif // QFORGE_TEST_UNIT_TEST_UTIL_H
