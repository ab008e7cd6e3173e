//===- gemm_candidates.cu - qforge's int8 GEMM vs every cuBLASLt candidate ===//
//
// For each shape, times every algorithm cuBLASLt's heuristic offers for the
// int8 TN GEMM (i32 out) and qforge_rt_gemm on the same operands, in one
// process, on one stream: median of N iterations after warm-up, CUDA events,
// random data. Prints one JSON object per shape.
//
// usage: gemm_candidates [iterations] M,N,K [M,N,K ...]
//===----------------------------------------------------------------------===//

#include "qforge_rt.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#define CHECK_CUDA(expr)                                                       \
  do {                                                                         \
    cudaError_t e = (expr);                                                    \
    if (e != cudaSuccess) {                                                    \
      std::fprintf(stderr, "%s: %s\n", #expr, cudaGetErrorString(e));          \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)
#define CHECK_LT(expr)                                                         \
  do {                                                                         \
    cublasStatus_t s = (expr);                                                 \
    if (s != CUBLAS_STATUS_SUCCESS) {                                          \
      std::fprintf(stderr, "%s: status %d\n", #expr, int(s));                  \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)

/// Times every contender `iterations` times, round robin (one call of each
/// in turn), so that clock and thermal drift during the run hits all of them
/// alike; returns each one's median in ms.
std::vector<float>
roundRobinMedians(int iterations, cudaStream_t stream,
                  const std::vector<std::function<void()>> &fns) {
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  for (int i = 0; i < 5; ++i)
    for (auto &fn : fns)
      fn();
  std::vector<std::vector<float>> samples(fns.size());
  for (int i = 0; i < iterations; ++i)
    for (size_t f = 0; f < fns.size(); ++f) {
      CHECK_CUDA(cudaEventRecord(start, stream));
      fns[f]();
      CHECK_CUDA(cudaEventRecord(stop, stream));
      CHECK_CUDA(cudaEventSynchronize(stop));
      float ms = 0;
      CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
      samples[f].push_back(ms);
    }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::vector<float> medians;
  for (auto &s : samples) {
    std::sort(s.begin(), s.end());
    medians.push_back(s[s.size() / 2]);
  }
  return medians;
}

int main(int argc, char **argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 50;
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreate(&stream));
  cublasLtHandle_t lt;
  CHECK_LT(cublasLtCreate(&lt));
  size_t workspaceBytes = 32u << 20;
  void *workspace;
  CHECK_CUDA(cudaMalloc(&workspace, workspaceBytes));
  qforge_context *ctx;
  if (qforge_rt_create_on_stream(stream, &ctx) != QFORGE_OK) {
    std::fprintf(stderr, "qforge: %s\n", qforge_rt_last_error());
    return 1;
  }
  std::mt19937 rng(42);
  for (int a = 2; a < argc; ++a) {
    long long m, n, k;
    if (std::sscanf(argv[a], "%lld,%lld,%lld", &m, &n, &k) != 3)
      return 2;
    std::vector<int8_t> hostA(size_t(m * k)), hostB(size_t(n * k));
    std::uniform_int_distribution<int> dist(-128, 127);
    for (auto &x : hostA)
      x = int8_t(dist(rng));
    for (auto &x : hostB)
      x = int8_t(dist(rng));
    int8_t *x, *w;
    int32_t *c;
    CHECK_CUDA(cudaMalloc(&x, hostA.size()));
    CHECK_CUDA(cudaMalloc(&w, hostB.size()));
    CHECK_CUDA(cudaMalloc(&c, size_t(m * n) * 4));
    CHECK_CUDA(
        cudaMemcpy(x, hostA.data(), hostA.size(), cudaMemcpyHostToDevice));
    CHECK_CUDA(
        cudaMemcpy(w, hostB.data(), hostB.size(), cudaMemcpyHostToDevice));

    // The same TN problem the runtime solves: C^T[N,M] = W^T[K,N]^T X^T.
    cublasLtMatmulDesc_t op;
    CHECK_LT(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32I, CUDA_R_32I));
    cublasOperation_t t = CUBLAS_OP_T, nt = CUBLAS_OP_N;
    CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t,
                                            sizeof t));
    CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB,
                                            &nt, sizeof nt));
    cublasLtMatrixLayout_t la, lb, lc;
    CHECK_LT(cublasLtMatrixLayoutCreate(&la, CUDA_R_8I, k, n, k));
    CHECK_LT(cublasLtMatrixLayoutCreate(&lb, CUDA_R_8I, k, m, k));
    CHECK_LT(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32I, n, m, n));
    cublasLtMatmulPreference_t pref;
    CHECK_LT(cublasLtMatmulPreferenceCreate(&pref));
    CHECK_LT(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspaceBytes,
        sizeof workspaceBytes));
    cublasLtMatmulHeuristicResult_t results[32];
    int found = 0;
    CHECK_LT(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 32,
                                            results, &found));
    int32_t alpha = 1, beta = 0;
    std::vector<std::function<void()>> contenders;
    for (int i = 0; i < found; ++i) {
      cublasStatus_t probe =
          cublasLtMatmul(lt, op, &alpha, w, la, x, lb, &beta, c, lc, c, lc,
                         &results[i].algo, workspace, workspaceBytes, stream);
      if (probe != CUBLAS_STATUS_SUCCESS)
        continue;
      const cublasLtMatmulAlgo_t *algo = &results[i].algo;
      contenders.push_back([=, &alpha, &beta] {
        cublasLtMatmul(lt, op, &alpha, w, la, x, lb, &beta, c, lc, c, lc, algo,
                       workspace, workspaceBytes, stream);
      });
    }
    int runnable = int(contenders.size());
    qforge_gemm_desc d{};
    d.batch = 1;
    d.m = m;
    d.n = n;
    d.k = k;
    d.rhs_transposed = 1;
    d.lhs = x;
    d.rhs = w;
    d.out_dtype = QFORGE_I32;
    d.out = c;
    if (qforge_rt_gemm(ctx, &d) != QFORGE_OK) { // plans and tunes this shape
      std::fprintf(stderr, "qforge: %s\n", qforge_rt_last_error());
      return 1;
    }
    contenders.push_back([&] { qforge_rt_gemm(ctx, &d); });
    std::vector<float> medians =
        roundRobinMedians(iterations, stream, contenders);
    float ours = medians.back();
    int bestIndex = int(std::min_element(medians.begin(), medians.end() - 1) -
                        medians.begin());
    float best = medians[size_t(bestIndex)];
    double tops = 2.0 * m * n * k / (ours * 1e-3) / 1e12;
    std::printf("{\"m\": %lld, \"n\": %lld, \"k\": %lld, \"candidates\": %d, "
                "\"best_index\": %d, \"best_candidate_ms\": %.5f, "
                "\"qforge_ms\": %.5f, \"qforge_tops\": %.1f}\n",
                m, n, k, runnable, bestIndex, best, ours, tops);
    std::fflush(stdout);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
    cudaFree(x);
    cudaFree(w);
    cudaFree(c);
  }
  qforge_rt_destroy(ctx);
  cublasLtDestroy(lt);
  return 0;
}
