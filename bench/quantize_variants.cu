//===- quantize_variants.cu - per-token quantization launch shapes --------===//
//
// Times the runtime's per-token quantization kernels (runtime/cuda/
// kernels.cuh) at every packs-a-thread x threads shape that covers a row,
// plain and with GELU applied first, against a device-to-device copy of the
// input: what cuda_backend.cu's launchPerToken chooses from. f16 input,
// median of 60 timings of 10 launches each.
//
//   quantize_variants [rows cols]...   (default: 2048 16384  8192 4096)
//
//===----------------------------------------------------------------------===//

#include "kernels.cuh"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace qforge::rt::cuda;
using In = __half;

namespace {

/// Median ms of `launch()` (10 launches a timing, 60 timings).
template <typename Launch> float medianMs(Launch launch) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<float> ms;
  for (int r = 0; r < 60; ++r) {
    cudaEventRecord(start);
    for (int i = 0; i < 10; ++i)
      launch();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float elapsed;
    cudaEventElapsedTime(&elapsed, start, stop);
    ms.push_back(elapsed / 10);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

template <int P>
void timeShape(int rows, int cols, const In *x, int8_t *q, float *s) {
  int packs = cols / 8;
  int threads = std::max(32, (packs + P * 32 - 1) / (P * 32) * 32);
  if (threads > 1024)
    return;
  float plain = medianMs([&] {
    perTokenQuantizeRegisterKernel<8, P, In><<<rows, threads>>>(x, q, s, cols);
  });
  float gelu = -1;
  if (threads <= (P <= 2 ? 1024 : 512))
    gelu = medianMs([&] {
      perTokenQuantizeActivatedKernel<8, P, In, 2>
          <<<rows, threads>>>(x, q, s, cols);
    });
  std::printf("  %2d packs x %4d threads: plain %.4f ms, GELU %.4f ms\n", P,
              threads, plain, gelu);
}

} // namespace

int main(int argc, char **argv) {
  std::vector<int> shapes = {2048, 16384, 8192, 4096};
  if (argc > 1) {
    shapes.clear();
    for (int i = 1; i + 1 < argc; i += 2) {
      shapes.push_back(std::atoi(argv[i]));
      shapes.push_back(std::atoi(argv[i + 1]));
    }
  }
  for (size_t i = 0; i + 1 < shapes.size(); i += 2) {
    int rows = shapes[i], cols = shapes[i + 1];
    if (rows <= 0 || cols <= 0 || cols % 8 != 0) {
      std::fprintf(stderr, "bad shape %d x %d (cols: a multiple of 8)\n", rows,
                   cols);
      return 1;
    }
    size_t n = size_t(rows) * cols;
    std::vector<In> host(n);
    unsigned seed = 1;
    for (In &v : host) { // values in [-3.3, 3.3]: GELU's whole curve
      seed = seed * 1664525u + 1013904223u;
      v = __float2half(float(int(seed >> 9) % 2000 - 1000) / 300.0f);
    }
    In *x, *copy;
    int8_t *q;
    float *s;
    cudaMalloc(&x, n * sizeof(In));
    cudaMalloc(&copy, n * sizeof(In));
    cudaMalloc(&q, n);
    cudaMalloc(&s, rows * sizeof(float));
    cudaMemcpy(x, host.data(), n * sizeof(In), cudaMemcpyHostToDevice);
    std::printf("%d x %d (f16): copy %.4f ms\n", rows, cols, medianMs([&] {
                  cudaMemcpyAsync(copy, x, n * sizeof(In),
                                  cudaMemcpyDeviceToDevice);
                }));
    timeShape<1>(rows, cols, x, q, s);
    timeShape<2>(rows, cols, x, q, s);
    timeShape<4>(rows, cols, x, q, s);
    timeShape<8>(rows, cols, x, q, s);
    cudaFree(x);
    cudaFree(copy);
    cudaFree(q);
    cudaFree(s);
  }
  cudaError_t error = cudaDeviceSynchronize();
  if (error != cudaSuccess) {
    std::fprintf(stderr, "CUDA error: %s\n", cudaGetErrorString(error));
    return 1;
  }
  return 0;
}
