//===- attention_variants.cu - tilings of the flash-attention kernel -----===//
//
// Times every candidate tiling of runtime/cuda/attention_kernel.cuh (warps
// per block x 16-row tiles per warp x keys per step) for f16 at the given head
// dims and sequence lengths, on random data: median of 50 launches (CUDA
// events, after warm-up), TFLOPS, and the largest difference from the first
// candidate's output (every tiling computes the same sums in the same
// order for the same keys per step, so it is 0 there; another step size
// changes where the running max is rescaled: rounding only).
// runtime/cuda/attention.cu uses the winners.
//
//   attention_variants [HEADS SEQ]...   (default: 16 2048  16 8192)
//
//===----------------------------------------------------------------------===//

#include "attention_int8_kernel.cuh"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

using namespace qforge::rt::cuda;

namespace {

#define CHECK(expr)                                                            \
  do {                                                                         \
    cudaError_t e_ = (expr);                                                   \
    if (e_ != cudaSuccess) {                                                   \
      std::fprintf(stderr, "%s: %s\n", #expr, cudaGetErrorString(e_));         \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)

using Launch = cudaError_t (*)(const attention::Args &, int64_t, cudaStream_t);

struct Candidate {
  int dim, warps, mtiles, keys;
  Launch launch;
};

template <int D, int W, int M, int KV = attention::kDefaultBlockKV>
Candidate candidate() {
  return {D, W, M, KV, &attention::launch<__half, D, W, M, KV>};
}

/// The int8 kernel's tilings (qforge_rt.h's QFORGE_ATTENTION_INT8): the
/// operands are quantized once per shape, outside the timed kernel.
using Int8Launch = cudaError_t (*)(const attention_int8::Args &, int64_t,
                                   cudaStream_t);
struct Int8Candidate {
  int dim, warps, mtiles, minBlocks;
  Int8Launch launch;
};
template <int D, int W, int M, int B = 1> Int8Candidate int8Candidate() {
  return {D, W, M, B, &attention_int8::launch<__half, D, W, M, B>};
}

template <typename Launch> float medianMs(Launch launch) {
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 5; ++i)
    CHECK(launch());
  std::vector<float> times;
  for (int i = 0; i < 50; ++i) {
    CHECK(cudaEventRecord(start));
    CHECK(launch());
    CHECK(cudaEventRecord(stop));
    CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::pair<int64_t, int>> shapes;
  for (int i = 1; i + 1 < argc; i += 2)
    shapes.push_back({std::atoll(argv[i]), std::atoi(argv[i + 1])});
  if (shapes.empty())
    shapes = {{16, 2048}, {16, 8192}};
  // (the last field: blocks per SM forced through the launch bounds)
  const Int8Candidate int8Candidates[] = {
      int8Candidate<32, 4, 1>(),     int8Candidate<32, 4, 2>(),
      int8Candidate<32, 4, 1, 3>(),  int8Candidate<64, 4, 1>(),
      int8Candidate<64, 4, 2>(),     int8Candidate<64, 4, 1, 3>(),
      int8Candidate<128, 4, 1>(),    int8Candidate<128, 8, 1>(),
      int8Candidate<128, 4, 1, 3>(),
  };
  const Candidate candidates[] = {
      candidate<32, 4, 1>(),      candidate<32, 4, 2>(),
      candidate<32, 8, 1>(),      candidate<32, 4, 2, 128>(),
      candidate<64, 4, 1>(),      candidate<64, 4, 2>(),
      candidate<64, 8, 1>(),      candidate<64, 8, 2>(),
      candidate<64, 4, 2, 32>(),  candidate<128, 4, 1>(),
      candidate<128, 8, 1>(),     candidate<128, 4, 2>(),
      candidate<128, 4, 2, 32>(), candidate<128, 8, 2, 32>(),
  };
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::printf("%-6s %-6s %-5s %-6s %-7s %-5s %10s %8s %10s\n", "heads", "seq",
              "dim", "warps", "mtiles", "keys", "ms", "TFLOPS", "max diff");
  for (auto [heads, seq] : shapes) {
    for (int dim : {32, 64, 128}) {
      size_t n = size_t(heads) * seq * dim;
      std::vector<__half> host(n);
      void *q, *k, *v, *out;
      for (void **p : {&q, &k, &v, &out})
        CHECK(cudaMalloc(p, n * sizeof(__half)));
      for (void *p : {q, k, v}) {
        for (__half &x : host)
          x = __float2half(normal(rng));
        CHECK(cudaMemcpy(p, host.data(), n * sizeof(__half),
                         cudaMemcpyHostToDevice));
      }
      attention::Args args{q,
                           k,
                           v,
                           out,
                           int64_t(seq) * dim,
                           dim,
                           int64_t(seq) * dim,
                           dim,
                           int64_t(seq) * dim,
                           dim,
                           int64_t(seq) * dim,
                           dim,
                           seq,
                           seq,
                           float(1.4426950408889634 / std::sqrt(double(dim))),
                           /*causal=*/0};
      std::vector<__half> first, got(n);
      for (const Candidate &c : candidates) {
        if (c.dim != dim)
          continue;
        float ms = medianMs([&] { return c.launch(args, heads, nullptr); });
        CHECK(cudaMemcpy(got.data(), out, n * sizeof(__half),
                         cudaMemcpyDeviceToHost));
        if (first.empty())
          first = got;
        float diff = 0;
        for (size_t i = 0; i < n; ++i)
          diff = std::max(
              diff, std::fabs(__half2float(got[i]) - __half2float(first[i])));
        double tflops = 4.0 * heads * double(seq) * seq * dim / ms / 1e9;
        std::printf("%-6lld %-6d %-5d %-6d %-7d %-5d %10.3f %8.0f %10.3g\n",
                    (long long)heads, seq, dim, c.warps, c.mtiles, c.keys, ms,
                    tflops, diff);
      }
      // int8: quantizing the operands (timed alone), then each tiling;
      // "max diff" is the relative error vs the first f16 tiling (norm of
      // the difference over the norm), as the int8 rounding is expected.
      void *workspace = nullptr;
      CHECK(cudaMalloc(&workspace,
                       attention_int8::workspaceBytes(heads, seq, seq, dim)));
      attention_int8::Operands operands =
          attention_int8::carve(workspace, heads, seq, seq, dim);
      attention_int8::Inputs inputs{q,
                                    k,
                                    v,
                                    int64_t(seq) * dim,
                                    dim,
                                    int64_t(seq) * dim,
                                    dim,
                                    int64_t(seq) * dim,
                                    dim,
                                    heads,
                                    seq,
                                    seq,
                                    args.scaleLog2};
      auto prepare = dim == 32   ? attention_int8::prepare<__half, 32>
                     : dim == 64 ? attention_int8::prepare<__half, 64>
                                 : attention_int8::prepare<__half, 128>;
      float prepareMs =
          medianMs([&] { return prepare(inputs, operands, nullptr); });
      std::printf("%-6lld %-6d %-5d int8 operand quantization %10.3f ms\n",
                  (long long)heads, seq, dim, prepareMs);
      attention_int8::Args int8Args{operands,    out, int64_t(seq) * dim,
                                    dim,         seq, seq,
                                    /*causal=*/0};
      for (const Int8Candidate &c : int8Candidates) {
        if (c.dim != dim)
          continue;
        float ms = medianMs([&] { return c.launch(int8Args, heads, nullptr); });
        CHECK(cudaMemcpy(got.data(), out, n * sizeof(__half),
                         cudaMemcpyDeviceToHost));
        double diff2 = 0, norm2 = 0;
        for (size_t i = 0; i < n; ++i) {
          double a = __half2float(got[i]), b = __half2float(first[i]);
          diff2 += (a - b) * (a - b);
          norm2 += b * b;
        }
        double tflops = 4.0 * heads * double(seq) * seq * dim / ms / 1e9;
        std::printf("%-6lld %-6d %-5d %-6d %-7d int8/%d %8.3f %8.0f %10.3g\n",
                    (long long)heads, seq, dim, c.warps, c.mtiles, c.minBlocks,
                    ms, tflops, std::sqrt(diff2 / norm2));
      }
      CHECK(cudaFree(workspace));
      for (void *p : {q, k, v, out})
        CHECK(cudaFree(p));
    }
  }
  return 0;
}
