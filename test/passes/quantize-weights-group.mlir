// RUN: qforge-opt %s -split-input-file --qforge-quantize-weights="granularity=per-group group-size=2" | FileCheck %s
// RUN: qforge-opt %s -split-input-file --qforge-quantize-weights="granularity=per-group group-size=2 bits=4" | FileCheck %s --check-prefix=INT4

// nn.Linear weight [N=2, K=4], groups of 2 along K: one scale per (n, k/2).
// Row 0 = {1, 0.5 | -1.27, 0.25}: scales 1/127, 1.27/127.
// CHECK-LABEL: func.func @linear_groups
// CHECK: arith.constant dense<{{\[\[}}127, 64, -127, 25], [-64, 127, 0, 127]]> : tensor<2x4xi8>
// CHECK: quant.scast %{{.*}} : tensor<2x4xi8> to tensor<2x4x!quant.uniform<i8<-127:127>:f32:{0:1, 1:2}, {{\{\{}}0.00787401571, 0.00999999977}, {0.0314960629, 0.00787401571}}>>
// CHECK: qforge.dequantize
// CHECK: linalg.transpose
// 4 bits: codes in [-7, 7], i4 storage, scale max/7. In f32, 0.5 / (1/7)
// is 3.49999976 (1/7 rounds up), hence 3, not a tie.
// INT4-LABEL: func.func @linear_groups
// INT4: arith.constant dense<{{\[\[}}7, 3, -7, 1], [-3, 7, 0, 7]]> : tensor<2x4xi4>
// INT4: quant.scast %{{.*}} : tensor<2x4xi4> to tensor<2x4x!quant.uniform<i4<-7:7>:f32:{0:1, 1:2}
func.func @linear_groups(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 0.5, -1.27, 0.25], [-2.0, 4.0, 0.0, 1.0]]> : tensor<2x4xf32>
  %e = tensor.empty() : tensor<4x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x4xf32>) outs(%e : tensor<4x2xf32>) permutation = [1, 0]
  %init = tensor.empty() : tensor<3x2xf32>
  %0 = linalg.matmul ins(%x, %wt : tensor<3x4xf32>, tensor<4x2xf32>) outs(%init : tensor<3x2xf32>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// Convolution groups run along the input channels C (axis 2 of HWCF).
// CHECK-LABEL: func.func @conv_groups
// CHECK: quant.scast %{{.*}} : tensor<1x1x4x3xi8> to tensor<1x1x4x3x!quant.uniform<i8<-127:127>:f32:{3:1, 2:2}
func.func @conv_groups(%x: tensor<1x4x4x4xf32>) -> tensor<1x4x4x3xf32> {
  %w = arith.constant dense<0.5> : tensor<1x1x4x3xf32>
  %init = tensor.empty() : tensor<1x4x4x3xf32>
  %0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
       ins(%x, %w : tensor<1x4x4x4xf32>, tensor<1x1x4x3xf32>) outs(%init : tensor<1x4x4x3xf32>) -> tensor<1x4x4x3xf32>
  return %0 : tensor<1x4x4x3xf32>
}
