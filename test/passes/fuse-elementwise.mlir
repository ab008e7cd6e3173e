// RUN: qforge-opt %s --qforge-fuse-elementwise | FileCheck %s
#id2 = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
#col = affine_map<(i, j) -> (j)>

// Softmax over rows of x * 0.125: three ops that each read x (the scale
// and exp(x - max) recomputed where used), the fills kept.
// CHECK-LABEL: func.func @softmax
// CHECK: linalg.fill
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%arg0 : {{.*}})
// CHECK:   arith.mulf
// CHECK:   arith.maximumf
// CHECK: linalg.fill
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%arg0, %[[MAX]] : {{.*}})
// CHECK:   arith.mulf
// CHECK:   arith.subf
// CHECK:   math.exp
// CHECK:   arith.addf
// CHECK: %[[P:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]} ins(%arg0, %[[MAX]], %[[SUM]] : {{.*}})
// CHECK:   math.exp
// CHECK:   arith.divf
// CHECK-NOT: linalg.generic
// CHECK: return %[[P]]
func.func @softmax(%x: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %c = arith.constant 0.125 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<4x64xf32>
  %s = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x64xf32>) outs(%e0 : tensor<4x64xf32>) {
  ^bb0(%v: f32, %o: f32):
    %m = arith.mulf %v, %c : f32
    linalg.yield %m : f32
  } -> tensor<4x64xf32>
  %e1 = tensor.empty() : tensor<4xf32>
  %f1 = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<4xf32>) -> tensor<4xf32>
  %max = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
      ins(%s : tensor<4x64xf32>) outs(%f1 : tensor<4xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %r = arith.maximumf %v, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %e2 = tensor.empty() : tensor<4x64xf32>
  %ex = linalg.generic {indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%s, %max : tensor<4x64xf32>, tensor<4xf32>) outs(%e2 : tensor<4x64xf32>) {
  ^bb0(%v: f32, %m: f32, %o: f32):
    %d = arith.subf %v, %m : f32
    %x1 = math.exp %d : f32
    linalg.yield %x1 : f32
  } -> tensor<4x64xf32>
  %e3 = tensor.empty() : tensor<4xf32>
  %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<4xf32>) -> tensor<4xf32>
  %sum = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
      ins(%ex : tensor<4x64xf32>) outs(%f3 : tensor<4xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %r = arith.addf %v, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %e4 = tensor.empty() : tensor<4x64xf32>
  %p = linalg.generic {indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%ex, %sum : tensor<4x64xf32>, tensor<4xf32>) outs(%e4 : tensor<4x64xf32>) {
  ^bb0(%v: f32, %t: f32, %o: f32):
    %q = arith.divf %v, %t : f32
    linalg.yield %q : f32
  } -> tensor<4x64xf32>
  return %p : tensor<4x64xf32>
}

// a + b read by four ops: recomputing it in each would read 8 tensors
// instead of 2 + 1 written + 4 read: it stays, computed once.
// CHECK-LABEL: func.func @shared_sum
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1 : {{.*}})
// CHECK-COUNT-4: linalg.generic {{.*}} ins(%[[R]] : {{.*}})
func.func @shared_sum(%a: tensor<4x64xf32>, %b: tensor<4x64xf32>) -> (tensor<4x64xf32>, tensor<4x64xf32>, tensor<4x64xf32>, tensor<4x64xf32>) {
  %e = tensor.empty() : tensor<4x64xf32>
  %r = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%a, %b : tensor<4x64xf32>, tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %s = arith.addf %u, %v : f32
    linalg.yield %s : f32
  } -> tensor<4x64xf32>
  %y0 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r : tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%v: f32, %o: f32):
    %t = math.exp %v : f32
    linalg.yield %t : f32
  } -> tensor<4x64xf32>
  %y1 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r : tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%v: f32, %o: f32):
    %t = math.tanh %v : f32
    linalg.yield %t : f32
  } -> tensor<4x64xf32>
  %y2 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r : tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%v: f32, %o: f32):
    %t = math.sqrt %v : f32
    linalg.yield %t : f32
  } -> tensor<4x64xf32>
  %y3 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r : tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%v: f32, %o: f32):
    %t = math.erf %v : f32
    linalg.yield %t : f32
  } -> tensor<4x64xf32>
  return %y0, %y1, %y2, %y3 : tensor<4x64xf32>, tensor<4x64xf32>, tensor<4x64xf32>, tensor<4x64xf32>
}

// A bias add, split into heads (expand_shape) and transposed: one op that
// reads the unsplit input through the permutation.
// CHECK-LABEL: func.func @bias_heads
// CHECK-NOT: linalg.transpose
// CHECK: linalg.generic {indexing_maps = [#[[PERM:.*]], #{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel", "parallel"]}
// CHECK: arith.addf
// CHECK-NOT: linalg.generic
func.func @bias_heads(%x: tensor<8x64xf32>, %b: tensor<64xf32>) -> tensor<4x8x16xf32> {
  %e = tensor.empty() : tensor<8x64xf32>
  %y = linalg.generic {indexing_maps = [#id2, #col, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x, %b : tensor<8x64xf32>, tensor<64xf32>) outs(%e : tensor<8x64xf32>) {
  ^bb0(%v: f32, %c: f32, %o: f32):
    %s = arith.addf %v, %c : f32
    linalg.yield %s : f32
  } -> tensor<8x64xf32>
  %h = tensor.expand_shape %y [[0], [1, 2]] output_shape [8, 4, 16] : tensor<8x64xf32> into tensor<8x4x16xf32>
  %et = tensor.empty() : tensor<4x8x16xf32>
  %t = linalg.transpose ins(%h : tensor<8x4x16xf32>) outs(%et : tensor<4x8x16xf32>) permutation = [1, 0, 2]
  return %t : tensor<4x8x16xf32>
}

// Dynamic sizes: the bytes are unknown, so a producer with two users is not
// recomputed in each.
// CHECK-LABEL: func.func @dynamic_two_users
// CHECK: %[[E:.*]] = linalg.generic {{.*}} ins(%arg0 : {{.*}})
// CHECK:   math.exp
// CHECK: linalg.generic {{.*}} ins(%[[E]] : {{.*}})
// CHECK: linalg.generic {{.*}} ins(%[[E]] : {{.*}})
func.func @dynamic_two_users(%x: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x64xf32>
  %e = tensor.empty(%n) : tensor<?x64xf32>
  %ex = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x64xf32>) outs(%e : tensor<?x64xf32>) {
  ^bb0(%v: f32, %o: f32):
    %t = math.exp %v : f32
    linalg.yield %t : f32
  } -> tensor<?x64xf32>
  %y0 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%ex : tensor<?x64xf32>) outs(%e : tensor<?x64xf32>) {
  ^bb0(%v: f32, %o: f32):
    %t = math.sqrt %v : f32
    linalg.yield %t : f32
  } -> tensor<?x64xf32>
  %y1 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%ex : tensor<?x64xf32>) outs(%e : tensor<?x64xf32>) {
  ^bb0(%v: f32, %o: f32):
    %t = math.tanh %v : f32
    linalg.yield %t : f32
  } -> tensor<?x64xf32>
  return %y0, %y1 : tensor<?x64xf32>, tensor<?x64xf32>
}

// One zero fill read by two row sums (a layernorm's mean and variance
// after CSE): each sum gets its own fill, right before it, so that
// bufferization gives each accumulator its own buffer without a copy and
// qforge-parallel-to-gpu folds each fill into its reduction's kernel.
// CHECK-LABEL: func.func @shared_fill
// CHECK: %[[F1:.*]] = linalg.fill
// CHECK-NEXT: %[[S1:.*]] = linalg.generic {{.*}} outs(%[[F1]] :
// CHECK: %[[F2:.*]] = linalg.fill
// CHECK-NEXT: linalg.generic {{.*}} outs(%[[F2]] :
// CHECK-NOT: linalg.fill
func.func @shared_fill(%x: tensor<4x8xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %s = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x8xf32>) outs(%f : tensor<4xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %r = arith.addf %v, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %q = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x8xf32>) outs(%f : tensor<4xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %sq = arith.mulf %v, %v : f32
    %r = arith.addf %sq, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %s, %q : tensor<4xf32>, tensor<4xf32>
}
