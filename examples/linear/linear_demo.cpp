//===- linear_demo.cpp - a quantized linear layer through the runtime -----===//
//
// The runtime half of the main example until the compiler pipeline drives it
// end to end: a float linear layer y = gelu(x W^T + b) is run in f32, then
// quantized the way qforge's passes quantize it (per-channel symmetric int8
// weights, per-token dynamic int8 activations, one int8 GEMM with the
// dequantization, bias and activation fused) on the CPU backend, and on CUDA
// when a device is present. Prints accuracy (SQNR, max error, cosine) and
// latency against the float layer.
//
// usage: linear_demo [M N K]
//===----------------------------------------------------------------------===//

#include "qforge_rt.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

#define CHECK(expr)                                                            \
  do {                                                                         \
    if ((expr) != QFORGE_OK) {                                                 \
      std::fprintf(stderr, "%s: %s\n", #expr, qforge_rt_last_error());         \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)

double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

/// Float reference: y = gelu(x W^T + b), accumulated in f32.
void floatLinear(const std::vector<float> &x, const std::vector<float> &w,
                 const std::vector<float> &b, int64_t m, int64_t n, int64_t k,
                 std::vector<float> &y) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float sum = 0;
      for (int64_t p = 0; p < k; ++p)
        sum += x[size_t(i * k + p)] * w[size_t(j * k + p)];
      y[size_t(i * n + j)] = float(gelu(sum + b[size_t(j)]));
    }
}

struct Accuracy {
  double sqnrDb, maxError, cosine;
};

Accuracy compare(const std::vector<float> &ref, const std::vector<float> &got) {
  double signal = 0, noise = 0, dot = 0, refNorm = 0, gotNorm = 0, maxError = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double e = double(got[i]) - ref[i];
    signal += double(ref[i]) * ref[i];
    noise += e * e;
    dot += double(ref[i]) * got[i];
    refNorm += double(ref[i]) * ref[i];
    gotNorm += double(got[i]) * got[i];
    maxError = std::max(maxError, std::fabs(e));
  }
  return {10.0 * std::log10(signal / std::max(noise, 1e-30)), maxError,
          dot / std::sqrt(refNorm * gotNorm)};
}

template <typename Fn> double medianMs(int runs, Fn &&fn) {
  std::vector<double> samples;
  for (int r = 0; r < runs; ++r) {
    auto start = std::chrono::steady_clock::now();
    fn();
    samples.push_back(std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - start)
                          .count());
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

/// Runs the quantized layer on `backend`; returns its output and latency.
std::vector<float> runQuantized(qforge_backend backend,
                                const std::vector<float> &x,
                                const std::vector<float> &w,
                                const std::vector<float> &b, int64_t m,
                                int64_t n, int64_t k, double &ms) {
  qforge_context *ctx = nullptr;
  CHECK(qforge_rt_create(backend, &ctx));
  auto deviceCopy = [&](const void *host, int64_t bytes) {
    void *dev = nullptr;
    CHECK(qforge_rt_alloc(ctx, bytes, &dev));
    if (host)
      CHECK(qforge_rt_copy_to_device(ctx, dev, host, bytes));
    return dev;
  };
  // Weights: symmetric per-output-channel int8, s[n] = max|W[n,:]| / 127.
  std::vector<float> wScale(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    float absMax = 0;
    for (int64_t p = 0; p < k; ++p)
      absMax = std::max(absMax, std::fabs(w[size_t(j * k + p)]));
    wScale[size_t(j)] = absMax > 0 ? absMax / 127.0f : 1.0f;
  }
  auto *dW = deviceCopy(w.data(), n * k * 4);
  auto *dWScale = static_cast<float *>(deviceCopy(wScale.data(), n * 4));
  auto *dWq = static_cast<int8_t *>(deviceCopy(nullptr, n * k));
  CHECK(qforge_rt_quantize_per_axis(ctx, QFORGE_F32, dW, 1, n, k, dWScale,
                                    nullptr, -127, 127, dWq));
  auto *dX = deviceCopy(x.data(), m * k * 4);
  auto *dB = deviceCopy(b.data(), n * 4);
  auto *dXq = static_cast<int8_t *>(deviceCopy(nullptr, m * k));
  auto *dXScale = static_cast<float *>(deviceCopy(nullptr, m * 4));
  auto *dY = deviceCopy(nullptr, m * n * 4);
  qforge_gemm_desc d{};
  d.batch = 1;
  d.m = m;
  d.n = n;
  d.k = k;
  d.rhs_transposed = 1;
  d.lhs = dXq;
  d.rhs = dWq;
  d.lhs_scale = dXScale;
  d.lhs_scale_count = m;
  d.rhs_scale = dWScale;
  d.rhs_scale_count = n;
  d.bias = dB;
  d.bias_dtype = QFORGE_F32;
  d.activation = QFORGE_ACT_GELU;
  d.out_dtype = QFORGE_F32;
  d.out = dY;
  auto layer = [&] {
    CHECK(qforge_rt_dynamic_quantize(ctx, QFORGE_F32, dX, m, k,
                                     QFORGE_PER_TOKEN, dXq, dXScale));
    CHECK(qforge_rt_gemm(ctx, &d));
    CHECK(qforge_rt_synchronize(ctx));
  };
  layer(); // warm-up (and GEMM plan selection on CUDA)
  ms = medianMs(20, layer);
  std::vector<float> y(static_cast<size_t>(m * n));
  CHECK(qforge_rt_copy_to_host(ctx, y.data(), dY, m * n * 4));
  void *buffers[] = {dW, dWScale, dWq, dX, dB, dXq, dXScale, dY};
  for (void *p : buffers)
    CHECK(qforge_rt_free(ctx, p));
  CHECK(qforge_rt_destroy(ctx));
  return y;
}

} // namespace

int main(int argc, char **argv) {
  int64_t m = 64, n = 512, k = 512;
  if (argc == 4) {
    m = std::atoll(argv[1]);
    n = std::atoll(argv[2]);
    k = std::atoll(argv[3]);
  }
  std::mt19937 rng(2026);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * k)),
      w(static_cast<size_t>(n * k)), b(static_cast<size_t>(n));
  for (float &v : x)
    v = normal(rng);
  for (float &v : w)
    v = normal(rng) / std::sqrt(float(k));
  for (float &v : b)
    v = 0.1f * normal(rng);

  std::vector<float> ref(static_cast<size_t>(m * n));
  double floatMs = medianMs(5, [&] { floatLinear(x, w, b, m, n, k, ref); });
  std::printf("linear layer y = gelu(x W^T + b), M=%lld N=%lld K=%lld\n",
              (long long)m, (long long)n, (long long)k);
  std::printf("%-28s %10s %12s %10s %12s\n", "variant", "SQNR dB", "max |err|",
              "cosine", "latency ms");
  std::printf("%-28s %10s %12s %10s %12.3f\n", "f32 reference (cpu loops)", "-",
              "-", "-", floatMs);
  std::vector<qforge_backend> backends = {QFORGE_BACKEND_CPU};
  if (qforge_rt_cuda_available())
    backends.push_back(QFORGE_BACKEND_CUDA);
  for (qforge_backend backend : backends) {
    double ms = 0;
    auto y = runQuantized(backend, x, w, b, m, n, k, ms);
    Accuracy a = compare(ref, y);
    std::printf("%-28s %10.2f %12.5f %10.6f %12.3f\n",
                backend == QFORGE_BACKEND_CPU ? "int8 dynamic (qforge cpu)"
                                              : "int8 dynamic (qforge cuda)",
                a.sqnrDb, a.maxError, a.cosine, ms);
    if (a.sqnrDb < 25.0) {
      std::fprintf(stderr, "error: int8 SQNR %.2f dB is below 25 dB\n",
                   a.sqnrDb);
      return 1;
    }
  }
  return 0;
}
