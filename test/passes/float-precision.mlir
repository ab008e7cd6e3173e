// RUN: qforge-opt %s -split-input-file --qforge-float-precision=type=f16 | FileCheck %s
// RUN: qforge-opt %s -split-input-file --qforge-float-precision=type=bf16 | FileCheck %s --check-prefix=BF16
// RUN: not qforge-opt %s -split-input-file --qforge-float-precision=type=f64 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: error: qforge-float-precision: type must be f16 or bf16, got 'f64'

// The signature stays f32; the body computes in f16, converted on entry
// and on return; constants are rounded to f16.
// CHECK-LABEL: func.func @bias_relu(%arg0: tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK: %[[IN:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<4x8xf32>) outs(%{{.*}} : tensor<4x8xf16>)
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: arith.constant dense<5.000000e-01> : tensor<8xf16>
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[IN]], %{{.*}} : tensor<4x8xf16>, tensor<8xf16>)
// CHECK: ^bb0(%{{.*}}: f16, %{{.*}}: f16, %{{.*}}: f16):
// CHECK: arith.maximumf %{{.*}}, %{{.*}} : f16
// CHECK: %[[OUT:.*]] = linalg.generic {{.*}} ins(%[[Y]] : tensor<4x8xf16>) outs(%{{.*}} : tensor<4x8xf32>)
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: return %[[OUT]] : tensor<4x8xf32>
// BF16-LABEL: func.func @bias_relu(%arg0: tensor<4x8xf32>) -> tensor<4x8xf32>
// BF16: arith.truncf %{{.*}} : f32 to bf16
func.func @bias_relu(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %b = arith.constant dense<0.5> : tensor<8xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x, %b : tensor<4x8xf32>, tensor<8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %s = arith.addf %v, %bias : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// An int8 layer: the quantized types' expressed type follows, the matmul's
// result is f16, and what the runtime reads as f32 stays f32 (scales, bias,
// dynamic scales).
// CHECK-LABEL: func.func @int8_layer
// CHECK: qforge.quantize %{{.*}} : tensor<4x8xf16> to tensor<4x8x!quant.uniform<i8:f16, 1.000000e-01>>
// CHECK: qforge.matmul {{.*}} rhs_scale(%{{.*}} : tensor<2xf32>) bias(%{{.*}} : tensor<2xf32>) : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xf16>
// CHECK: qforge.dynamic_quantize per_token %{{.*}} : tensor<4x2xf16> -> tensor<4x2xi8>, tensor<4xf32>
func.func @int8_layer(%x: tensor<4x8xf32>, %w: tensor<8x2xi8>) -> (tensor<4x2xi8>, tensor<4xf32>) {
  %q = qforge.quantize %x : tensor<4x8xf32> to tensor<4x8x!quant.uniform<i8:f32, 0.1>>
  %c = quant.scast %q : tensor<4x8x!quant.uniform<i8:f32, 0.1>> to tensor<4x8xi8>
  %s = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %b = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = qforge.matmul %c, %w rhs_scale(%s : tensor<2xf32>) bias(%b : tensor<2xf32>) : tensor<4x8xi8>, tensor<8x2xi8> -> tensor<4x2xf32>
  %r, %rs = qforge.dynamic_quantize per_token %y : tensor<4x2xf32> -> tensor<4x2xi8>, tensor<4xf32>
  return %r, %rs : tensor<4x2xi8>, tensor<4xf32>
}
