// RUN: qforge-opt %s -split-input-file --qforge-quantize-weights -verify-diagnostics

func.func @nan_weight(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  // expected-note @+1 {{weight constant defined here}}
  %w = arith.constant dense<[[1.0, 2.0], [0x7FC00000, 4.0]]> : tensor<2x2xf32>
  %init = tensor.empty() : tensor<2x2xf32>
  // expected-error @+1 {{cannot quantize the weight of 'linalg.matmul': NaN at [1, 0]}}
  %0 = linalg.matmul ins(%x, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%init : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @inf_weight(%x: tensor<1x4x4x1xf32>) -> tensor<1x4x4x2xf32> {
  // expected-note @+1 {{weight constant defined here}}
  %w = arith.constant dense<[[[[1.0, 0xFF800000]]]]> : tensor<1x1x1x2xf32>
  %init = tensor.empty() : tensor<1x4x4x2xf32>
  // expected-error @+1 {{cannot quantize the weight of 'linalg.conv_2d_nhwc_hwcf': Inf at [0, 0, 0, 1]}}
  %0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
       ins(%x, %w : tensor<1x4x4x1xf32>, tensor<1x1x1x2xf32>) outs(%init : tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  return %0 : tensor<1x4x4x2xf32>
}

// -----

// An expand_shape that splits the output channel into two dimensions cannot
// carry a per-axis scale: the weight stays float, with a remark saying why.
func.func @split_channel(%x: tensor<2x3xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<0.5> : tensor<3x2x2xf32>
  %f = tensor.collapse_shape %w [[0], [1, 2]] : tensor<3x2x2xf32> into tensor<3x4xf32>
  %init = tensor.empty() : tensor<2x4xf32>
  // expected-remark @+1 {{weight left in float: the layout op 'tensor.collapse_shape' splits or merges the quantization axis}}
  %0 = linalg.matmul ins(%x, %f : tensor<2x3xf32>, tensor<3x4xf32>) outs(%init : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// A dense_resource naming a blob the module does not carry: the weight stays
// float, with a remark (found by the IR fuzzer: this used to crash).
func.func @missing_resource(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense_resource<absent> : tensor<2x2xf32>
  %init = tensor.empty() : tensor<2x2xf32>
  // expected-remark @+1 {{weight left in float: its constant's data cannot be read}}
  %0 = linalg.matmul ins(%x, %w : tensor<2x2xf32>, tensor<2x2xf32>) outs(%init : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}
