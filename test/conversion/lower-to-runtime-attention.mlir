// RUN: qforge-opt %s --qforge-lower-to-runtime --canonicalize --split-input-file | FileCheck %s

// Heads split out of [seq, hidden] activations by [1, 0, 2] transposes, and
// merged back by one: no transpose is left; the call reads q, k, v and
// writes its result in place through strides (batch stride = head dim 32,
// row stride = heads * 32 = 64).
// CHECK-LABEL: func.func @heads_in_place
// CHECK-NOT: linalg.transpose
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<8x2x32xf16>
// CHECK: bufferization.to_buffer %arg0
// CHECK: call @qforge_rt_m_attention(%c2_i64, %c8_i64, %c8_i64, %c32_i64, %c1_i32, %cst, %c0_i32, %c0_i32, %{{[0-9]+}}, %c32_i64, %c64_i64, %{{[0-9]+}}, %c32_i64, %c64_i64, %{{[0-9]+}}, %c32_i64, %c64_i64, %{{[0-9]+}}, %c32_i64, %c64_i64)
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
// CHECK: call @qforge_rt_m_attention(%c3_i64, %c4_i64, %c6_i64, %c64_i64, %c2_i32, %cst, %c0_i32, %c0_i32, %{{[0-9]+}}, %c256_i64, %c64_i64, %{{[0-9]+}}, %c384_i64, %c64_i64, %{{[0-9]+}}, %c384_i64, %c64_i64, %{{[0-9]+}}, %c256_i64, %c64_i64)
// CHECK: return
func.func @contiguous(%q: tensor<3x4x64xbf16>, %k: tensor<3x6x64xbf16>, %v: tensor<3x6x64xbf16>) -> tensor<3x4x64xbf16> {
  %o = qforge.attention %q, %k, %v scale 0.125 : tensor<3x4x64xbf16>, tensor<3x6x64xbf16>, tensor<3x6x64xbf16> -> tensor<3x4x64xbf16>
  return %o : tensor<3x4x64xbf16>
}

// -----

// A dynamic sequence length: every size comes from the q/k/v sources (the
// transposes are erased), the result buffer is sized from q's.
// CHECK-LABEL: func.func @dynamic_seq
// CHECK-SAME: (%[[Q:.*]]: tensor<?x2x32xf16>, %[[K:.*]]: tensor<?x2x32xf16>, %[[V:.*]]: tensor<?x2x32xf16>)
// CHECK-NOT: linalg.transpose
// The value rows must equal the key rows: a run-time check.
// CHECK: call @qforge_rt_m_check_size(
// CHECK: %[[SQ:.*]] = tensor.dim %[[Q]], %c0
// CHECK: %[[OUT:.*]] = memref.alloc(%[[SQ]]) : memref<?x2x32xf16>
// CHECK: call @qforge_rt_m_attention(%c2_i64, %{{.*}}, %{{.*}}, %c32_i64, %c1_i32, %cst, %c0_i32, %c0_i32, %{{[0-9]+}}, %c32_i64, %c64_i64,
// CHECK: return %{{.*}} : tensor<?x2x32xf16>
func.func @dynamic_seq(%q: tensor<?x2x32xf16>, %k: tensor<?x2x32xf16>, %v: tensor<?x2x32xf16>) -> tensor<?x2x32xf16> {
  %c0 = arith.constant 0 : index
  %s = tensor.dim %q, %c0 : tensor<?x2x32xf16>
  %skv = tensor.dim %k, %c0 : tensor<?x2x32xf16>
  %eq = tensor.empty(%s) : tensor<2x?x32xf16>
  %ek = tensor.empty(%skv) : tensor<2x?x32xf16>
  %qh = linalg.transpose ins(%q : tensor<?x2x32xf16>) outs(%eq : tensor<2x?x32xf16>) permutation = [1, 0, 2]
  %kh = linalg.transpose ins(%k : tensor<?x2x32xf16>) outs(%ek : tensor<2x?x32xf16>) permutation = [1, 0, 2]
  %vh = linalg.transpose ins(%v : tensor<?x2x32xf16>) outs(%ek : tensor<2x?x32xf16>) permutation = [1, 0, 2]
  %o = qforge.attention %qh, %kh, %vh scale 0.125 : tensor<2x?x32xf16>, tensor<2x?x32xf16>, tensor<2x?x32xf16> -> tensor<2x?x32xf16>
  %em = tensor.empty(%s) : tensor<?x2x32xf16>
  %m = linalg.transpose ins(%o : tensor<2x?x32xf16>) outs(%em : tensor<?x2x32xf16>) permutation = [1, 0, 2]
  return %m : tensor<?x2x32xf16>
}

// -----

// causal is passed as 1.
// CHECK-LABEL: func.func @causal
// CHECK: call @qforge_rt_m_attention(%c1_i64, %c4_i64, %c4_i64, %c32_i64, %c1_i32, %cst, %c1_i32, %c0_i32, %{{[0-9]+}}
func.func @causal(%q: tensor<1x4x32xf16>, %k: tensor<1x4x32xf16>, %v: tensor<1x4x32xf16>) -> tensor<1x4x32xf16> {
  %o = qforge.attention %q, %k, %v scale 0.125 causal : tensor<1x4x32xf16>, tensor<1x4x32xf16>, tensor<1x4x32xf16> -> tensor<1x4x32xf16>
  return %o : tensor<1x4x32xf16>
}

// -----

// int8 is passed as mode 1 (QFORGE_ATTENTION_INT8), after causal.
// CHECK-LABEL: func.func @int8
// CHECK: call @qforge_rt_m_attention(%c1_i64, %c4_i64, %c4_i64, %c32_i64, %c1_i32, %cst, %c0_i32, %c1_i32, %{{[0-9]+}}
func.func @int8(%q: tensor<1x4x32xf16>, %k: tensor<1x4x32xf16>, %v: tensor<1x4x32xf16>) -> tensor<1x4x32xf16> {
  %o = qforge.attention %q, %k, %v scale 0.125 int8 : tensor<1x4x32xf16>, tensor<1x4x32xf16>, tensor<1x4x32xf16> -> tensor<1x4x32xf16>
  return %o : tensor<1x4x32xf16>
}

// -----

// Q, K and V as column slices of one [8, 192] projection (the siblings of
// qforge-fuse-sibling-matmuls): read in place from the projection's buffer,
// row stride 192, from columns 0, 64 and 128 (0, 128 and 256 bytes in).
// CHECK-LABEL: func.func @column_slices
// CHECK-NOT: tensor.extract_slice
// CHECK: %[[BUF:.*]] = bufferization.to_buffer %arg0 read_only : tensor<8x192xf16>
// CHECK: arith.addi %{{.*}}, %c128_i64
// CHECK: arith.addi %{{.*}}, %c256_i64
// CHECK: call @qforge_rt_m_attention(%c2_i64, %c8_i64, %c8_i64, %c32_i64, %c1_i32, %cst, %c0_i32, %c0_i32, %{{[0-9]+}}, %c32_i64, %c192_i64, %{{[0-9]+}}, %c32_i64, %c192_i64, %{{[0-9]+}}, %c32_i64, %c192_i64, %{{[0-9]+}}, %c32_i64, %c64_i64)
// CHECK-NOT: tensor.extract_slice
func.func @column_slices(%qkv: tensor<8x192xf16>) -> tensor<8x2x32xf16> {
  %q = tensor.extract_slice %qkv[0, 0] [8, 64] [1, 1] : tensor<8x192xf16> to tensor<8x64xf16>
  %k = tensor.extract_slice %qkv[0, 64] [8, 64] [1, 1] : tensor<8x192xf16> to tensor<8x64xf16>
  %v = tensor.extract_slice %qkv[0, 128] [8, 64] [1, 1] : tensor<8x192xf16> to tensor<8x64xf16>
  %qs = tensor.expand_shape %q [[0], [1, 2]] output_shape [8, 2, 32] : tensor<8x64xf16> into tensor<8x2x32xf16>
  %ks = tensor.expand_shape %k [[0], [1, 2]] output_shape [8, 2, 32] : tensor<8x64xf16> into tensor<8x2x32xf16>
  %vs = tensor.expand_shape %v [[0], [1, 2]] output_shape [8, 2, 32] : tensor<8x64xf16> into tensor<8x2x32xf16>
  %e = tensor.empty() : tensor<2x8x32xf16>
  %qh = linalg.transpose ins(%qs : tensor<8x2x32xf16>) outs(%e : tensor<2x8x32xf16>) permutation = [1, 0, 2]
  %kh = linalg.transpose ins(%ks : tensor<8x2x32xf16>) outs(%e : tensor<2x8x32xf16>) permutation = [1, 0, 2]
  %vh = linalg.transpose ins(%vs : tensor<8x2x32xf16>) outs(%e : tensor<2x8x32xf16>) permutation = [1, 0, 2]
  %o = qforge.attention %qh, %kh, %vh scale 0.125 : tensor<2x8x32xf16>, tensor<2x8x32xf16>, tensor<2x8x32xf16> -> tensor<2x8x32xf16>
  %em = tensor.empty() : tensor<8x2x32xf16>
  %m = linalg.transpose ins(%o : tensor<2x8x32xf16>) outs(%em : tensor<8x2x32xf16>) permutation = [1, 0, 2]
  return %m : tensor<8x2x32xf16>
}

// -----

// A slice of some rows only is not a strided view of whole rows: it is read
// as its own (contiguous) tensor, row stride 64.
// CHECK-LABEL: func.func @row_slice
// CHECK: tensor.extract_slice %arg0[1, 0] [8, 64] [1, 1]
// CHECK: call @qforge_rt_m_attention(%c2_i64, %c8_i64, %c8_i64, %c32_i64, %c1_i32, %cst, %c0_i32, %c0_i32, %{{[0-9]+}}, %c32_i64, %c64_i64,
func.func @row_slice(%x: tensor<9x192xf16>, %k: tensor<8x2x32xf16>) -> tensor<2x8x32xf16> {
  %q = tensor.extract_slice %x[1, 0] [8, 64] [1, 1] : tensor<9x192xf16> to tensor<8x64xf16>
  %qs = tensor.expand_shape %q [[0], [1, 2]] output_shape [8, 2, 32] : tensor<8x64xf16> into tensor<8x2x32xf16>
  %e = tensor.empty() : tensor<2x8x32xf16>
  %qh = linalg.transpose ins(%qs : tensor<8x2x32xf16>) outs(%e : tensor<2x8x32xf16>) permutation = [1, 0, 2]
  %kh = linalg.transpose ins(%k : tensor<8x2x32xf16>) outs(%e : tensor<2x8x32xf16>) permutation = [1, 0, 2]
  %o = qforge.attention %qh, %kh, %kh scale 0.125 : tensor<2x8x32xf16>, tensor<2x8x32xf16>, tensor<2x8x32xf16> -> tensor<2x8x32xf16>
  return %o : tensor<2x8x32xf16>
}

// -----

// A column slice whose rows, not columns, are split (sequence blocks of 4
// rows as the heads' axis) is not a view with row stride 192: it is read as
// its own contiguous tensor, row stride 4 * 32 = 128.
// CHECK-LABEL: func.func @rows_split
// CHECK: tensor.extract_slice %arg0[0, 0] [8, 32] [1, 1]
// CHECK: call @qforge_rt_m_attention(%c4_i64, %c2_i64, %c8_i64, %c32_i64, %c1_i32, %cst, %c0_i32, %c0_i32, %{{[0-9]+}}, %c32_i64, %c128_i64,
func.func @rows_split(%x: tensor<8x192xf16>, %k: tensor<4x8x32xf16>) -> tensor<4x2x32xf16> {
  %q = tensor.extract_slice %x[0, 0] [8, 32] [1, 1] : tensor<8x192xf16> to tensor<8x32xf16>
  %qs = tensor.expand_shape %q [[0, 1], [2]] output_shape [2, 4, 32] : tensor<8x32xf16> into tensor<2x4x32xf16>
  %e = tensor.empty() : tensor<4x2x32xf16>
  %qh = linalg.transpose ins(%qs : tensor<2x4x32xf16>) outs(%e : tensor<4x2x32xf16>) permutation = [1, 0, 2]
  %o = qforge.attention %qh, %k, %k scale 0.125 : tensor<4x2x32xf16>, tensor<4x8x32xf16>, tensor<4x8x32xf16> -> tensor<4x2x32xf16>
  return %o : tensor<4x2x32xf16>
}
