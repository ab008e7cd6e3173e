// The cuda target's lowering (qforge-to-nvvm), checked as IR on any machine:
// tensors in device memory, qforge ops as runtime calls, every other op a
// kernel (to-nvvm-binary.mlir: the whole pipeline, PTX included).
//
// RUN: qforge-opt %s --pass-pipeline='builtin.module(qforge-lower-to-runtime,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},buffer-deallocation-pipeline,qforge-device-memory)' | FileCheck %s --check-prefix=MEM
// RUN: qforge-opt %s --pass-pipeline='builtin.module(qforge-lower-to-runtime,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},buffer-deallocation-pipeline,qforge-device-memory,func.func(convert-linalg-to-parallel-loops),qforge-parallel-to-gpu)' | FileCheck %s --check-prefix=GPU
// RUN: qforge-opt %s --pass-pipeline='builtin.module(qforge-lower-to-runtime,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},buffer-deallocation-pipeline,qforge-device-memory,func.func(convert-linalg-to-parallel-loops),qforge-parallel-to-gpu{row-reductions=false})' | FileCheck %s --check-prefix=THREAD
// With row-reductions=false a row is reduced by one thread: no shuffles.
// THREAD-LABEL: func.func @row_sum
// THREAD: gpu.launch
// THREAD: scf.for
// THREAD-NOT: gpu.shuffle

// Device memory: allocations, frees and constants.
// MEM: func.func private @qforge_rt_m_device_constant(i64, i64) -> memref<?xi8> attributes {llvm.emit_c_interface}
// MEM-LABEL: func.func @bias_gelu
// MEM-NOT: memref.alloc
// MEM: gpu.alloc () : memref<4x16xi32>
// MEM: call @qforge_rt_m_gemm
// MEM: %[[G:.*]] = memref.get_global
// MEM: memref.extract_aligned_pointer_as_index %[[G]]
// MEM: %[[D:.*]] = call @qforge_rt_m_device_constant
// MEM: memref.view %[[D]]
// MEM: gpu.alloc () : memref<4x16xf32>
// MEM: gpu.dealloc

// One thread per output element, flattened, with a bound check.
// GPU-LABEL: func.func @bias_gelu
// GPU: call @qforge_rt_m_gemm
// GPU: gpu.launch blocks({{.*}}) in ({{.*}}) threads({{.*}}) in ({{.*}} = %c256
// GPU: arith.cmpi slt
// GPU: scf.if
// GPU: math.erf
// GPU-NOT: scf.parallel
func.func @bias_gelu(%x: tensor<4x8xi8>, %w: tensor<8x16xi8>) -> tensor<4x16xf32> {
  %y = qforge.matmul %x, %w : tensor<4x8xi8>, tensor<8x16xi8> -> tensor<4x16xi32>
  %b = arith.constant dense<0.5> : tensor<16xf32>
  %e = tensor.empty() : tensor<4x16xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%y, %b : tensor<4x16xi32>, tensor<16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%a: i32, %bias: f32, %o: f32):
    %f = arith.sitofp %a : i32 to f32
    %s = arith.addf %f, %bias : f32
    %r = math.erf %s : f32
    linalg.yield %r : f32
  } -> tensor<4x16xf32>
  return %g : tensor<4x16xf32>
}

// A row reduction (layernorm's, softmax's): one warp per row, shuffles;
// the fill of its accumulator is folded in (one kernel, no load).
// GPU-LABEL: func.func @row_sum
// GPU: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// GPU: gpu.launch
// GPU: arith.remui %{{.*}}, %c32
// GPU: scf.for {{.*}} iter_args
// GPU-COUNT-5: gpu.shuffle  xor
// GPU-NOT: memref.load
// GPU: arith.addf %[[ZERO]]
// GPU: scf.if
// GPU: memref.store
// GPU-NOT: gpu.launch
// GPU: return
func.func @row_sum(%x: tensor<8x100xf32>) -> tensor<8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<8x100xf32>) outs(%f : tensor<8xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %sq = arith.mulf %v, %v : f32
    %r = arith.addf %sq, %acc : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  return %s : tensor<8xf32>
}

// An accumulator that no adjacent fill initializes (here the function's
// argument) is read back: the kernel adds to what is there.
// GPU-LABEL: func.func @row_sum_into
// GPU: gpu.launch
// GPU-COUNT-5: gpu.shuffle  xor
// GPU: memref.load
// GPU: arith.addf
// GPU: scf.if
// GPU: memref.store
func.func @row_sum_into(%x: tensor<8x100xf32>, %init: tensor<8xf32>) -> tensor<8xf32> {
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<8x100xf32>) outs(%init : tensor<8xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %r = arith.addf %v, %acc : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  return %s : tensor<8xf32>
}

// A row reduction and the elementwise op over the same rows that reads its
// total (x - mean, a layernorm's first steps): one kernel, one warp per
// row; the total comes from registers, lane 0 still stores it.
// GPU-LABEL: func.func @center_rows
// GPU: gpu.launch
// GPU-COUNT-5: gpu.shuffle  xor
// GPU: %[[T:.*]] = arith.addf %cst{{.*}}, %{{.*}} : f32
// GPU-NEXT: scf.if
// GPU-NEXT: memref.store %[[T]]
// GPU: scf.for
// GPU-NOT: memref.load %{{.*}}[%{{[^,]*}}] : memref<8xf32>
// GPU: arith.divf %[[T]]
// GPU: memref.store
// GPU-NOT: gpu.launch
// GPU: return
func.func @center_rows(%x: tensor<8x100xf32>) -> tensor<8x100xf32> {
  %zero = arith.constant 0.0 : f32
  %n = arith.constant 100.0 : f32
  %e = tensor.empty() : tensor<8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<8x100xf32>) outs(%f : tensor<8xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %r = arith.addf %v, %acc : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  %e2 = tensor.empty() : tensor<8x100xf32>
  %c = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x, %s : tensor<8x100xf32>, tensor<8xf32>) outs(%e2 : tensor<8x100xf32>) {
  ^bb0(%v: f32, %t: f32, %o: f32):
    %m = arith.divf %t, %n : f32
    %d = arith.subf %v, %m : f32
    linalg.yield %d : f32
  } -> tensor<8x100xf32>
  return %c : tensor<8x100xf32>
}

// The op after the reduction reads totals of other rows (here the totals
// of rows j, 8 x 8): not row-local, so it is a kernel of its own (whose
// threads read the totals four at a time: parallel-to-gpu-vector.mlir).
// GPU-LABEL: func.func @other_rows
// GPU: gpu.launch
// GPU: gpu.shuffle  xor
// GPU: gpu.launch
// GPU: vector.load %{{.*}} : memref<8xf32>, vector<4xf32>
func.func @other_rows(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<8x8xf32>) outs(%f : tensor<8xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %r = arith.addf %v, %acc : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  %e2 = tensor.empty() : tensor<8x8xf32>
  %c = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x, %s : tensor<8x8xf32>, tensor<8xf32>) outs(%e2 : tensor<8x8xf32>) {
  ^bb0(%v: f32, %t: f32, %o: f32):
    %d = arith.subf %v, %t : f32
    linalg.yield %d : f32
  } -> tensor<8x8xf32>
  return %c : tensor<8x8xf32>
}
