// qforge-fuse-qdq on f16 and bf16 graphs (a model exported in half
// precision): the integer qforge.matmul writes the graph's float type, its
// epilogue vectors become f32 (constants converted exactly).
// RUN: qforge-opt %s -split-input-file --qforge-fuse-qdq="remarks=true" -verify-diagnostics | FileCheck %s
// RUN: qforge-opt %s -split-input-file --qforge-fuse-qdq="dynamic=true" 2>/dev/null | FileCheck %s --check-prefix=DYN

// Static: activation and weight quantized with an f16 expressed type; the
// f16 bias constant and the relu fold into the epilogue.
// CHECK-LABEL: func.func @static_f16
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[5.000000e-01, -2.500000e-01]> : tensor<2xf32>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<[2.000000e-04, 5.9999997E-4]> : tensor<2xf32>
// CHECK: %[[Y:.*]] = qforge.matmul %{{.*}}, %{{.*}} rhs_transposed rhs_scale(%[[S]] : tensor<2xf32>) bias(%[[B]] : tensor<2xf32>) activation(relu) : tensor<4x3xi8>, tensor<2x3xi8> -> tensor<4x2xf16>
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
func.func @static_f16(%x: tensor<4x3xf16>) -> tensor<4x2xf16> {
  %c = arith.constant dense<[[100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
  %s = quant.scast %c : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8<-127:127>:f16:0, {0.01, 0.03}>>
  %w = qforge.dequantize %s : tensor<2x3x!quant.uniform<i8<-127:127>:f16:0, {0.01, 0.03}>> to tensor<2x3xf16>
  %q = qforge.quantize %x : tensor<4x3xf16> to tensor<4x3x!quant.uniform<i8<-127:127>:f16, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8<-127:127>:f16, 0.02>> to tensor<4x3xf16>
  %zero = arith.constant 0.0 : f16
  %e = tensor.empty() : tensor<4x2xf16>
  %f = linalg.fill ins(%zero : f16) outs(%e : tensor<4x2xf16>) -> tensor<4x2xf16>
  %m = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
       ins(%d, %w : tensor<4x3xf16>, tensor<2x3xf16>) outs(%f : tensor<4x2xf16>) -> tensor<4x2xf16>
  %b = arith.constant dense<[0.5, -0.25]> : tensor<2xf16>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%m, %b : tensor<4x2xf16>, tensor<2xf16>) outs(%e : tensor<4x2xf16>) {
  ^bb0(%v: f16, %bias: f16, %o: f16):
    %a = arith.addf %v, %bias : f16
    %r = arith.maximumf %a, %zero : f16
    linalg.yield %r : f16
  } -> tensor<4x2xf16>
  return %y : tensor<4x2xf16>
}

// -----

// Dynamic: a bf16 activation quantized per token at run time (scales f32);
// the result stays bf16.
// DYN-LABEL: func.func @dynamic_bf16
// DYN: %[[Q:.*]], %[[S:.*]] = qforge.dynamic_quantize per_token %arg0 : tensor<4x3xbf16> -> tensor<4x3xi8>, tensor<4xf32>
// DYN: qforge.matmul %[[Q]], %{{.*}} lhs_scale(%[[S]] : tensor<4xf32>) rhs_scale(%{{.*}} : tensor<2xf32>) : tensor<4x3xi8>, tensor<3x2xi8> -> tensor<4x2xbf16>
// Without dynamic=true a float activation is left alone.
// CHECK-LABEL: func.func @dynamic_bf16
// CHECK: linalg.matmul
func.func @dynamic_bf16(%x: tensor<4x3xbf16>) -> tensor<4x2xbf16> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:bf16:1, {0.1, 0.2}>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:bf16:1, {0.1, 0.2}>> to tensor<3x2xbf16>
  %zero = arith.constant 0.0 : bf16
  %e = tensor.empty() : tensor<4x2xbf16>
  %f = linalg.fill ins(%zero : bf16) outs(%e : tensor<4x2xbf16>) -> tensor<4x2xbf16>
  %y = linalg.matmul ins(%x, %w : tensor<4x3xbf16>, tensor<3x2xbf16>) outs(%f : tensor<4x2xbf16>) -> tensor<4x2xbf16>
  return %y : tensor<4x2xbf16>
}

// -----

// An f16 bias that is not a constant cannot become the f32 epilogue
// vector: the matmul is fused, the bias add stays a generic.
// CHECK-LABEL: func.func @runtime_f16_bias
// CHECK: %[[Y:.*]] = qforge.matmul {{.*}} -> tensor<4x2xf16>
// CHECK-NOT: bias(
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[Y]], %arg1
func.func @runtime_f16_bias(%x: tensor<4x3xf16>, %b: tensor<2xf16>) -> tensor<4x2xf16> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f16, 0.1>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f16, 0.1>> to tensor<3x2xf16>
  %q = qforge.quantize %x : tensor<4x3xf16> to tensor<4x3x!quant.uniform<i8:f16, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f16, 0.02>> to tensor<4x3xf16>
  %zero = arith.constant 0.0 : f16
  %e = tensor.empty() : tensor<4x2xf16>
  %f = linalg.fill ins(%zero : f16) outs(%e : tensor<4x2xf16>) -> tensor<4x2xf16>
  %m = linalg.matmul ins(%d, %w : tensor<4x3xf16>, tensor<3x2xf16>) outs(%f : tensor<4x2xf16>) -> tensor<4x2xf16>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%m, %b : tensor<4x2xf16>, tensor<2xf16>) outs(%e : tensor<4x2xf16>) {
  ^bb0(%v: f16, %bias: f16, %o: f16):
    %a = arith.addf %v, %bias : f16
    linalg.yield %a : f16
  } -> tensor<4x2xf16>
  return %y : tensor<4x2xf16>
}

// -----

// A result type the runtime's epilogue does not write stays float.
// CHECK-LABEL: func.func @f64_result
// CHECK: linalg.matmul
func.func @f64_result(%x: tensor<4x3xf32>) -> tensor<4x2xf64> {
  %c = arith.constant dense<1> : tensor<3x2xi8>
  %s = quant.scast %c : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32, 0.1>>
  %w = qforge.dequantize %s : tensor<3x2x!quant.uniform<i8:f32, 0.1>> to tensor<3x2xf32>
  %q = qforge.quantize %x : tensor<4x3xf32> to tensor<4x3x!quant.uniform<i8:f32, 0.02>>
  %d = qforge.dequantize %q : tensor<4x3x!quant.uniform<i8:f32, 0.02>> to tensor<4x3xf32>
  %zero = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<4x2xf64>
  %f = linalg.fill ins(%zero : f64) outs(%e : tensor<4x2xf64>) -> tensor<4x2xf64>
  // expected-remark @+1 {{not fused into qforge.matmul: the result is not f32, f16 or bf16}}
  %y = linalg.matmul ins(%d, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf64>) -> tensor<4x2xf64>
  return %y : tensor<4x2xf64>
}
