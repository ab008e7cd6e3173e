// RUN: qforge-opt %s -split-input-file --qforge-quantize-weights | FileCheck %s
// RUN: qforge-opt %s -split-input-file --qforge-quantize-weights="granularity=per-tensor" | FileCheck %s --check-prefix=TENSOR

// Weight [K, N]: the output channel is axis 1. Column 0 = {1, 0.5, -1.27}:
// scale 1.27/127 = 0.01, codes 100, 50, -127. Column 1 = {-2, 4, 0}: scale
// 4/127, -2/s = -63.5 rounds to even: -64.
// CHECK-LABEL: func.func @matmul_kn
// CHECK: %[[C:.*]] = arith.constant dense<{{\[\[}}100, -64], [50, 127], [-127, 0]]> : tensor<3x2xi8>
// CHECK: %[[S:.*]] = quant.scast %[[C]] : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8<-127:127>:f32:1, {0.0099999997764825821,0.031496062874794006}>>
// CHECK: %[[D:.*]] = qforge.dequantize %[[S]]
// CHECK: linalg.matmul ins(%{{.*}}, %[[D]] :
// CHECK-NOT: arith.constant dense<{{.*}}> : tensor<3x2xf32>
// TENSOR-LABEL: func.func @matmul_kn
// TENSOR: arith.constant dense<{{\[\[}}32, -64], [16, 127], [-40, 0]]> : tensor<3x2xi8>
// TENSOR: quant.scast %{{.*}} : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8<-127:127>:f32, 0.031496062874794006>>
func.func @matmul_kn(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[1.0, -2.0], [0.5, 4.0], [-1.27, 0.0]]> : tensor<3x2xf32>
  %init = tensor.empty() : tensor<2x2xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%init : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

// torch-mlir's nn.Linear: weight [out, in] -> linalg.transpose -> matmul. The
// channel is axis 0 of the constant; the QDQ sits at the constant and the
// transpose is kept after it.
// CHECK-LABEL: func.func @linear_through_transpose
// CHECK: %[[C:.*]] = arith.constant dense<{{\[\[}}100, 50, -127], [-64, 127, 0]]> : tensor<2x3xi8>
// CHECK: %[[S:.*]] = quant.scast %[[C]] : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8<-127:127>:f32:0, {0.0099999997764825821,0.031496062874794006}>>
// CHECK: %[[D:.*]] = qforge.dequantize %[[S]]
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[D]] : tensor<2x3xf32>)
// CHECK: linalg.matmul ins(%{{.*}}, %[[T]] :
func.func @linear_through_transpose(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[1.0, 0.5, -1.27], [-2.0, 4.0, 0.0]]> : tensor<2x3xf32>
  %e = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) permutation = [1, 0]
  %init = tensor.empty() : tensor<2x2xf32>
  %0 = linalg.matmul ins(%x, %wt : tensor<2x3xf32>, tensor<3x2xf32>) outs(%init : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

// linalg.matmul with a transposed-B indexing map: the weight is [N, K].
// CHECK-LABEL: func.func @matmul_transposed_map
// CHECK: quant.scast %{{.*}} : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8<-127:127>:f32:0,
// CHECK: linalg.matmul indexing_maps
func.func @matmul_transposed_map(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.0, 0.5, -1.27], [-2.0, 4.0, 0.0]]> : tensor<2x3xf32>
  %init = tensor.empty() : tensor<4x2xf32>
  %0 = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                      affine_map<(m, n, k) -> (n, k)>,
                                      affine_map<(m, n, k) -> (m, n)>]
       ins(%x, %w : tensor<4x3xf32>, tensor<2x3xf32>) outs(%init : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

// batch_matmul: weight [B, K, N], channel axis 2 (scales shared over B).
// CHECK-LABEL: func.func @batch_matmul
// CHECK: quant.scast %{{.*}} : tensor<2x3x4xi8> to tensor<2x3x4x!quant.uniform<i8<-127:127>:f32:2,
// CHECK: linalg.batch_matmul
func.func @batch_matmul(%x: tensor<2x5x3xf32>) -> tensor<2x5x4xf32> {
  %w = arith.constant dense<0.25> : tensor<2x3x4xf32>
  %init = tensor.empty() : tensor<2x5x4xf32>
  %0 = linalg.batch_matmul ins(%x, %w : tensor<2x5x3xf32>, tensor<2x3x4xf32>) outs(%init : tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
  return %0 : tensor<2x5x4xf32>
}

// -----

// conv_2d_nhwc_hwcf: filter [KH, KW, C, F], channel axis 3.
// CHECK-LABEL: func.func @conv_nhwc_hwcf
// CHECK: quant.scast %{{.*}} : tensor<3x3x2x4xi8> to tensor<3x3x2x4x!quant.uniform<i8<-127:127>:f32:3,
// CHECK: linalg.conv_2d_nhwc_hwcf
func.func @conv_nhwc_hwcf(%x: tensor<1x8x8x2xf32>) -> tensor<1x6x6x4xf32> {
  %w = arith.constant dense<0.5> : tensor<3x3x2x4xf32>
  %init = tensor.empty() : tensor<1x6x6x4xf32>
  %0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
       ins(%x, %w : tensor<1x8x8x2xf32>, tensor<3x3x2x4xf32>) outs(%init : tensor<1x6x6x4xf32>) -> tensor<1x6x6x4xf32>
  return %0 : tensor<1x6x6x4xf32>
}

// -----

// conv_2d_nchw_fchw: filter [F, C, KH, KW], channel axis 0.
// CHECK-LABEL: func.func @conv_nchw_fchw
// CHECK: quant.scast %{{.*}} : tensor<4x2x3x3xi8> to tensor<4x2x3x3x!quant.uniform<i8<-127:127>:f32:0,
// CHECK: linalg.conv_2d_nchw_fchw
func.func @conv_nchw_fchw(%x: tensor<1x2x8x8xf32>) -> tensor<1x4x6x6xf32> {
  %w = arith.constant dense<0.5> : tensor<4x2x3x3xf32>
  %init = tensor.empty() : tensor<1x4x6x6xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
       ins(%x, %w : tensor<1x2x8x8xf32>, tensor<4x2x3x3xf32>) outs(%init : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// -----

// One constant feeding two matmuls is quantized once; its use by a float op
// (the addf) keeps the float constant.
// CHECK-LABEL: func.func @shared_and_float_use
// CHECK-DAG: %[[F:.*]] = arith.constant dense<{{.*}}> : tensor<2x2xf32>
// CHECK-DAG: %[[Q:.*]] = arith.constant dense<{{.*}}> : tensor<2x2xi8>
// CHECK-COUNT-1: qforge.dequantize
// CHECK-NOT: qforge.dequantize
// CHECK: arith.addf %{{.*}}, %[[F]]
func.func @shared_and_float_use(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %init = tensor.empty() : tensor<2x2xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%init : tensor<2x2xf32>) -> tensor<2x2xf32>
  %1 = linalg.matmul ins(%0, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%init : tensor<2x2xf32>) -> tensor<2x2xf32>
  %2 = arith.addf %x, %w : tensor<2x2xf32>
  return %0, %1, %2 : tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// A weight reached through tensor.cast, collapse_shape and a transposing
// linalg.generic: [N, 1, K] -> [N, K] -> [K, N]; the channel is axis 0 of the
// constant.
// CHECK-LABEL: func.func @through_cast_collapse_generic
// CHECK: quant.scast %{{.*}} : tensor<2x1x3xi8> to tensor<2x1x3x!quant.uniform<i8<-127:127>:f32:0,
// CHECK: tensor.cast
// CHECK: tensor.collapse_shape
// CHECK: linalg.generic
// CHECK: linalg.matmul
func.func @through_cast_collapse_generic(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[[1.0, 0.5, -1.27]], [[-2.0, 4.0, 0.0]]]> : tensor<2x1x3xf32>
  %c = tensor.cast %w : tensor<2x1x3xf32> to tensor<?x1x3xf32>
  %s = tensor.cast %c : tensor<?x1x3xf32> to tensor<2x1x3xf32>
  %f = tensor.collapse_shape %s [[0, 1], [2]] : tensor<2x1x3xf32> into tensor<2x3xf32>
  %e = tensor.empty() : tensor<3x2xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(i, j) -> (j, i)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%f : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<3x2xf32>
  %init = tensor.empty() : tensor<4x2xf32>
  %0 = linalg.matmul ins(%x, %t : tensor<4x3xf32>, tensor<3x2xf32>) outs(%init : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

// Weights that are not constants, and activation x activation products,
// are left alone.
// CHECK-LABEL: func.func @not_constant
// CHECK-NOT: qforge.dequantize
// CHECK: linalg.matmul
func.func @not_constant(%x: tensor<2x3xf32>, %w: tensor<3x2xf32>) -> tensor<2x2xf32> {
  %init = tensor.empty() : tensor<2x2xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%init : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

// An all-zero output channel gets scale 1 (never 0 or NaN).
// CHECK-LABEL: func.func @zero_channel
// CHECK: arith.constant dense<{{\[\[}}0, 127], [0, -127]]> : tensor<2x2xi8>
// CHECK: !quant.uniform<i8<-127:127>:f32:1, {1.000000e+00,0.0039370078593492508}>
func.func @zero_channel(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[0.0, 0.5], [0.0, -0.5]]> : tensor<2x2xf32>
  %init = tensor.empty() : tensor<2x2xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%init : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

// f16 weights: the expressed type is f16 and the dequantize yields f16.
// CHECK-LABEL: func.func @f16_weight
// CHECK: quant.scast %{{.*}} : tensor<2x2xi8> to tensor<2x2x!quant.uniform<i8<-127:127>:f16:1,
// CHECK: qforge.dequantize %{{.*}} to tensor<2x2xf16>
func.func @f16_weight(%x: tensor<2x2xf16>) -> tensor<2x2xf16> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf16>
  %init = tensor.empty() : tensor<2x2xf16>
  %0 = linalg.matmul ins(%x, %w : tensor<2x2xf16>, tensor<2x2xf16>) outs(%init : tensor<2x2xf16>) -> tensor<2x2xf16>
  return %0 : tensor<2x2xf16>
}

// -----

// A dense_resource weight stays a blob: [[1, 2], [-1, 0.5]] as f32.
// CHECK-LABEL: func.func @resource_weight
// CHECK: arith.constant dense_resource<weight_i8> : tensor<2x2xi8>
// CHECK: quant.scast
// CHECK: weight_i8: "0x010000007F7F8120"
func.func @resource_weight(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense_resource<weight> : tensor<2x2xf32>
  %init = tensor.empty() : tensor<2x2xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%init : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      weight: "0x040000000000803F00000040000080BF0000003F"
    }
  }
#-}
