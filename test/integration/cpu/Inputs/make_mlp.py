#!/usr/bin/env python3
"""Writes a float MLP (x[8,16] -> 32 relu -> 4) with deterministic pseudo-random
weights as MLIR to stdout, and its input as an .npy file (argv[1]).
The first weight is stored as torch-mlir stores nn.Linear's: [out, in] and a
linalg.transpose."""
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(__file__))
import npy  # noqa: E402

rng = random.Random(7)


def matrix(rows, cols, scale):
    return [[rng.gauss(0.0, scale) for _ in range(cols)] for _ in range(rows)]


def dense(m):
    return "[" + ", ".join("[" + ", ".join("%.6e" % v for v in row) + "]" for row in m) + "]"


w1 = matrix(32, 16, 1.0 / math.sqrt(16))  # [out, in]
w2 = matrix(32, 4, 1.0 / math.sqrt(32))   # [in, out]
x = [rng.gauss(0.0, 1.0) for _ in range(8 * 16)]
npy.write(sys.argv[1], "f32", "8x16", x)

print("""func.func @mlp(%%x: tensor<8x16xf32>) -> tensor<8x4xf32> {
  %%w1 = arith.constant dense<%s> : tensor<32x16xf32>
  %%w2 = arith.constant dense<%s> : tensor<32x4xf32>
  %%zero = arith.constant 0.0 : f32
  %%et = tensor.empty() : tensor<16x32xf32>
  %%w1t = linalg.transpose ins(%%w1 : tensor<32x16xf32>) outs(%%et : tensor<16x32xf32>) permutation = [1, 0]
  %%e1 = tensor.empty() : tensor<8x32xf32>
  %%f1 = linalg.fill ins(%%zero : f32) outs(%%e1 : tensor<8x32xf32>) -> tensor<8x32xf32>
  %%h = linalg.matmul ins(%%x, %%w1t : tensor<8x16xf32>, tensor<16x32xf32>) outs(%%f1 : tensor<8x32xf32>) -> tensor<8x32xf32>
  %%r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                        iterator_types = ["parallel", "parallel"]}
       ins(%%h : tensor<8x32xf32>) outs(%%e1 : tensor<8x32xf32>) {
  ^bb0(%%v: f32, %%o: f32):
    %%m = arith.maximumf %%v, %%zero : f32
    linalg.yield %%m : f32
  } -> tensor<8x32xf32>
  %%e2 = tensor.empty() : tensor<8x4xf32>
  %%f2 = linalg.fill ins(%%zero : f32) outs(%%e2 : tensor<8x4xf32>) -> tensor<8x4xf32>
  %%y = linalg.matmul ins(%%r, %%w2 : tensor<8x32xf32>, tensor<32x4xf32>) outs(%%f2 : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %%y : tensor<8x4xf32>
}""" % (dense(w1), dense(w2)))
