// RUN: qforge-opt %s -split-input-file --qforge-lower-to-runtime=float-gemms=true | FileCheck %s
// RUN: qforge-opt %s -split-input-file --qforge-lower-to-runtime | FileCheck %s --check-prefix=OFF

// nn.Linear: the [N, K] weight is read in its stored layout.
// CHECK-LABEL: func.func @linear
// CHECK-NOT: linalg.transpose
// CHECK-NOT: linalg.matmul
// CHECK: call @qforge_rt_m_gemm_float(%c1_i64, %c4_i64, %c3_i64, %c2_i64, %c1_i32, %c0_i32, %c0_i32{{.*}},
// OFF-LABEL: func.func @linear
// OFF: linalg.matmul
func.func @linear(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %et = tensor.empty() : tensor<2x3xf32>
  %wt = linalg.transpose ins(%w : tensor<3x2xf32>) outs(%et : tensor<2x3xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x2xf32>, tensor<2x3xf32>) outs(%f : tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// Attention scores: a batched f16 matmul with a dynamic M.
// CHECK-LABEL: func.func @scores
// CHECK: memref.alloc(%{{.*}}) : memref<4x?x16xf16>
// CHECK: call @qforge_rt_m_gemm_float(%c4_i64, %{{.*}}, %c16_i64, %c8_i64, %c0_i32, %c0_i32{{.*}}, %c1_i32,
func.func @scores(%q: tensor<4x?x8xf16>, %k: tensor<4x8x16xf16>) -> tensor<4x?x16xf16> {
  %c1 = arith.constant 1 : index
  %m = tensor.dim %q, %c1 : tensor<4x?x8xf16>
  %zero = arith.constant 0.0 : f16
  %e = tensor.empty(%m) : tensor<4x?x16xf16>
  %f = linalg.fill ins(%zero : f16) outs(%e : tensor<4x?x16xf16>) -> tensor<4x?x16xf16>
  %y = linalg.batch_matmul ins(%q, %k : tensor<4x?x8xf16>, tensor<4x8x16xf16>) outs(%f : tensor<4x?x16xf16>) -> tensor<4x?x16xf16>
  return %y : tensor<4x?x16xf16>
}

// -----

// Accumulating into a non-zero init: left for the loops / kernels.
// CHECK-LABEL: func.func @accumulate
// CHECK: linalg.matmul
// CHECK-NOT: call @qforge_rt_m_gemm_float
func.func @accumulate(%x: tensor<4x2xf32>, %w: tensor<2x3xf32>, %acc: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %y = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x3xf32>) outs(%acc : tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// Bias and erf-GELU after a float matmul (one body) go to the float GEMM's
// epilogue: the bias by address, activation 2; the generic disappears.
// CHECK-LABEL: func.func @linear_bias_gelu
// CHECK: call @qforge_rt_m_gemm_float({{.*}}, %c2_i32{{.*}}, %{{.*}}) :
// CHECK-NOT: linalg.generic
func.func @linear_bias_gelu(%x: tensor<4x2xf32>, %w: tensor<2x3xf32>) -> tensor<4x3xf32> {
  %b = arith.constant dense<[0.5, -0.25, 1.0]> : tensor<3xf32>
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %half = arith.constant 0.5 : f32
  %rsqrt2 = arith.constant 0.70710678118654752 : f32
  %e = tensor.empty() : tensor<4x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x3xf32>) outs(%f : tensor<4x3xf32>) -> tensor<4x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%y, %b : tensor<4x3xf32>, tensor<3xf32>) outs(%e : tensor<4x3xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %a = arith.addf %v, %bias : f32
    %g0 = arith.mulf %a, %rsqrt2 : f32
    %g1 = math.erf %g0 : f32
    %g2 = arith.addf %g1, %one : f32
    %g3 = arith.mulf %a, %g2 : f32
    %g4 = arith.mulf %g3, %half : f32
    linalg.yield %g4 : f32
  } -> tensor<4x3xf32>
  return %r : tensor<4x3xf32>
}

// -----

// The same in f16 (qforge-compile --float-precision f16): the constant f16
// bias is widened to f32 (exact) for the epilogue, and GELU is recognised
// with its constants rounded to f16 (1/sqrt(2) = 0.70703).
// CHECK-LABEL: func.func @linear_bias_gelu_f16
// CHECK: arith.constant dense<[5.000000e-01, -2.500000e-01, 1.000000e+00]> : tensor<3xf32>
// CHECK: call @qforge_rt_m_gemm_float({{.*}}, %c1_i32, {{.*}}, %c2_i32, %{{.*}}) :
// CHECK-NOT: linalg.generic
func.func @linear_bias_gelu_f16(%x: tensor<4x2xf16>, %w: tensor<2x3xf16>) -> tensor<4x3xf16> {
  %b = arith.constant dense<[0.5, -0.25, 1.0]> : tensor<3xf16>
  %zero = arith.constant 0.0 : f16
  %one = arith.constant 1.0 : f16
  %half = arith.constant 0.5 : f16
  %rsqrt2 = arith.constant 0.70710678118654752 : f16
  %e = tensor.empty() : tensor<4x3xf16>
  %f = linalg.fill ins(%zero : f16) outs(%e : tensor<4x3xf16>) -> tensor<4x3xf16>
  %y = linalg.matmul ins(%x, %w : tensor<4x2xf16>, tensor<2x3xf16>) outs(%f : tensor<4x3xf16>) -> tensor<4x3xf16>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%y, %b : tensor<4x3xf16>, tensor<3xf16>) outs(%e : tensor<4x3xf16>) {
  ^bb0(%v: f16, %bias: f16, %o: f16):
    %a = arith.addf %v, %bias : f16
    %g0 = arith.mulf %a, %rsqrt2 : f16
    %g1 = math.erf %g0 : f16
    %g2 = arith.addf %g1, %one : f16
    %g3 = arith.mulf %a, %g2 : f16
    %g4 = arith.mulf %g3, %half : f16
    linalg.yield %g4 : f16
  } -> tensor<4x3xf16>
  return %r : tensor<4x3xf16>
}

// -----

// An f16 bias that is not a constant stays in its own op (the runtime's
// epilogue takes f32).
// CHECK-LABEL: func.func @linear_runtime_bias_f16
// CHECK: call @qforge_rt_m_gemm_float({{.*}}, %c0_i64, %c0_i32{{.*}}, %{{.*}}) :
// CHECK: linalg.generic
func.func @linear_runtime_bias_f16(%x: tensor<4x2xf16>, %w: tensor<2x3xf16>, %b: tensor<3xf16>) -> tensor<4x3xf16> {
  %zero = arith.constant 0.0 : f16
  %e = tensor.empty() : tensor<4x3xf16>
  %f = linalg.fill ins(%zero : f16) outs(%e : tensor<4x3xf16>) -> tensor<4x3xf16>
  %y = linalg.matmul ins(%x, %w : tensor<4x2xf16>, tensor<2x3xf16>) outs(%f : tensor<4x3xf16>) -> tensor<4x3xf16>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%y, %b : tensor<4x3xf16>, tensor<3xf16>) outs(%e : tensor<4x3xf16>) {
  ^bb0(%v: f16, %bias: f16, %o: f16):
    %a = arith.addf %v, %bias : f16
    linalg.yield %a : f16
  } -> tensor<4x3xf16>
  return %r : tensor<4x3xf16>
}
