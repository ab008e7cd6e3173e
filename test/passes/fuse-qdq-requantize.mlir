// RUN: qforge-opt %s -split-input-file --qforge-fuse-qdq | FileCheck %s
// RUN: qforge-opt %s -split-input-file --qforge-fuse-qdq=int-bias=true 2>/dev/null | FileCheck %s --check-prefix=IBIAS

!qx = !quant.uniform<i8<-127:127>:f32, 0.02>
!qy = !quant.uniform<i8<-127:127>:f32, 0.05>
!qw = !quant.uniform<i8<-127:127>:f32:0, {0.01, 0.03}>

// A layer whose output only feeds the next layer's quantize: the GEMM
// epilogue writes the int8 codes (requantized output), the quantize and
// the f32 intermediate disappear.
// CHECK-LABEL: func.func @requantized
// CHECK: %[[Y:.*]] = qforge.matmul %{{.*}}, %{{.*}} rhs_transposed rhs_scale(%{{.*}} : tensor<2xf32>) bias(%{{.*}} : tensor<2xf32>) activation(relu) : tensor<4x3xi8>, tensor<2x3xi8> -> tensor<4x2x!quant.uniform<i8<-127:127>:f32, 5.000000e-02>>
// CHECK-NOT: qforge.quantize %[[Y]]
// CHECK: return %[[Y]]
func.func @requantized(%x: tensor<4x3xf32>) -> tensor<4x2x!qy> {
  %c = arith.constant dense<[[100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
  %s = quant.scast %c : tensor<2x3xi8> to tensor<2x3x!qw>
  %w = qforge.dequantize %s : tensor<2x3x!qw> to tensor<2x3xf32>
  %et = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%et : tensor<3x2xf32>) permutation = [1, 0]
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!qx>
  %d = qforge.dequantize %q : tensor<4x3x!qx> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%d, %wt : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %b = arith.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %e2 = tensor.empty() : tensor<4x2xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%y, %b : tensor<4x2xf32>, tensor<2xf32>) outs(%e2 : tensor<4x2xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %a = arith.addf %v, %bias : f32
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<4x2xf32>
  %next = qforge.quantize %r : tensor<4x2xf32> to tensor<4x2x!qy>
  return %next : tensor<4x2x!qy>
}

// -----

!qx = !quant.uniform<i8<-127:127>:f32, 0.02>
!qy = !quant.uniform<i8<-127:127>:f32, 0.05>
!qw = !quant.uniform<i8<-127:127>:f32:0, {0.01, 0.03}>

// The float result has another user as well: it stays f32, quantized
// separately.
// CHECK-LABEL: func.func @two_users
// CHECK: %[[Y:.*]] = qforge.matmul {{.*}} -> tensor<4x2xf32>
// CHECK: qforge.quantize %[[Y]]
func.func @two_users(%x: tensor<4x3xf32>) -> (tensor<4x2x!qy>, tensor<4x2xf32>) {
  %c = arith.constant dense<[[100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
  %s = quant.scast %c : tensor<2x3xi8> to tensor<2x3x!qw>
  %w = qforge.dequantize %s : tensor<2x3x!qw> to tensor<2x3xf32>
  %et = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%et : tensor<3x2xf32>) permutation = [1, 0]
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!qx>
  %d = qforge.dequantize %q : tensor<4x3x!qx> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%d, %wt : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %next = qforge.quantize %y : tensor<4x2xf32> to tensor<4x2x!qy>
  return %next, %y : tensor<4x2x!qy>, tensor<4x2xf32>
}

// -----

!qa = !quant.uniform<i8:f32, 0.02:-10>
!qw = !quant.uniform<i8<-127:127>:f32:0, {0.01, 0.03}>

// An asymmetric activation (zero point -10): the accumulator of q * w is
// off by zx * sum_k w[k, c] = -10 * {23, 63}, so an i32 bias of
// -zx * colsum = {230, 630} corrects it. A float bias after it (0.5, -0.25)
// joins it as f32 b + corr * s with s = 0.02 * {0.01, 0.03}:
// {0.5 + 0.046, -0.25 + 0.378}; with int-bias=true in the accumulator
// domain: rne(0.5 / 0.0002) = 2500, rne(-0.25 / 0.0006) = -417.
// CHECK-LABEL: func.func @asymmetric
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[5.460000e-01, 0.127999991]> : tensor<2xf32>
// CHECK: qforge.matmul %{{.*}}, %{{.*}} rhs_transposed rhs_scale(%{{.*}} : tensor<2xf32>) bias(%[[B]] : tensor<2xf32>) : tensor<4x3xi8>, tensor<2x3xi8> -> tensor<4x2xf32>
// IBIAS-LABEL: func.func @asymmetric
// IBIAS: qforge.matmul {{.*}} bias(%{{.*}} : tensor<2xi32>)
func.func @asymmetric(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<[[100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
  %s = quant.scast %c : tensor<2x3xi8> to tensor<2x3x!qw>
  %w = qforge.dequantize %s : tensor<2x3x!qw> to tensor<2x3xf32>
  %et = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%et : tensor<3x2xf32>) permutation = [1, 0]
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!qa>
  %d = qforge.dequantize %q : tensor<4x3x!qa> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%d, %wt : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %b = arith.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %e2 = tensor.empty() : tensor<4x2xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%y, %b : tensor<4x2xf32>, tensor<2xf32>) outs(%e2 : tensor<4x2xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %a = arith.addf %v, %bias : f32
    linalg.yield %a : f32
  } -> tensor<4x2xf32>
  return %r : tensor<4x2xf32>
}

// -----

!qx = !quant.uniform<i8<-127:127>:f32, 0.02>
!qw = !quant.uniform<i8<-127:127>:f32:0, {0.01, 0.03}>

// A QDQ model that dequantizes before reshaping ([2, 2, 3] -> [4, 3]):
// the dequantize moves after the collapse (on the int8 codes), right to the
// matmul, and the matmul fuses.
// CHECK-LABEL: func.func @dq_before_reshape
// CHECK: %[[Q:.*]] = qforge.quantize %arg0 : tensor<2x2x3xf32>
// CHECK: %[[C:.*]] = quant.scast %[[Q]] : {{.*}} to tensor<2x2x3xi8>
// CHECK: tensor.collapse_shape %[[C]] {{\[}}[0, 1], [2]] : tensor<2x2x3xi8> into tensor<4x3xi8>
// CHECK: qforge.matmul %{{.*}}, %{{.*}} rhs_transposed rhs_scale(%{{.*}} : tensor<2xf32>) : tensor<4x3xi8>, tensor<2x3xi8> -> tensor<4x2xf32>
// CHECK-NOT: linalg.matmul
func.func @dq_before_reshape(%x: tensor<2x2x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<[[100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
  %s = quant.scast %c : tensor<2x3xi8> to tensor<2x3x!qw>
  %w = qforge.dequantize %s : tensor<2x3x!qw> to tensor<2x3xf32>
  %et = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%et : tensor<3x2xf32>) permutation = [1, 0]
  %q = qforge.quantize %x : tensor<2x2x3xf32> to tensor<2x2x3x!qx>
  %d = qforge.dequantize %q : tensor<2x2x3x!qx> to tensor<2x2x3xf32>
  %flat = tensor.collapse_shape %d [[0, 1], [2]] : tensor<2x2x3xf32> into tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%flat, %wt : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

!qx = !quant.uniform<i8<-127:127>:f32, 0.02>
!qw = !quant.uniform<i8<-127:127>:f32:0, {0.01, 0.03}>

// A bias add and an erf GELU in one body: split, then both fold.
// CHECK-LABEL: func.func @bias_gelu_one_body
// CHECK: qforge.matmul {{.*}} bias(%{{.*}} : tensor<2xf32>) activation(gelu) : tensor<4x3xi8>, tensor<2x3xi8> -> tensor<4x2xf32>
// CHECK-NOT: linalg.generic
func.func @bias_gelu_one_body(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<[[100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
  %s = quant.scast %c : tensor<2x3xi8> to tensor<2x3x!qw>
  %w = qforge.dequantize %s : tensor<2x3x!qw> to tensor<2x3xf32>
  %et = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%et : tensor<3x2xf32>) permutation = [1, 0]
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!qx>
  %d = qforge.dequantize %q : tensor<4x3x!qx> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %half = arith.constant 0.5 : f32
  %rsqrt2 = arith.constant 0.70710678118654752 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%d, %wt : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %b = arith.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %e2 = tensor.empty() : tensor<4x2xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%y, %b : tensor<4x2xf32>, tensor<2xf32>) outs(%e2 : tensor<4x2xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %a = arith.addf %v, %bias : f32
    %g0 = arith.mulf %a, %rsqrt2 : f32
    %g1 = math.erf %g0 : f32
    %g2 = arith.addf %g1, %one : f32
    %g3 = arith.mulf %a, %g2 : f32
    %g4 = arith.mulf %g3, %half : f32
    linalg.yield %g4 : f32
  } -> tensor<4x2xf32>
  return %r : tensor<4x2xf32>
}
