// RUN: qforge-opt %s -split-input-file --qforge-fuse-qdq | FileCheck %s

// A GELU matmul whose only user quantizes rows longer than 2048 per token
// (the runtime's quantization kernel) leaves its GELU to the quantization.
// CHECK-LABEL: func.func @long_rows
// CHECK: %[[Y:.*]] = qforge.matmul %{{.*}}, %{{.*}} rhs_transposed lhs_scale(%{{.*}} : tensor<4xf32>) rhs_scale(%{{.*}} : tensor<4104xf32>) :
// CHECK: qforge.dynamic_quantize per_token %[[Y]] activation(gelu) : tensor<4x4104xf16>
func.func @long_rows(%a: tensor<4x64xi8>, %w: tensor<4104x64xi8>, %sa: tensor<4xf32>,
                     %sw: tensor<4104xf32>) -> (tensor<4x4104xi8>, tensor<4xf32>) {
  %y = qforge.matmul %a, %w rhs_transposed lhs_scale(%sa : tensor<4xf32>) rhs_scale(%sw : tensor<4104xf32>)
         activation(gelu) : tensor<4x64xi8>, tensor<4104x64xi8> -> tensor<4x4104xf16>
  %q, %s = qforge.dynamic_quantize per_token %y : tensor<4x4104xf16> -> tensor<4x4104xi8>, tensor<4xf32>
  return %q, %s : tensor<4x4104xi8>, tensor<4xf32>
}

// -----

// Rows of unknown length may be long: moved too.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK: qforge.matmul %{{.*}}, %{{.*}} :
// CHECK: qforge.dynamic_quantize per_token %{{.*}} activation(gelu) : tensor<4x?xf32>
func.func @dynamic_rows(%a: tensor<4x64xi8>, %w: tensor<64x?xi8>) -> (tensor<4x?xi8>, tensor<4xf32>) {
  %y = qforge.matmul %a, %w activation(gelu) : tensor<4x64xi8>, tensor<64x?xi8> -> tensor<4x?xf32>
  %q, %s = qforge.dynamic_quantize per_token %y : tensor<4x?xf32> -> tensor<4x?xi8>, tensor<4xf32>
  return %q, %s : tensor<4x?xi8>, tensor<4xf32>
}

// -----

// Rows of 2048 quantize as generated kernels, where the GELU would run
// twice per element: it stays in the GEMM's epilogue.
// CHECK-LABEL: func.func @short_rows
// CHECK: qforge.matmul {{.*}} activation(gelu)
// CHECK: qforge.dynamic_quantize per_token %{{.*}} : tensor<4x2048xf16>
func.func @short_rows(%a: tensor<4x64xi8>, %w: tensor<64x2048xi8>) -> (tensor<4x2048xi8>, tensor<4xf32>) {
  %y = qforge.matmul %a, %w activation(gelu) : tensor<4x64xi8>, tensor<64x2048xi8> -> tensor<4x2048xf16>
  %q, %s = qforge.dynamic_quantize per_token %y : tensor<4x2048xf16> -> tensor<4x2048xi8>, tensor<4xf32>
  return %q, %s : tensor<4x2048xi8>, tensor<4xf32>
}

// -----

// The GELU output has another user (it is returned): it stays.
// CHECK-LABEL: func.func @two_users
// CHECK: qforge.matmul {{.*}} activation(gelu)
// CHECK: qforge.dynamic_quantize per_token %{{.*}} : tensor<4x4104xf16>
func.func @two_users(%a: tensor<4x64xi8>, %w: tensor<64x4104xi8>)
    -> (tensor<4x4104xi8>, tensor<4xf32>, tensor<4x4104xf16>) {
  %y = qforge.matmul %a, %w activation(gelu) : tensor<4x64xi8>, tensor<64x4104xi8> -> tensor<4x4104xf16>
  %q, %s = qforge.dynamic_quantize per_token %y : tensor<4x4104xf16> -> tensor<4x4104xi8>, tensor<4xf32>
  return %q, %s, %y : tensor<4x4104xi8>, tensor<4xf32>, tensor<4x4104xf16>
}

// -----

// Per-tensor quantization and relu keep their epilogues (only GELU costs
// the GEMM; per-tensor is not the runtime's per-row kernel).
// CHECK-LABEL: func.func @per_tensor_and_relu
// CHECK: qforge.matmul {{.*}} activation(gelu)
// CHECK: qforge.dynamic_quantize per_tensor %{{.*}} : tensor<4x4104xf16>
// CHECK: qforge.matmul {{.*}} activation(relu)
// CHECK: qforge.dynamic_quantize per_token %{{.*}} : tensor<4x4104xf16>
func.func @per_tensor_and_relu(%a: tensor<4x64xi8>, %w: tensor<64x4104xi8>)
    -> (tensor<4x4104xi8>, tensor<1xf32>, tensor<4x4104xi8>, tensor<4xf32>) {
  %y = qforge.matmul %a, %w activation(gelu) : tensor<4x64xi8>, tensor<64x4104xi8> -> tensor<4x4104xf16>
  %q, %s = qforge.dynamic_quantize per_tensor %y : tensor<4x4104xf16> -> tensor<4x4104xi8>, tensor<1xf32>
  %r = qforge.matmul %a, %w activation(relu) : tensor<4x64xi8>, tensor<64x4104xi8> -> tensor<4x4104xf16>
  %q2, %s2 = qforge.dynamic_quantize per_token %r : tensor<4x4104xf16> -> tensor<4x4104xi8>, tensor<4xf32>
  return %q, %s, %q2, %s2 : tensor<4x4104xi8>, tensor<1xf32>, tensor<4x4104xi8>, tensor<4xf32>
}
