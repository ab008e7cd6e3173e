// RUN: qforge-opt %s -split-input-file --qforge-fuse-qdq="remarks=true" -verify-diagnostics | FileCheck %s

!qx = !quant.uniform<i8<-127:127>:f32, 0.02>
!qw = !quant.uniform<i8<-127:127>:f32:0, {0.01, 0.03}>

// nn.Linear after quantize-weights and fold-scales: [N, K] weight behind a
// transpose, a symmetric activation, a zero-filled init.
// CHECK-LABEL: func.func @linear
// CHECK-DAG: %[[W:.*]] = arith.constant dense<{{.*}}> : tensor<2x3xi8>
// CHECK-DAG: %[[Q:.*]] = qforge.quantize %arg0
// CHECK: %[[X:.*]] = quant.scast %[[Q]] : tensor<4x3x!quant.uniform<i8<-127:127>:f32, 2.000000e-02>> to tensor<4x3xi8>
// The static scales fold into one vector: sx * sw[c] = 0.02 * {0.01, 0.03}.
// CHECK-DAG: %[[S:.*]] = arith.constant dense<[2.000000e-04, 5.9999997E-4]> : tensor<2xf32>
// CHECK: %[[Y:.*]] = qforge.matmul %[[X]], %[[W]] rhs_transposed rhs_scale(%[[S]] : tensor<2xf32>) : tensor<4x3xi8>, tensor<2x3xi8> -> tensor<4x2xf32>
// CHECK-NOT: linalg.matmul
// CHECK: return %[[Y]]
func.func @linear(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
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
  return %y : tensor<4x2xf32>
}

// -----

// A [K, N] weight (per-axis on axis 1) used directly: not transposed.
// CHECK-LABEL: func.func @kn_weight
// CHECK: qforge.matmul %{{.*}}, %{{.*}} rhs_scale(%{{.*}} : tensor<2xf32>) : tensor<4x3xi8>, tensor<3x2xi8> -> tensor<4x2xf32>
func.func @kn_weight(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<[[100, -64], [50, 127], [-127, 0]]> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32:1, {0.01, 0.03}>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32:1, {0.01, 0.03}>> to tensor<3x2xf32>
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A transposed-B indexing map on an [N, K] weight: rhs_transposed.
// CHECK-LABEL: func.func @nk_map
// CHECK: qforge.matmul %{{.*}}, %{{.*}} rhs_transposed
func.func @nk_map(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<[[100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
  %s = quant.scast %c : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8:f32:0, {0.01, 0.03}>>
  %w = qforge.dequantize %s : tensor<2x3x!quant.uniform<i8:f32:0, {0.01, 0.03}>> to tensor<2x3xf32>
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>,
                                      affine_map<(m, n, k) -> (m, n)>]
       ins(%d, %w : tensor<4x3xf32>, tensor<2x3xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// What must NOT fuse, each with its remark. (An asymmetric activation
// fuses now, with its zero-point correction: fuse-qdq-requantize.mlir; a
// float weight does not.)
func.func @float_weight(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>) -> tensor<4x2xf32> {
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02:5>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02:5>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  // expected-remark @+1 {{not fused into qforge.matmul: the weight is not dequantized from int8 (run qforge-quantize-weights)}}
  %y = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

func.func @float_weight(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>) -> tensor<4x2xf32> {
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  // expected-remark @+1 {{not fused into qforge.matmul: the weight is not dequantized from int8 (run qforge-quantize-weights)}}
  %y = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

func.func @accumulating(%x: tensor<4x3xf32>, %acc: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32, 0.1>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32, 0.1>> to tensor<3x2xf32>
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  // expected-remark @+1 {{not fused into qforge.matmul: the matmul accumulates into a non-zero (or unknown) init}}
  %y = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%acc : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

func.func @weight_wrong_axis(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32:0, {0.1, 0.2, 0.3}>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32:0, {0.1, 0.2, 0.3}>> to tensor<3x2xf32>
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  // expected-remark @+1 {{not fused into qforge.matmul: the weight is not symmetric per-tensor or per-output-channel}}
  %y = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A quantize of a dequantize to the same type is the original value.
// CHECK-LABEL: func.func @redundant_pair
// CHECK-NOT: qforge.quantize
// CHECK: return %arg0
func.func @redundant_pair(%q: tensor<4x!quant.uniform<i8:f32, 0.1>>) -> tensor<4x!quant.uniform<i8:f32, 0.1>> {
  %d = qforge.dequantize %q : tensor<4x!quant.uniform<i8:f32, 0.1>> to tensor<4xf32>
  %r = qforge.quantize %d : tensor<4xf32> to tensor<4x!quant.uniform<i8:f32, 0.1>>
  return %r : tensor<4x!quant.uniform<i8:f32, 0.1>>
}

// -----

// A bias add along N and a relu after the matmul become its epilogue.
// CHECK-LABEL: func.func @bias_relu
// CHECK: %[[B:.*]] = arith.constant dense<[5.000000e-01, -2.500000e-01]> : tensor<2xf32>
// CHECK: %[[Y:.*]] = qforge.matmul %{{.*}}, %{{.*}} rhs_transposed rhs_scale(%{{.*}} : tensor<2xf32>) bias(%[[B]] : tensor<2xf32>) activation(relu)
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
func.func @bias_relu(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<[[100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
  %s = quant.scast %c : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8:f32:0, {0.01, 0.03}>>
  %w = qforge.dequantize %s : tensor<2x3x!quant.uniform<i8:f32:0, {0.01, 0.03}>> to tensor<2x3xf32>
  %et = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%et : tensor<3x2xf32>) permutation = [1, 0]
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %m = linalg.matmul ins(%d, %wt : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %b = arith.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%m, %b : tensor<4x2xf32>, tensor<2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %a = arith.addf %bias, %v : f32
    %r = arith.maximumf %a, %zero : f32
    linalg.yield %r : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A bias along M (per row) is not an epilogue of qforge.matmul: it stays.
// CHECK-LABEL: func.func @row_bias
// CHECK: qforge.matmul
// CHECK-NOT: bias(
// CHECK: linalg.generic
func.func @row_bias(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32, 0.1>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32, 0.1>> to tensor<3x2xf32>
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %m = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %b = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%m, %b : tensor<4x2xf32>, tensor<4xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %a = arith.addf %v, %bias : f32
    linalg.yield %a : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// (run with dynamic=true below) A plain f32 activation is quantized per
// token at run time.
// RUN: qforge-opt %s -split-input-file --qforge-fuse-qdq="dynamic=true" 2>/dev/null | FileCheck %s --check-prefix=DYN
// DYN-LABEL: func.func @dynamic_activation
// DYN: %[[Q:.*]], %[[S:.*]] = qforge.dynamic_quantize per_token %arg0 : tensor<4x3xf32> -> tensor<4x3xi8>, tensor<4xf32>
// DYN: qforge.matmul %[[Q]], %{{.*}} lhs_scale(%[[S]] : tensor<4xf32>)
// CHECK-LABEL: func.func @dynamic_activation
// CHECK: linalg.matmul
func.func @dynamic_activation(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32, 0.1>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32, 0.1>> to tensor<3x2xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// int-bias=true: the bias in the accumulator domain, rne(b / (sx * sw[c])):
// 0.5 / 2e-4 = 2500, -0.25 / 6e-4 = -416.67 -> -417.
// RUN: qforge-opt %s -split-input-file --qforge-fuse-qdq="int-bias=true" 2>/dev/null | FileCheck %s --check-prefix=IBIAS
// RUN: qforge-opt %s -split-input-file --qforge-fuse-qdq="int-bias=true" 2>&1 >/dev/null | FileCheck %s --check-prefix=IBIASREMARK
// IBIAS-LABEL: func.func @int_bias
// IBIAS: %[[B:.*]] = arith.constant dense<[2500, -417]> : tensor<2xi32>
// IBIAS: qforge.matmul {{.*}} bias(%[[B]] : tensor<2xi32>)
// A bias too large for the i32 accumulator at its scale stays f32.
// IBIASREMARK: remark: bias kept in float: bias[0] = 1.000000e+06 at scale {{.*}}e-09 would overflow the i32 accumulator
// IBIAS-LABEL: func.func @int_bias_overflow
// IBIAS: qforge.matmul {{.*}} bias(%{{.*}} : tensor<2xf32>)
// CHECK-LABEL: func.func @int_bias
// CHECK: bias(%{{.*}} : tensor<2xf32>)
func.func @int_bias(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<[[100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
  %s = quant.scast %c : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8:f32:0, {0.01, 0.03}>>
  %w = qforge.dequantize %s : tensor<2x3x!quant.uniform<i8:f32:0, {0.01, 0.03}>> to tensor<2x3xf32>
  %et = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%et : tensor<3x2xf32>) permutation = [1, 0]
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %m = linalg.matmul ins(%d, %wt : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %b = arith.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%m, %b : tensor<4x2xf32>, tensor<2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %a = arith.addf %v, %bias : f32
    linalg.yield %a : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// CHECK-LABEL: func.func @int_bias_overflow
func.func @int_bias_overflow(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32, 0.0001>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32, 0.0001>> to tensor<3x2xf32>
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.0001>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.0001>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %m = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %b = arith.constant dense<[1.0e6, 1.0]> : tensor<2xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%m, %b : tensor<4x2xf32>, tensor<2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %a = arith.addf %v, %bias : f32
    linalg.yield %a : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A batch-norm style affine after the matmul, x * g[n] + b[n] then relu:
// g folds into the per-channel scales (0.02 * 0.1 * {2, -1}), b becomes the
// bias, the max the relu.
// CHECK-LABEL: func.func @affine_epilogue
// CHECK-DAG: %[[S:.*]] = arith.constant dense<[4.000000e-03, -2.000000e-03]> : tensor<2xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK: qforge.matmul %{{.*}}, %{{.*}} rhs_scale(%[[S]] : tensor<2xf32>) bias(%[[B]] : tensor<2xf32>) activation(relu)
// CHECK-NOT: linalg.generic
func.func @affine_epilogue(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32, 0.1>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32, 0.1>> to tensor<3x2xf32>
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %m = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %g = arith.constant dense<[2.0, -1.0]> : tensor<2xf32>
  %b = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>,
                                        affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%m, %g, %b : tensor<4x2xf32>, tensor<2xf32>, tensor<2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%v: f32, %gamma: f32, %beta: f32, %o: f32):
    %p = arith.mulf %v, %gamma : f32
    %a = arith.addf %p, %beta : f32
    %r = arith.maximumf %a, %zero : f32
    linalg.yield %r : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A multiplier that is not a constant cannot go into the scales: the
// generic stays.
// CHECK-LABEL: func.func @runtime_multiplier
// CHECK: qforge.matmul
// CHECK: linalg.generic
func.func @runtime_multiplier(%x: tensor<4x3xf32>, %g: tensor<2xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32, 0.1>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32, 0.1>> to tensor<3x2xf32>
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %m = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%m, %g : tensor<4x2xf32>, tensor<2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%v: f32, %gamma: f32, %o: f32):
    %p = arith.mulf %gamma, %v : f32
    linalg.yield %p : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// batch_matmul of two static int8 activations (attention scores): both
// become int8 operands, the two scales one (0.02 * 0.05).
// CHECK-LABEL: func.func @attention_scores
// CHECK-DAG: %[[S:.*]] = arith.constant dense<1.000000e-03> : tensor<1xf32>
// CHECK: qforge.matmul %{{.*}}, %{{.*}} rhs_scale(%[[S]] : tensor<1xf32>) : tensor<2x4x8xi8>, tensor<2x8x4xi8> -> tensor<2x4x4xf32>
// CHECK-NOT: linalg.batch_matmul
func.func @attention_scores(%q: tensor<2x4x8xf32>, %k: tensor<2x8x4xf32>) -> tensor<2x4x4xf32> {
  %qq = qforge.quantize %q : tensor<2x4x8xf32> to tensor<2x4x8x!quant.uniform<i8:f32, 0.02>>
  %qd = qforge.dequantize %qq : tensor<2x4x8x!quant.uniform<i8:f32, 0.02>> to tensor<2x4x8xf32>
  %kq = qforge.quantize %k : tensor<2x8x4xf32> to tensor<2x8x4x!quant.uniform<i8:f32, 0.05>>
  %kd = qforge.dequantize %kq : tensor<2x8x4x!quant.uniform<i8:f32, 0.05>> to tensor<2x8x4xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  %s = linalg.batch_matmul ins(%qd, %kd : tensor<2x4x8xf32>, tensor<2x8x4xf32>) outs(%f : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  return %s : tensor<2x4x4xf32>
}

// -----

// A batched constant weight [B, K, N], per output channel (axis 2).
// CHECK-LABEL: func.func @batched_weight
// CHECK: qforge.matmul %{{.*}}, %{{.*}} rhs_scale(%{{.*}} : tensor<2xf32>) : tensor<2x4x3xi8>, tensor<2x3x2xi8> -> tensor<2x4x2xf32>
func.func @batched_weight(%x: tensor<2x4x3xf32>) -> tensor<2x4x2xf32> {
  %c = arith.constant dense<1> : tensor<2x3x2xi8>
  %s = quant.scast %c : tensor<2x3x2xi8> to tensor<2x3x2x!quant.uniform<i8:f32:2, {0.1, 0.2}>>
  %w = qforge.dequantize %s : tensor<2x3x2x!quant.uniform<i8:f32:2, {0.1, 0.2}>> to tensor<2x3x2xf32>
  %q = qforge.quantize %x : tensor<2x4x3xf32> to tensor<2x4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<2x4x3x!quant.uniform<i8:f32, 0.02>> to tensor<2x4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4x2xf32>) -> tensor<2x4x2xf32>
  %y = linalg.batch_matmul ins(%d, %w : tensor<2x4x3xf32>, tensor<2x3x2xf32>) outs(%f : tensor<2x4x2xf32>) -> tensor<2x4x2xf32>
  return %y : tensor<2x4x2xf32>
}

// -----

// A float rhs keeps the batch_matmul float, with the reason.
func.func @batched_float_rhs(%x: tensor<2x4x3xf32>, %w: tensor<2x3x2xf32>) -> tensor<2x4x2xf32> {
  %q = qforge.quantize %x : tensor<2x4x3xf32> to tensor<2x4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<2x4x3x!quant.uniform<i8:f32, 0.02>> to tensor<2x4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4x2xf32>) -> tensor<2x4x2xf32>
  // expected-remark @+1 {{not fused into qforge.matmul: the rhs is neither a static int8 activation nor an int8 weight with per-tensor or per-output-channel scales}}
  %y = linalg.batch_matmul ins(%d, %w : tensor<2x4x3xf32>, tensor<2x3x2xf32>) outs(%f : tensor<2x4x2xf32>) -> tensor<2x4x2xf32>
  return %y : tensor<2x4x2xf32>
}

// -----

// GELU written as torch-mlir writes it (x * 0.5 * (1 + erf((x - 0) / (1 *
// sqrt(2))))), after a bias: recognised by what it computes and folded into
// the matmul as activation(gelu).
// CHECK-LABEL: func.func @bias_gelu
// CHECK: qforge.matmul {{.*}} bias(%{{.*}} : tensor<2xf32>) activation(gelu)
// CHECK-NOT: linalg.generic
// CHECK-NOT: math.erf
func.func @bias_gelu(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32, 0.1>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32, 0.1>> to tensor<3x2xf32>
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %m = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %b = arith.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %biased = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                            iterator_types = ["parallel", "parallel"]}
       ins(%m, %b : tensor<4x2xf32>, tensor<2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %a = arith.addf %v, %bias : f32
    linalg.yield %a : f32
  } -> tensor<4x2xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%biased : tensor<4x2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%v: f32, %o: f32):
    %c0 = arith.constant 0.0 : f32
    %c1 = arith.constant 1.0 : f32
    %c2 = arith.constant 2.0 : f32
    %half = arith.constant 0.5 : f32
    %centered = arith.subf %v, %c0 : f32
    %sqrt2 = math.sqrt %c2 : f32
    %denominator = arith.mulf %c1, %sqrt2 : f32
    %arg = arith.divf %centered, %denominator : f32
    %erf = math.erf %arg : f32
    %onePlus = arith.addf %c1, %erf : f32
    %cdf = arith.mulf %half, %onePlus : f32
    %g = arith.mulf %v, %cdf : f32
    linalg.yield %g : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// The tanh approximation of GELU is a different function: not folded.
// CHECK-LABEL: func.func @tanh_gelu
// CHECK: qforge.matmul
// CHECK-NOT: activation(gelu)
// CHECK: math.tanh
func.func @tanh_gelu(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32, 0.1>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32, 0.1>> to tensor<3x2xf32>
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %m = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%m : tensor<4x2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%v: f32, %o: f32):
    %k = arith.constant 0.7978845608 : f32
    %a = arith.constant 0.044715 : f32
    %half = arith.constant 0.5 : f32
    %one = arith.constant 1.0 : f32
    %v2 = arith.mulf %v, %v : f32
    %v3 = arith.mulf %v2, %v : f32
    %t0 = arith.mulf %a, %v3 : f32
    %t1 = arith.addf %v, %t0 : f32
    %t2 = arith.mulf %k, %t1 : f32
    %t3 = math.tanh %t2 : f32
    %t4 = arith.addf %one, %t3 : f32
    %t5 = arith.mulf %half, %t4 : f32
    %g = arith.mulf %v, %t5 : f32
    linalg.yield %g : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
