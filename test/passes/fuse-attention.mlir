// RUN: qforge-opt %s --qforge-fuse-attention --split-input-file | FileCheck %s
// RUN: qforge-opt %s --qforge-fuse-attention="head-dims=16" --split-input-file | FileCheck %s --check-prefix=DIM16
// linalg.softmax decomposed first (its max starts from NaN under maxnumf)
// is still recognised:
// RUN: qforge-opt %s --qforge-decompose-aggregates --qforge-fuse-attention --split-input-file | FileCheck %s --check-prefix=DECOMP
// With int8, the fused op computes both products in int8:
// RUN: qforge-opt %s --qforge-fuse-attention="int8=true" --split-input-file | FileCheck %s --check-prefix=INT8
// int8-min-keys: the 8-key chain below it stays float.
// RUN: qforge-opt %s --qforge-fuse-attention="int8=true int8-min-keys=16" --split-input-file | FileCheck %s --check-prefix=INT8MIN
// int8-min-keys-narrow: the minimum for head dims below 128 (this one's
// is 32): 8 keys are enough with it at 8, not at 16, whatever
// int8-min-keys says.
// RUN: qforge-opt %s --qforge-fuse-attention="int8=true int8-min-keys=16 int8-min-keys-narrow=8" --split-input-file | FileCheck %s --check-prefix=NARROW8
// RUN: qforge-opt %s --qforge-fuse-attention="int8=true int8-min-keys=8 int8-min-keys-narrow=16" --split-input-file | FileCheck %s --check-prefix=INT8MIN
// What is matched but not fused says why (default head dims):
// RUN: qforge-opt %s --qforge-fuse-attention --split-input-file --verify-diagnostics -o /dev/null

#id3 = affine_map<(b, i, j) -> (b, i, j)>
#row = affine_map<(b, i, j) -> (b, i)>

// As examples/transformer/make_block.py writes it (and torch-mlir): heads
// split by transposes, K^T a transpose of the projection, the scale inside
// the exponential. K's transpose is composed into one [1, 0, 2].
// CHECK-LABEL: func.func @block_attention
// CHECK-SAME: (%[[Q:.*]]: tensor<2x8x32xf16>, %[[K:.*]]: tensor<8x2x32xf16>, %[[V:.*]]: tensor<2x8x32xf16>)
// CHECK: %[[KH:.*]] = linalg.transpose ins(%[[K]] : tensor<8x2x32xf16>) outs(%{{.*}} : tensor<2x8x32xf16>) permutation = [1, 0, 2]
// CHECK: %[[O:.*]] = qforge.attention %[[Q]], %[[KH]], %[[V]] scale 0.176757813 : tensor<2x8x32xf16>, tensor<2x8x32xf16>, tensor<2x8x32xf16> -> tensor<2x8x32xf16>
// CHECK-NOT: linalg.generic
// CHECK-NOT: linalg.batch_matmul
// CHECK: return %[[O]]
// DIM16-LABEL: func.func @block_attention
// DIM16-NOT: qforge.attention
// INT8-LABEL: func.func @block_attention
// INT8: qforge.attention %{{.*}}, %{{.*}}, %{{.*}} scale 0.176757813 int8 : tensor<2x8x32xf16>
// INT8MIN-LABEL: func.func @block_attention
// INT8MIN: qforge.attention %{{.*}}, %{{.*}}, %{{.*}} scale 0.176757813 : tensor<2x8x32xf16>
// NARROW8-LABEL: func.func @block_attention
// NARROW8: qforge.attention %{{.*}}, %{{.*}}, %{{.*}} scale 0.176757813 int8 : tensor<2x8x32xf16>
func.func @block_attention(%q: tensor<2x8x32xf16>, %k: tensor<8x2x32xf16>, %v: tensor<2x8x32xf16>) -> tensor<2x8x32xf16> {
  %zero = arith.constant 0.0 : f16
  %ninf = arith.constant 0xFC00 : f16
  %scale = arith.constant 0.1767578 : f16
  %ekt = tensor.empty() : tensor<2x32x8xf16>
  %kt = linalg.transpose ins(%k : tensor<8x2x32xf16>) outs(%ekt : tensor<2x32x8xf16>) permutation = [1, 2, 0]
  %es = tensor.empty() : tensor<2x8x8xf16>
  %zs = linalg.fill ins(%zero : f16) outs(%es : tensor<2x8x8xf16>) -> tensor<2x8x8xf16>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<2x8x32xf16>, tensor<2x32x8xf16>) outs(%zs : tensor<2x8x8xf16>) -> tensor<2x8x8xf16>
  %er = tensor.empty() : tensor<2x8xf16>
  %mf = linalg.fill ins(%ninf : f16) outs(%er : tensor<2x8xf16>) -> tensor<2x8xf16>
  %m = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%s : tensor<2x8x8xf16>) outs(%mf : tensor<2x8xf16>) {
  ^bb0(%x: f16, %acc: f16):
    %r = arith.maximumf %x, %acc : f16
    linalg.yield %r : f16
  } -> tensor<2x8xf16>
  %e = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %m : tensor<2x8x8xf16>, tensor<2x8xf16>) outs(%es : tensor<2x8x8xf16>) {
  ^bb0(%x: f16, %mx: f16, %o: f16):
    %t = arith.subf %x, %mx : f16
    %u = arith.mulf %t, %scale : f16
    %r = math.exp %u : f16
    linalg.yield %r : f16
  } -> tensor<2x8x8xf16>
  %sf = linalg.fill ins(%zero : f16) outs(%er : tensor<2x8xf16>) -> tensor<2x8xf16>
  %sum = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%e : tensor<2x8x8xf16>) outs(%sf : tensor<2x8xf16>) {
  ^bb0(%x: f16, %acc: f16):
    %r = arith.addf %x, %acc : f16
    linalg.yield %r : f16
  } -> tensor<2x8xf16>
  %p = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%e, %sum : tensor<2x8x8xf16>, tensor<2x8xf16>) outs(%es : tensor<2x8x8xf16>) {
  ^bb0(%x: f16, %t: f16, %o: f16):
    %r = arith.divf %x, %t : f16
    linalg.yield %r : f16
  } -> tensor<2x8x8xf16>
  %eo = tensor.empty() : tensor<2x8x32xf16>
  %zo = linalg.fill ins(%zero : f16) outs(%eo : tensor<2x8x32xf16>) -> tensor<2x8x32xf16>
  %o = linalg.batch_matmul ins(%p, %v : tensor<2x8x8xf16>, tensor<2x8x32xf16>) outs(%zo : tensor<2x8x32xf16>) -> tensor<2x8x32xf16>
  return %o : tensor<2x8x32xf16>
}

// -----

#id3 = affine_map<(b, i, j) -> (b, i, j)>
#row = affine_map<(b, i, j) -> (b, i)>

// The scale on the scores before the softmax (divided by sqrt(d)), a plain
// exp(x - max), maxnumf, bf16; K^T given as a tensor: one [0, 2, 1]
// transpose makes K. Head dim 16 is fused only when asked for.
// CHECK-LABEL: func.func @prescaled_bf16
// CHECK-NOT: qforge.attention
// DIM16-LABEL: func.func @prescaled_bf16
// DIM16-SAME: (%[[Q:.*]]: tensor<1x4x16xbf16>, %[[KT:.*]]: tensor<1x16x6xbf16>, %[[V:.*]]: tensor<1x6x16xbf16>)
// DIM16: %[[K:.*]] = linalg.transpose ins(%[[KT]] : tensor<1x16x6xbf16>) outs(%{{.*}} : tensor<1x6x16xbf16>) permutation = [0, 2, 1]
// DIM16: qforge.attention %[[Q]], %[[K]], %[[V]] scale 2.500000e-01
func.func @prescaled_bf16(%q: tensor<1x4x16xbf16>, %kt: tensor<1x16x6xbf16>, %v: tensor<1x6x16xbf16>) -> tensor<1x4x16xbf16> {
  %zero = arith.constant 0.0 : bf16
  %ninf = arith.constant 0xFF80 : bf16
  %es = tensor.empty() : tensor<1x4x6xbf16>
  %zs = linalg.fill ins(%zero : bf16) outs(%es : tensor<1x4x6xbf16>) -> tensor<1x4x6xbf16>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<1x4x16xbf16>, tensor<1x16x6xbf16>) outs(%zs : tensor<1x4x6xbf16>) -> tensor<1x4x6xbf16>
  %x = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<1x4x6xbf16>) outs(%es : tensor<1x4x6xbf16>) {
  ^bb0(%a: bf16, %o: bf16):
    %four = arith.constant 4.0 : bf16
    %r = arith.divf %a, %four : bf16
    linalg.yield %r : bf16
  } -> tensor<1x4x6xbf16>
  %er = tensor.empty() : tensor<1x4xbf16>
  %mf = linalg.fill ins(%ninf : bf16) outs(%er : tensor<1x4xbf16>) -> tensor<1x4xbf16>
  %m = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x : tensor<1x4x6xbf16>) outs(%mf : tensor<1x4xbf16>) {
  ^bb0(%a: bf16, %acc: bf16):
    %r = arith.maxnumf %acc, %a : bf16
    linalg.yield %r : bf16
  } -> tensor<1x4xbf16>
  %e = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x, %m : tensor<1x4x6xbf16>, tensor<1x4xbf16>) outs(%es : tensor<1x4x6xbf16>) {
  ^bb0(%a: bf16, %mx: bf16, %o: bf16):
    %t = arith.subf %a, %mx : bf16
    %r = math.exp %t : bf16
    linalg.yield %r : bf16
  } -> tensor<1x4x6xbf16>
  %sf = linalg.fill ins(%zero : bf16) outs(%er : tensor<1x4xbf16>) -> tensor<1x4xbf16>
  %sum = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%e : tensor<1x4x6xbf16>) outs(%sf : tensor<1x4xbf16>) {
  ^bb0(%a: bf16, %acc: bf16):
    %r = arith.addf %a, %acc : bf16
    linalg.yield %r : bf16
  } -> tensor<1x4xbf16>
  %p = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%e, %sum : tensor<1x4x6xbf16>, tensor<1x4xbf16>) outs(%es : tensor<1x4x6xbf16>) {
  ^bb0(%a: bf16, %t: bf16, %o: bf16):
    %r = arith.divf %a, %t : bf16
    linalg.yield %r : bf16
  } -> tensor<1x4x6xbf16>
  %eo = tensor.empty() : tensor<1x4x16xbf16>
  %zo = linalg.fill ins(%zero : bf16) outs(%eo : tensor<1x4x16xbf16>) -> tensor<1x4x16xbf16>
  // expected-remark @+1 {{attention not fused: head dim 16 is not one of head-dims (32, 64, 128)}}
  %o = linalg.batch_matmul ins(%p, %v : tensor<1x4x6xbf16>, tensor<1x6x16xbf16>) outs(%zo : tensor<1x4x16xbf16>) -> tensor<1x4x16xbf16>
  return %o : tensor<1x4x16xbf16>
}

// -----

#id3 = affine_map<(b, i, j) -> (b, i, j)>
#row = affine_map<(b, i, j) -> (b, i)>

// Not fused: the probabilities are also returned (they must exist), the
// chain is f32, or the row sum does not start from 0.
// CHECK-LABEL: func.func @probs_returned
// CHECK-NOT: qforge.attention
// CHECK: return
// CHECK-LABEL: func.func @f32_chain
// CHECK-NOT: qforge.attention
// CHECK: return
// CHECK-LABEL: func.func @sum_from_one
// CHECK-NOT: qforge.attention
// CHECK: return
func.func @probs_returned(%q: tensor<1x4x32xf16>, %kt: tensor<1x32x4xf16>, %v: tensor<1x4x32xf16>) -> (tensor<1x4x32xf16>, tensor<1x4x4xf16>) {
  %zero = arith.constant 0.0 : f16
  %ninf = arith.constant 0xFC00 : f16
  %es = tensor.empty() : tensor<1x4x4xf16>
  %zs = linalg.fill ins(%zero : f16) outs(%es : tensor<1x4x4xf16>) -> tensor<1x4x4xf16>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<1x4x32xf16>, tensor<1x32x4xf16>) outs(%zs : tensor<1x4x4xf16>) -> tensor<1x4x4xf16>
  %er = tensor.empty() : tensor<1x4xf16>
  %mf = linalg.fill ins(%ninf : f16) outs(%er : tensor<1x4xf16>) -> tensor<1x4xf16>
  %m = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%s : tensor<1x4x4xf16>) outs(%mf : tensor<1x4xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.maximumf %a, %acc : f16
    linalg.yield %r : f16
  } -> tensor<1x4xf16>
  %e = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %m : tensor<1x4x4xf16>, tensor<1x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %mx: f16, %o: f16):
    %t = arith.subf %a, %mx : f16
    %r = math.exp %t : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %sf = linalg.fill ins(%zero : f16) outs(%er : tensor<1x4xf16>) -> tensor<1x4xf16>
  %sum = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%e : tensor<1x4x4xf16>) outs(%sf : tensor<1x4xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.addf %a, %acc : f16
    linalg.yield %r : f16
  } -> tensor<1x4xf16>
  %p = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%e, %sum : tensor<1x4x4xf16>, tensor<1x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %t: f16, %o: f16):
    %r = arith.divf %a, %t : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %eo = tensor.empty() : tensor<1x4x32xf16>
  %zo = linalg.fill ins(%zero : f16) outs(%eo : tensor<1x4x32xf16>) -> tensor<1x4x32xf16>
  %o = linalg.batch_matmul ins(%p, %v : tensor<1x4x4xf16>, tensor<1x4x32xf16>) outs(%zo : tensor<1x4x32xf16>) -> tensor<1x4x32xf16>
  return %o, %p : tensor<1x4x32xf16>, tensor<1x4x4xf16>
}

func.func @f32_chain(%q: tensor<1x4x32xf32>, %kt: tensor<1x32x4xf32>, %v: tensor<1x4x32xf32>) -> tensor<1x4x32xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %es = tensor.empty() : tensor<1x4x4xf32>
  %zs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<1x4x32xf32>, tensor<1x32x4xf32>) outs(%zs : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  %er = tensor.empty() : tensor<1x4xf32>
  %mf = linalg.fill ins(%ninf : f32) outs(%er : tensor<1x4xf32>) -> tensor<1x4xf32>
  %m = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%s : tensor<1x4x4xf32>) outs(%mf : tensor<1x4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x4xf32>
  %e = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %m : tensor<1x4x4xf32>, tensor<1x4xf32>) outs(%es : tensor<1x4x4xf32>) {
  ^bb0(%a: f32, %mx: f32, %o: f32):
    %t = arith.subf %a, %mx : f32
    %r = math.exp %t : f32
    linalg.yield %r : f32
  } -> tensor<1x4x4xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%er : tensor<1x4xf32>) -> tensor<1x4xf32>
  %sum = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%e : tensor<1x4x4xf32>) outs(%sf : tensor<1x4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x4xf32>
  %p = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%e, %sum : tensor<1x4x4xf32>, tensor<1x4xf32>) outs(%es : tensor<1x4x4xf32>) {
  ^bb0(%a: f32, %t: f32, %o: f32):
    %r = arith.divf %a, %t : f32
    linalg.yield %r : f32
  } -> tensor<1x4x4xf32>
  %eo = tensor.empty() : tensor<1x4x32xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
  // expected-remark @+1 {{attention not fused: f32 (the fused kernel is f16 / bf16; an f32 model keeps its exact chain)}}
  %o = linalg.batch_matmul ins(%p, %v : tensor<1x4x4xf32>, tensor<1x4x32xf32>) outs(%zo : tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
  return %o : tensor<1x4x32xf32>
}

func.func @sum_from_one(%q: tensor<1x4x32xf16>, %kt: tensor<1x32x4xf16>, %v: tensor<1x4x32xf16>) -> tensor<1x4x32xf16> {
  %zero = arith.constant 0.0 : f16
  %one = arith.constant 1.0 : f16
  %ninf = arith.constant 0xFC00 : f16
  %es = tensor.empty() : tensor<1x4x4xf16>
  %zs = linalg.fill ins(%zero : f16) outs(%es : tensor<1x4x4xf16>) -> tensor<1x4x4xf16>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<1x4x32xf16>, tensor<1x32x4xf16>) outs(%zs : tensor<1x4x4xf16>) -> tensor<1x4x4xf16>
  %er = tensor.empty() : tensor<1x4xf16>
  %mf = linalg.fill ins(%ninf : f16) outs(%er : tensor<1x4xf16>) -> tensor<1x4xf16>
  %m = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%s : tensor<1x4x4xf16>) outs(%mf : tensor<1x4xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.maximumf %a, %acc : f16
    linalg.yield %r : f16
  } -> tensor<1x4xf16>
  %e = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %m : tensor<1x4x4xf16>, tensor<1x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %mx: f16, %o: f16):
    %t = arith.subf %a, %mx : f16
    %r = math.exp %t : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %sf = linalg.fill ins(%one : f16) outs(%er : tensor<1x4xf16>) -> tensor<1x4xf16>
  %sum = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%e : tensor<1x4x4xf16>) outs(%sf : tensor<1x4xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.addf %a, %acc : f16
    linalg.yield %r : f16
  } -> tensor<1x4xf16>
  %p = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%e, %sum : tensor<1x4x4xf16>, tensor<1x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %t: f16, %o: f16):
    %r = arith.divf %a, %t : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %eo = tensor.empty() : tensor<1x4x32xf16>
  %zo = linalg.fill ins(%zero : f16) outs(%eo : tensor<1x4x32xf16>) -> tensor<1x4x32xf16>
  %o = linalg.batch_matmul ins(%p, %v : tensor<1x4x4xf16>, tensor<1x4x32xf16>) outs(%zo : tensor<1x4x32xf16>) -> tensor<1x4x32xf16>
  return %o : tensor<1x4x32xf16>
}

// -----

#id3 = affine_map<(b, i, j) -> (b, i, j)>
#row = affine_map<(b, i, j) -> (b, i)>
#ij = affine_map<(b, i, j) -> (i, j)>

// A causal mask added to the scores (0 on and below the diagonal, -inf
// above) becomes `causal`; so does HF's select(mask, x, min) with an i1
// mask, here after the pre-scale. A mask that also hides the diagonal is
// not causal: that chain stays.
// CHECK-LABEL: func.func @causal_add
// CHECK: qforge.attention %{{.*}}, %{{.*}}, %{{.*}} scale 1.250000e-01 causal
// CHECK-NOT: linalg.generic
// CHECK-LABEL: func.func @causal_select
// CHECK: qforge.attention %{{.*}}, %{{.*}}, %{{.*}} scale 2.500000e-01 causal
// CHECK-LABEL: func.func @strict_mask
// CHECK-NOT: qforge.attention
// CHECK: return
func.func @causal_add(%q: tensor<1x4x32xf16>, %kt: tensor<1x32x4xf16>, %v: tensor<1x4x32xf16>) -> tensor<1x4x32xf16> {
  %zero = arith.constant 0.0 : f16
  %ninf = arith.constant 0xFC00 : f16
  %scale = arith.constant 0.125 : f16
  %mask = arith.constant dense<[[0.0, 0xFC00, 0xFC00, 0xFC00], [0.0, 0.0, 0xFC00, 0xFC00], [0.0, 0.0, 0.0, 0xFC00], [0.0, 0.0, 0.0, 0.0]]> : tensor<4x4xf16>
  %es = tensor.empty() : tensor<1x4x4xf16>
  %zs = linalg.fill ins(%zero : f16) outs(%es : tensor<1x4x4xf16>) -> tensor<1x4x4xf16>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<1x4x32xf16>, tensor<1x32x4xf16>) outs(%zs : tensor<1x4x4xf16>) -> tensor<1x4x4xf16>
  %x = linalg.generic {indexing_maps = [#id3, #ij, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %mask : tensor<1x4x4xf16>, tensor<4x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %mk: f16, %o: f16):
    %r = arith.addf %a, %mk : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %er = tensor.empty() : tensor<1x4xf16>
  %mf = linalg.fill ins(%ninf : f16) outs(%er : tensor<1x4xf16>) -> tensor<1x4xf16>
  %m = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x : tensor<1x4x4xf16>) outs(%mf : tensor<1x4xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.maximumf %a, %acc : f16
    linalg.yield %r : f16
  } -> tensor<1x4xf16>
  %e = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x, %m : tensor<1x4x4xf16>, tensor<1x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %mx: f16, %o: f16):
    %t = arith.subf %a, %mx : f16
    %u = arith.mulf %t, %scale : f16
    %r = math.exp %u : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %sf = linalg.fill ins(%zero : f16) outs(%er : tensor<1x4xf16>) -> tensor<1x4xf16>
  %sum = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%e : tensor<1x4x4xf16>) outs(%sf : tensor<1x4xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.addf %a, %acc : f16
    linalg.yield %r : f16
  } -> tensor<1x4xf16>
  %p = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%e, %sum : tensor<1x4x4xf16>, tensor<1x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %t: f16, %o: f16):
    %r = arith.divf %a, %t : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %eo = tensor.empty() : tensor<1x4x32xf16>
  %zo = linalg.fill ins(%zero : f16) outs(%eo : tensor<1x4x32xf16>) -> tensor<1x4x32xf16>
  %o = linalg.batch_matmul ins(%p, %v : tensor<1x4x4xf16>, tensor<1x4x32xf16>) outs(%zo : tensor<1x4x32xf16>) -> tensor<1x4x32xf16>
  return %o : tensor<1x4x32xf16>
}

func.func @causal_select(%q: tensor<1x4x32xf16>, %kt: tensor<1x32x4xf16>, %v: tensor<1x4x32xf16>) -> tensor<1x4x32xf16> {
  %zero = arith.constant 0.0 : f16
  %ninf = arith.constant 0xFC00 : f16
  %lowest = arith.constant -65504.0 : f16
  %mask = arith.constant dense<[[[true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]]> : tensor<1x4x4xi1>
  %es = tensor.empty() : tensor<1x4x4xf16>
  %zs = linalg.fill ins(%zero : f16) outs(%es : tensor<1x4x4xf16>) -> tensor<1x4x4xf16>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<1x4x32xf16>, tensor<1x32x4xf16>) outs(%zs : tensor<1x4x4xf16>) -> tensor<1x4x4xf16>
  %y = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<1x4x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %o: f16):
    %four = arith.constant 4.0 : f16
    %r = arith.divf %a, %four : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %x = linalg.generic {indexing_maps = [#id3, affine_map<(b, i, j) -> (0, i, j)>, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%y, %mask : tensor<1x4x4xf16>, tensor<1x4x4xi1>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %keep: i1, %o: f16):
    %r = arith.select %keep, %a, %lowest : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %er = tensor.empty() : tensor<1x4xf16>
  %mf = linalg.fill ins(%ninf : f16) outs(%er : tensor<1x4xf16>) -> tensor<1x4xf16>
  %m = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x : tensor<1x4x4xf16>) outs(%mf : tensor<1x4xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.maximumf %a, %acc : f16
    linalg.yield %r : f16
  } -> tensor<1x4xf16>
  %e = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x, %m : tensor<1x4x4xf16>, tensor<1x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %mx: f16, %o: f16):
    %t = arith.subf %a, %mx : f16
    %r = math.exp %t : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %sf = linalg.fill ins(%zero : f16) outs(%er : tensor<1x4xf16>) -> tensor<1x4xf16>
  %sum = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%e : tensor<1x4x4xf16>) outs(%sf : tensor<1x4xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.addf %a, %acc : f16
    linalg.yield %r : f16
  } -> tensor<1x4xf16>
  %p = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%e, %sum : tensor<1x4x4xf16>, tensor<1x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %t: f16, %o: f16):
    %r = arith.divf %a, %t : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %eo = tensor.empty() : tensor<1x4x32xf16>
  %zo = linalg.fill ins(%zero : f16) outs(%eo : tensor<1x4x32xf16>) -> tensor<1x4x32xf16>
  %o = linalg.batch_matmul ins(%p, %v : tensor<1x4x4xf16>, tensor<1x4x32xf16>) outs(%zo : tensor<1x4x32xf16>) -> tensor<1x4x32xf16>
  return %o : tensor<1x4x32xf16>
}

func.func @strict_mask(%q: tensor<1x4x32xf16>, %kt: tensor<1x32x4xf16>, %v: tensor<1x4x32xf16>) -> tensor<1x4x32xf16> {
  %zero = arith.constant 0.0 : f16
  %ninf = arith.constant 0xFC00 : f16
  %mask = arith.constant dense<[[0xFC00, 0xFC00, 0xFC00, 0xFC00], [0.0, 0xFC00, 0xFC00, 0xFC00], [0.0, 0.0, 0xFC00, 0xFC00], [0.0, 0.0, 0.0, 0xFC00]]> : tensor<4x4xf16>
  %es = tensor.empty() : tensor<1x4x4xf16>
  %zs = linalg.fill ins(%zero : f16) outs(%es : tensor<1x4x4xf16>) -> tensor<1x4x4xf16>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<1x4x32xf16>, tensor<1x32x4xf16>) outs(%zs : tensor<1x4x4xf16>) -> tensor<1x4x4xf16>
  %x = linalg.generic {indexing_maps = [#id3, #ij, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %mask : tensor<1x4x4xf16>, tensor<4x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %mk: f16, %o: f16):
    %r = arith.addf %a, %mk : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %er = tensor.empty() : tensor<1x4xf16>
  %mf = linalg.fill ins(%ninf : f16) outs(%er : tensor<1x4xf16>) -> tensor<1x4xf16>
  %m = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x : tensor<1x4x4xf16>) outs(%mf : tensor<1x4xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.maximumf %a, %acc : f16
    linalg.yield %r : f16
  } -> tensor<1x4xf16>
  %e = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x, %m : tensor<1x4x4xf16>, tensor<1x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %mx: f16, %o: f16):
    %t = arith.subf %a, %mx : f16
    %r = math.exp %t : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %sf = linalg.fill ins(%zero : f16) outs(%er : tensor<1x4xf16>) -> tensor<1x4xf16>
  %sum = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%e : tensor<1x4x4xf16>) outs(%sf : tensor<1x4xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.addf %a, %acc : f16
    linalg.yield %r : f16
  } -> tensor<1x4xf16>
  %p = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%e, %sum : tensor<1x4x4xf16>, tensor<1x4xf16>) outs(%es : tensor<1x4x4xf16>) {
  ^bb0(%a: f16, %t: f16, %o: f16):
    %r = arith.divf %a, %t : f16
    linalg.yield %r : f16
  } -> tensor<1x4x4xf16>
  %eo = tensor.empty() : tensor<1x4x32xf16>
  %zo = linalg.fill ins(%zero : f16) outs(%eo : tensor<1x4x32xf16>) -> tensor<1x4x32xf16>
  %o = linalg.batch_matmul ins(%p, %v : tensor<1x4x4xf16>, tensor<1x4x32xf16>) outs(%zo : tensor<1x4x32xf16>) -> tensor<1x4x32xf16>
  return %o : tensor<1x4x32xf16>
}

// -----

// linalg.softmax over the last dim (as IREE's torch input emits it), after
// a pre-scale, is taken like the written-out reductions.
// DECOMP-LABEL: func.func @named_softmax
// DECOMP: qforge.attention %{{.*}}, %{{.*}}, %{{.*}} scale 1.250000e-01 :
// CHECK-LABEL: func.func @named_softmax
// CHECK: qforge.attention %{{.*}}, %{{.*}}, %{{.*}} scale 1.250000e-01 :
// CHECK-NOT: linalg.softmax
func.func @named_softmax(%q: tensor<2x8x64xbf16>, %kt: tensor<2x64x8xbf16>, %v: tensor<2x8x64xbf16>) -> tensor<2x8x64xbf16> {
  %zero = arith.constant 0.0 : bf16
  %es = tensor.empty() : tensor<2x8x8xbf16>
  %zs = linalg.fill ins(%zero : bf16) outs(%es : tensor<2x8x8xbf16>) -> tensor<2x8x8xbf16>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<2x8x64xbf16>, tensor<2x64x8xbf16>) outs(%zs : tensor<2x8x8xbf16>) -> tensor<2x8x8xbf16>
  %x = linalg.generic {indexing_maps = [affine_map<(b, i, j) -> (b, i, j)>, affine_map<(b, i, j) -> (b, i, j)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<2x8x8xbf16>) outs(%es : tensor<2x8x8xbf16>) {
  ^bb0(%a: bf16, %o: bf16):
    %c = arith.constant 0.125 : bf16
    %r = arith.mulf %a, %c : bf16
    linalg.yield %r : bf16
  } -> tensor<2x8x8xbf16>
  %p = linalg.softmax dimension(2) ins(%x : tensor<2x8x8xbf16>) outs(%es : tensor<2x8x8xbf16>) -> tensor<2x8x8xbf16>
  %eo = tensor.empty() : tensor<2x8x64xbf16>
  %zo = linalg.fill ins(%zero : bf16) outs(%eo : tensor<2x8x64xbf16>) -> tensor<2x8x64xbf16>
  %o = linalg.batch_matmul ins(%p, %v : tensor<2x8x8xbf16>, tensor<2x8x64xbf16>) outs(%zo : tensor<2x8x64xbf16>) -> tensor<2x8x64xbf16>
  return %o : tensor<2x8x64xbf16>
}

// -----

#id3 = affine_map<(b, i, j) -> (b, i, j)>
#row = affine_map<(b, i, j) -> (b, i)>

// Dynamic sequence lengths, K^T given as a tensor: the [0, 2, 1] transpose
// that makes K takes its sizes from K^T.
// CHECK-LABEL: func.func @dynamic_lengths
// CHECK-SAME: %[[KT:[a-z0-9]+]]: tensor<2x32x?xf16>
// CHECK: %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<2x?x32xf16>
// CHECK: %[[K:.*]] = linalg.transpose ins(%[[KT]] : tensor<2x32x?xf16>) outs(%[[E]] : tensor<2x?x32xf16>) permutation = [0, 2, 1]
// CHECK: qforge.attention %{{.*}}, %[[K]], %{{.*}} scale 1.000000e+00 : tensor<2x?x32xf16>, tensor<2x?x32xf16>, tensor<2x?x32xf16> -> tensor<2x?x32xf16>
func.func @dynamic_lengths(%q: tensor<2x?x32xf16>, %kt: tensor<2x32x?xf16>, %v: tensor<2x?x32xf16>) -> tensor<2x?x32xf16> {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %zero = arith.constant 0.0 : f16
  %ninf = arith.constant 0xFC00 : f16
  %s = tensor.dim %q, %c1 : tensor<2x?x32xf16>
  %n = tensor.dim %kt, %c2 : tensor<2x32x?xf16>
  %es = tensor.empty(%s, %n) : tensor<2x?x?xf16>
  %zs = linalg.fill ins(%zero : f16) outs(%es : tensor<2x?x?xf16>) -> tensor<2x?x?xf16>
  %sc = linalg.batch_matmul ins(%q, %kt : tensor<2x?x32xf16>, tensor<2x32x?xf16>) outs(%zs : tensor<2x?x?xf16>) -> tensor<2x?x?xf16>
  %er = tensor.empty(%s) : tensor<2x?xf16>
  %mf = linalg.fill ins(%ninf : f16) outs(%er : tensor<2x?xf16>) -> tensor<2x?xf16>
  %m = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%sc : tensor<2x?x?xf16>) outs(%mf : tensor<2x?xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.maximumf %a, %acc : f16
    linalg.yield %r : f16
  } -> tensor<2x?xf16>
  %e = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%sc, %m : tensor<2x?x?xf16>, tensor<2x?xf16>) outs(%es : tensor<2x?x?xf16>) {
  ^bb0(%a: f16, %mx: f16, %o: f16):
    %t = arith.subf %a, %mx : f16
    %r = math.exp %t : f16
    linalg.yield %r : f16
  } -> tensor<2x?x?xf16>
  %sf = linalg.fill ins(%zero : f16) outs(%er : tensor<2x?xf16>) -> tensor<2x?xf16>
  %sum = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%e : tensor<2x?x?xf16>) outs(%sf : tensor<2x?xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.addf %a, %acc : f16
    linalg.yield %r : f16
  } -> tensor<2x?xf16>
  %p = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%e, %sum : tensor<2x?x?xf16>, tensor<2x?xf16>) outs(%es : tensor<2x?x?xf16>) {
  ^bb0(%a: f16, %t: f16, %o: f16):
    %r = arith.divf %a, %t : f16
    linalg.yield %r : f16
  } -> tensor<2x?x?xf16>
  %eo = tensor.empty(%s) : tensor<2x?x32xf16>
  %zo = linalg.fill ins(%zero : f16) outs(%eo : tensor<2x?x32xf16>) -> tensor<2x?x32xf16>
  %o = linalg.batch_matmul ins(%p, %v : tensor<2x?x?xf16>, tensor<2x?x32xf16>) outs(%zo : tensor<2x?x32xf16>) -> tensor<2x?x32xf16>
  return %o : tensor<2x?x32xf16>
}
