// RUN: qforge-opt %s --qforge-lower-to-runtime --canonicalize --split-input-file | FileCheck %s

// Heads split out of [seq, hidden] activations by [1, 0, 2] transposes, and
// merged back by one: no transpose is left; the call reads q, k, v and
// writes its result in place through strides (batch stride = head dim 32,
// row stride = heads * 32 = 64).
// CHECK-LABEL: func.func @heads_in_place
// CHECK-NOT: linalg.transpose
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<8x2x32xf16>
// CHECK: bufferization.to_buffer %arg0
// CHECK: call @qforge_rt_m_attention(%c2_i64, %c8_i64, %c8_i64, %c32_i64, %c1_i32, %cst, %{{[0-9]+}}, %c32_i64, %c64_i64, %{{[0-9]+}}, %c32_i64, %c64_i64, %{{[0-9]+}}, %c32_i64, %c64_i64, %{{[0-9]+}}, %c32_i64, %c64_i64)
// CHECK: %[[T:.*]] = bufferization.to_tensor %[[OUT]]
// CHECK-NOT: linalg.transpose
// CHECK: return %[[T]] : tensor<8x2x32xf16>
func.func @heads_in_place(%q: tensor<8x2x32xf16>, %k: tensor<8x2x32xf16>, %v: tensor<8x2x32xf16>) -> tensor<8x2x32xf16> {
  %e = tensor.empty() : tensor<2x8x32xf16>
  %qh = linalg.transpose ins(%q : tensor<8x2x32xf16>) outs(%e : tensor<2x8x32xf16>) permutation = [1, 0, 2]
  %kh = linalg.transpose ins(%k : tensor<8x2x32xf16>) outs(%e : tensor<2x8x32xf16>) permutation = [1, 0, 2]
  %vh = linalg.transpose ins(%v : tensor<8x2x32xf16>) outs(%e : tensor<2x8x32xf16>) permutation = [1, 0, 2]
  %o = qforge.attention %qh, %kh, %vh scale 0.125 : tensor<2x8x32xf16>, tensor<2x8x32xf16>, tensor<2x8x32xf16> -> tensor<2x8x32xf16>
  %em = tensor.empty() : tensor<8x2x32xf16>
  %m = linalg.transpose ins(%o : tensor<2x8x32xf16>) outs(%em : tensor<8x2x32xf16>) permutation = [1, 0, 2]
  return %m : tensor<8x2x32xf16>
}

// -----

// Contiguous [batch, rows, head_dim] tensors: batch stride rows * 64, row
// stride 64; bf16 is dtype 2; 6 keys for 4 queries.
// CHECK-LABEL: func.func @contiguous
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<3x4x64xbf16>
// CHECK: call @qforge_rt_m_attention(%c3_i64, %c4_i64, %c6_i64, %c64_i64, %c2_i32, %cst, %{{[0-9]+}}, %c256_i64, %c64_i64, %{{[0-9]+}}, %c384_i64, %c64_i64, %{{[0-9]+}}, %c384_i64, %c64_i64, %{{[0-9]+}}, %c256_i64, %c64_i64)
// CHECK: return
func.func @contiguous(%q: tensor<3x4x64xbf16>, %k: tensor<3x6x64xbf16>, %v: tensor<3x6x64xbf16>) -> tensor<3x4x64xbf16> {
  %o = qforge.attention %q, %k, %v scale 0.125 : tensor<3x4x64xbf16>, tensor<3x6x64xbf16>, tensor<3x6x64xbf16> -> tensor<3x4x64xbf16>
  return %o : tensor<3x4x64xbf16>
}
