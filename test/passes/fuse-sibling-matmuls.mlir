// RUN: qforge-opt %s -split-input-file --qforge-fuse-sibling-matmuls | FileCheck %s

// Q, K and V projections of one quantized activation ([N, K] weights): one
// matmul over the weights, scales and biases concatenated along N, each
// result its column slice.
// CHECK-LABEL: func.func @qkv
// CHECK-NOT: tensor<2x3xi8>
// CHECK-DAG: %[[W:.*]] = arith.constant dense<{{\[}}[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12], [13, 14, 15], [16, 17, 18]]> : tensor<6x3xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00]> : tensor<6xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[-1.000000e+00, -2.000000e+00, -3.000000e+00, -4.000000e+00, -5.000000e+00, -6.000000e+00]> : tensor<6xf32>
// CHECK: %[[Y:.*]] = qforge.matmul %arg0, %[[W]] rhs_transposed lhs_scale(%arg1 : tensor<4xf32>) rhs_scale(%[[S]] : tensor<6xf32>) bias(%[[B]] : tensor<6xf32>) : tensor<4x3xi8>, tensor<6x3xi8> -> tensor<4x6xf16>
// CHECK: %[[Q:.*]] = tensor.extract_slice %[[Y]][0, 0] [4, 2] [1, 1] : tensor<4x6xf16> to tensor<4x2xf16>
// CHECK: %[[K:.*]] = tensor.extract_slice %[[Y]][0, 2] [4, 2] [1, 1] : tensor<4x6xf16> to tensor<4x2xf16>
// CHECK: %[[V:.*]] = tensor.extract_slice %[[Y]][0, 4] [4, 2] [1, 1] : tensor<4x6xf16> to tensor<4x2xf16>
// CHECK-NOT: qforge.matmul
// CHECK: return %[[Q]], %[[K]], %[[V]]
func.func @qkv(%x: tensor<4x3xi8>, %sx: tensor<4xf32>) -> (tensor<4x2xf16>, tensor<4x2xf16>, tensor<4x2xf16>) {
  %wq = arith.constant dense<[[1, 2, 3], [4, 5, 6]]> : tensor<2x3xi8>
  %wk = arith.constant dense<[[7, 8, 9], [10, 11, 12]]> : tensor<2x3xi8>
  %wv = arith.constant dense<[[13, 14, 15], [16, 17, 18]]> : tensor<2x3xi8>
  %sq = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %sk = arith.constant dense<[3.0, 4.0]> : tensor<2xf32>
  %sv = arith.constant dense<[5.0, 6.0]> : tensor<2xf32>
  %bq = arith.constant dense<[-1.0, -2.0]> : tensor<2xf32>
  %bk = arith.constant dense<[-3.0, -4.0]> : tensor<2xf32>
  %bv = arith.constant dense<[-5.0, -6.0]> : tensor<2xf32>
  %q = qforge.matmul %x, %wq rhs_transposed lhs_scale(%sx : tensor<4xf32>) rhs_scale(%sq : tensor<2xf32>) bias(%bq : tensor<2xf32>) : tensor<4x3xi8>, tensor<2x3xi8> -> tensor<4x2xf16>
  %k = qforge.matmul %x, %wk rhs_transposed lhs_scale(%sx : tensor<4xf32>) rhs_scale(%sk : tensor<2xf32>) bias(%bk : tensor<2xf32>) : tensor<4x3xi8>, tensor<2x3xi8> -> tensor<4x2xf16>
  %v = qforge.matmul %x, %wv rhs_transposed lhs_scale(%sx : tensor<4xf32>) rhs_scale(%sv : tensor<2xf32>) bias(%bv : tensor<2xf32>) : tensor<4x3xi8>, tensor<2x3xi8> -> tensor<4x2xf16>
  return %q, %k, %v : tensor<4x2xf16>, tensor<4x2xf16>, tensor<4x2xf16>
}

// -----

// [K, N] weights concatenate row by row; a splat weight is expanded; a
// per-tensor weight scale becomes one per channel; i32 biases; siblings of
// different widths.
// CHECK-LABEL: func.func @row_major_weights
// CHECK-DAG: %[[W:.*]] = arith.constant dense<{{\[}}[1, 2, 7], [3, 4, 7]]> : tensor<2x3xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<[5.000000e-01, 5.000000e-01, 2.500000e-01]> : tensor<3xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[1, 2, 3]> : tensor<3xi32>
// CHECK: %[[Y:.*]] = qforge.matmul %arg0, %[[W]] rhs_scale(%[[S]] : tensor<3xf32>) bias(%[[B]] : tensor<3xi32>) activation(relu) : tensor<5x2xi8>, tensor<2x3xi8> -> tensor<5x3xf32>
// CHECK: tensor.extract_slice %[[Y]][0, 0] [5, 2] [1, 1] : tensor<5x3xf32> to tensor<5x2xf32>
// CHECK: tensor.extract_slice %[[Y]][0, 2] [5, 1] [1, 1] : tensor<5x3xf32> to tensor<5x1xf32>
func.func @row_major_weights(%x: tensor<5x2xi8>) -> (tensor<5x2xf32>, tensor<5x1xf32>) {
  %wa = arith.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>
  %wb = arith.constant dense<7> : tensor<2x1xi8>
  %sa = arith.constant dense<0.5> : tensor<1xf32>
  %sb = arith.constant dense<0.25> : tensor<1xf32>
  %ba = arith.constant dense<[1, 2]> : tensor<2xi32>
  %bb = arith.constant dense<3> : tensor<1xi32>
  %a = qforge.matmul %x, %wa rhs_scale(%sa : tensor<1xf32>) bias(%ba : tensor<2xi32>) activation(relu) : tensor<5x2xi8>, tensor<2x2xi8> -> tensor<5x2xf32>
  %b = qforge.matmul %x, %wb rhs_scale(%sb : tensor<1xf32>) bias(%bb : tensor<1xi32>) activation(relu) : tensor<5x2xi8>, tensor<2x1xi8> -> tensor<5x1xf32>
  return %a, %b : tensor<5x2xf32>, tensor<5x1xf32>
}

// -----

// Rows unknown until run time: the slices take the fused result's.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK: %[[Y:.*]] = qforge.matmul %arg0, %{{.*}} rhs_transposed : tensor<?x2xi8>, tensor<2x2xi8> -> tensor<?x2xf32>
// CHECK: %[[M:.*]] = tensor.dim %[[Y]], %c0
// CHECK: tensor.extract_slice %[[Y]][0, 0] [%[[M]], 1] [1, 1] : tensor<?x2xf32> to tensor<?x1xf32>
// CHECK: tensor.extract_slice %[[Y]][0, 1] [%[[M]], 1] [1, 1] : tensor<?x2xf32> to tensor<?x1xf32>
func.func @dynamic_rows(%x: tensor<?x2xi8>) -> (tensor<?x1xf32>, tensor<?x1xf32>) {
  %wa = arith.constant dense<[[1, 2]]> : tensor<1x2xi8>
  %wb = arith.constant dense<[[3, 4]]> : tensor<1x2xi8>
  %a = qforge.matmul %x, %wa rhs_transposed : tensor<?x2xi8>, tensor<1x2xi8> -> tensor<?x1xf32>
  %b = qforge.matmul %x, %wb rhs_transposed : tensor<?x2xi8>, tensor<1x2xi8> -> tensor<?x1xf32>
  return %a, %b : tensor<?x1xf32>, tensor<?x1xf32>
}

// -----

// Weights in dense_resource blobs (as torch-mlir writes large weights and
// qforge-quantize-weights keeps them): the fused weight is a blob too, its
// bytes the siblings' rows in order; the scales a dense attribute.
// CHECK-LABEL: func.func @resource_weights
// CHECK-DAG: %[[S:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>
// CHECK-DAG: %[[W:.*]] = arith.constant dense_resource<wa_fused> : tensor<3x3xi8>
// CHECK: qforge.matmul %arg0, %[[W]] rhs_transposed lhs_scale(%arg1 : tensor<4xf32>) rhs_scale(%[[S]] : tensor<3xf32>) : tensor<4x3xi8>, tensor<3x3xi8> -> tensor<4x3xf16>
// CHECK-COUNT-2: tensor.extract_slice
// CHECK: wa_fused: "0x01000000010203040506070809"
func.func @resource_weights(%x: tensor<4x3xi8>, %sx: tensor<4xf32>) -> (tensor<4x2xf16>, tensor<4x1xf16>) {
  %wa = arith.constant dense_resource<wa> : tensor<2x3xi8>
  %wb = arith.constant dense_resource<wb> : tensor<1x3xi8>
  %sa = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %sb = arith.constant dense<3.0> : tensor<1xf32>
  %a = qforge.matmul %x, %wa rhs_transposed lhs_scale(%sx : tensor<4xf32>) rhs_scale(%sa : tensor<2xf32>) : tensor<4x3xi8>, tensor<2x3xi8> -> tensor<4x2xf16>
  %b = qforge.matmul %x, %wb rhs_transposed lhs_scale(%sx : tensor<4xf32>) rhs_scale(%sb : tensor<1xf32>) : tensor<4x3xi8>, tensor<1x3xi8> -> tensor<4x1xf16>
  return %a, %b : tensor<4x2xf16>, tensor<4x1xf16>
}
{-#
  dialect_resources: {
    builtin: {
      wa: "0x01000000010203040506",
      wb: "0x01000000070809"
    }
  }
#-}

// -----

// What does not concatenate exactly stays apart: another activation, another
// lhs scale, a weight that is not a constant, a bias on one only, a raw i32
// result (no epilogue to share), another input.
// CHECK-LABEL: func.func @not_siblings
// CHECK-NOT: tensor.extract_slice
// CHECK-COUNT-7: qforge.matmul
// CHECK-NOT: tensor.extract_slice
func.func @not_siblings(%x: tensor<4x2xi8>, %y: tensor<4x2xi8>, %s1: tensor<4xf32>, %s2: tensor<4xf32>, %w: tensor<2x2xi8>)
    -> (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xi32>, tensor<4x2xf32>) {
  %c = arith.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>
  %bias = arith.constant dense<1.0> : tensor<2xf32>
  %a = qforge.matmul %x, %c lhs_scale(%s1 : tensor<4xf32>) : tensor<4x2xi8>, tensor<2x2xi8> -> tensor<4x2xf32>
  %b = qforge.matmul %x, %c lhs_scale(%s1 : tensor<4xf32>) activation(gelu) : tensor<4x2xi8>, tensor<2x2xi8> -> tensor<4x2xf32>
  %d = qforge.matmul %x, %c lhs_scale(%s2 : tensor<4xf32>) : tensor<4x2xi8>, tensor<2x2xi8> -> tensor<4x2xf32>
  %e = qforge.matmul %x, %w lhs_scale(%s1 : tensor<4xf32>) : tensor<4x2xi8>, tensor<2x2xi8> -> tensor<4x2xf32>
  %f = qforge.matmul %x, %c lhs_scale(%s1 : tensor<4xf32>) bias(%bias : tensor<2xf32>) : tensor<4x2xi8>, tensor<2x2xi8> -> tensor<4x2xf32>
  %g = qforge.matmul %x, %c : tensor<4x2xi8>, tensor<2x2xi8> -> tensor<4x2xi32>
  %h = qforge.matmul %y, %c lhs_scale(%s1 : tensor<4xf32>) : tensor<4x2xi8>, tensor<2x2xi8> -> tensor<4x2xf32>
  return %a, %b, %d, %e, %f, %g, %h : tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xi32>, tensor<4x2xf32>
}

// -----

// Float linears as torch-mlir writes them (weight [N, K] behind a
// transpose, a zero fill, x + bias[n]): one transpose of the concatenated
// weight, one matmul, one bias op over the concatenated bias, slices.
// CHECK-LABEL: func.func @float_linears
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<3x2xf16>
// CHECK: %[[WT:.*]] = linalg.transpose ins(%[[W]] : tensor<3x2xf16>) outs(%{{.*}} : tensor<2x3xf16>) permutation = [1, 0]
// CHECK: %[[B:.*]] = arith.constant dense<[5.000000e-01, 2.500000e-01, 1.250000e-01]> : tensor<3xf16>
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f16) outs(%{{.*}} : tensor<4x3xf16>)
// CHECK: %[[MM:.*]] = linalg.matmul ins(%arg0, %[[WT]] : tensor<4x2xf16>, tensor<2x3xf16>) outs(%[[Z]] : tensor<4x3xf16>)
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[MM]], %[[B]] : tensor<4x3xf16>, tensor<3xf16>)
// CHECK: arith.addf
// CHECK: %[[A:.*]] = tensor.extract_slice %[[Y]][0, 0] [4, 2] [1, 1] : tensor<4x3xf16> to tensor<4x2xf16>
// CHECK: %[[C:.*]] = tensor.extract_slice %[[Y]][0, 2] [4, 1] [1, 1] : tensor<4x3xf16> to tensor<4x1xf16>
// CHECK-NOT: linalg.matmul
// CHECK: return %[[A]], %[[C]]
#id = affine_map<(d0, d1) -> (d0, d1)>
#n = affine_map<(d0, d1) -> (d1)>
func.func @float_linears(%x: tensor<4x2xf16>) -> (tensor<4x2xf16>, tensor<4x1xf16>) {
  %zero = arith.constant 0.0 : f16
  %wa = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf16>
  %wb = arith.constant dense<[[5.0, 6.0]]> : tensor<1x2xf16>
  %ba = arith.constant dense<[0.5, 0.25]> : tensor<2xf16>
  %bb = arith.constant dense<0.125> : tensor<1xf16>
  %ea = tensor.empty() : tensor<2x2xf16>
  %ta = linalg.transpose ins(%wa : tensor<2x2xf16>) outs(%ea : tensor<2x2xf16>) permutation = [1, 0]
  %oa = tensor.empty() : tensor<4x2xf16>
  %fa = linalg.fill ins(%zero : f16) outs(%oa : tensor<4x2xf16>) -> tensor<4x2xf16>
  %ma = linalg.matmul ins(%x, %ta : tensor<4x2xf16>, tensor<2x2xf16>) outs(%fa : tensor<4x2xf16>) -> tensor<4x2xf16>
  %ya = linalg.generic {indexing_maps = [#id, #n, #id], iterator_types = ["parallel", "parallel"]}
      ins(%ma, %ba : tensor<4x2xf16>, tensor<2xf16>) outs(%oa : tensor<4x2xf16>) {
  ^bb0(%in: f16, %b: f16, %out: f16):
    %s = arith.addf %in, %b : f16
    linalg.yield %s : f16
  } -> tensor<4x2xf16>
  %eb = tensor.empty() : tensor<2x1xf16>
  %tb = linalg.transpose ins(%wb : tensor<1x2xf16>) outs(%eb : tensor<2x1xf16>) permutation = [1, 0]
  %ob = tensor.empty() : tensor<4x1xf16>
  %fb = linalg.fill ins(%zero : f16) outs(%ob : tensor<4x1xf16>) -> tensor<4x1xf16>
  %mb = linalg.matmul ins(%x, %tb : tensor<4x2xf16>, tensor<2x1xf16>) outs(%fb : tensor<4x1xf16>) -> tensor<4x1xf16>
  %yb = linalg.generic {indexing_maps = [#id, #n, #id], iterator_types = ["parallel", "parallel"]}
      ins(%mb, %bb : tensor<4x1xf16>, tensor<1xf16>) outs(%ob : tensor<4x1xf16>) {
  ^bb0(%in: f16, %b: f16, %out: f16):
    %s = arith.addf %in, %b : f16
    linalg.yield %s : f16
  } -> tensor<4x1xf16>
  return %ya, %yb : tensor<4x2xf16>, tensor<4x1xf16>
}

// -----

// Float siblings stay apart when their bias ops compute differently (one
// adds a ReLU), and a matmul into a non-zero fill is not a candidate.
// CHECK-LABEL: func.func @float_not_siblings
// CHECK-NOT: tensor.extract_slice
// CHECK-COUNT-3: linalg.matmul
// CHECK-NOT: tensor.extract_slice
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#n2 = affine_map<(d0, d1) -> (d1)>
func.func @float_not_siblings(%x: tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %e = tensor.empty() : tensor<4x2xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %m0 = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x2xf32>) outs(%f0 : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y0 = linalg.generic {indexing_maps = [#id2, #n2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%m0, %b : tensor<4x2xf32>, tensor<2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%in: f32, %bi: f32, %out: f32):
    %s = arith.addf %in, %bi : f32
    linalg.yield %s : f32
  } -> tensor<4x2xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %m1 = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x2xf32>) outs(%f1 : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y1 = linalg.generic {indexing_maps = [#id2, #n2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%m1, %b : tensor<4x2xf32>, tensor<2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%in: f32, %bi: f32, %out: f32):
    %s = arith.addf %in, %bi : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<4x2xf32>
  %f2 = linalg.fill ins(%one : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %m2 = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x2xf32>) outs(%f2 : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y0, %y1, %m2 : tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>
}
