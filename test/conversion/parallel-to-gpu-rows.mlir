// Row kernels end with loops over the rows alone (a per-token
// quantization's scales after its max and its codes): lane 0 runs them,
// with the row totals from registers, in the same kernel. A rows-only loop
// that reads what the lanes wrote stays a kernel of its own.
//
// RUN: qforge-opt %s -split-input-file --qforge-parallel-to-gpu | FileCheck %s

// max|x| per row, x * 127 / max per element, max / 127 per row: one kernel.
// CHECK-LABEL: func.func @row_max_scale
// CHECK: gpu.launch
// CHECK-COUNT-5: gpu.shuffle  xor
// CHECK: %[[MAX:.*]] = arith.maximumf %cst{{.*}}, %{{.*}} : f32
// CHECK-NEXT: scf.if
// CHECK-NEXT: memref.store %[[MAX]]
// CHECK: scf.for
// CHECK: arith.divf %{{.*}}, %[[MAX]]
// CHECK: scf.if
// CHECK-NOT: memref.load
// CHECK: %[[S:.*]] = arith.divf %[[MAX]], %{{.*}} : f32
// CHECK-NEXT: memref.store %[[S]], %{{.*}} : memref<4xf32>
// CHECK: gpu.terminator
// CHECK-NOT: gpu.launch
// CHECK: return
func.func @row_max_scale() -> (memref<4x64xf32>, memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  %zero = arith.constant 0.0 : f32
  %c127 = arith.constant 127.0 : f32
  %x = gpu.alloc () : memref<4x64xf32>
  %m = gpu.alloc () : memref<4xf32>
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    memref.store %zero, %m[%i] : memref<4xf32>
    scf.reduce
  }
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    scf.for %j = %c0 to %c64 step %c1 {
      %v = memref.load %x[%i, %j] : memref<4x64xf32>
      %a = math.absf %v : f32
      %acc = memref.load %m[%i] : memref<4xf32>
      %r = arith.maximumf %acc, %a : f32
      memref.store %r, %m[%i] : memref<4xf32>
    }
    scf.reduce
  }
  %y = gpu.alloc () : memref<4x64xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%c4, %c64) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<4x64xf32>
    %t = memref.load %m[%i] : memref<4xf32>
    %inv = arith.divf %c127, %t : f32
    %q = arith.mulf %v, %inv : f32
    memref.store %q, %y[%i, %j] : memref<4x64xf32>
    scf.reduce
  }
  %s = gpu.alloc () : memref<4xf32>
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    %t = memref.load %m[%i] : memref<4xf32>
    %d = arith.divf %t, %c127 : f32
    memref.store %d, %s[%i] : memref<4xf32>
    scf.reduce
  }
  gpu.dealloc %x : memref<4x64xf32>
  gpu.dealloc %m : memref<4xf32>
  return %y, %s : memref<4x64xf32>, memref<4xf32>
}

// -----

// The rows-only loop reads y[i, 0], which lane 0 did not write: its own
// kernel.
// CHECK-LABEL: func.func @reads_lanes_output
// CHECK: gpu.launch
// CHECK: gpu.shuffle
// CHECK: gpu.terminator
// CHECK: gpu.launch
// CHECK: memref.load %{{.*}} : memref<4x64xf32>
func.func @reads_lanes_output() -> memref<4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  %zero = arith.constant 0.0 : f32
  %x = gpu.alloc () : memref<4x64xf32>
  %m = gpu.alloc () : memref<4xf32>
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    memref.store %zero, %m[%i] : memref<4xf32>
    scf.reduce
  }
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    scf.for %j = %c0 to %c64 step %c1 {
      %v = memref.load %x[%i, %j] : memref<4x64xf32>
      %acc = memref.load %m[%i] : memref<4xf32>
      %r = arith.addf %acc, %v : f32
      memref.store %r, %m[%i] : memref<4xf32>
    }
    scf.reduce
  }
  %y = gpu.alloc () : memref<4x64xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%c4, %c64) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<4x64xf32>
    %t = memref.load %m[%i] : memref<4xf32>
    %d = arith.subf %v, %t : f32
    memref.store %d, %y[%i, %j] : memref<4x64xf32>
    scf.reduce
  }
  %s = gpu.alloc () : memref<4xf32>
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    %first = memref.load %y[%i, %c0] : memref<4x64xf32>
    memref.store %first, %s[%i] : memref<4xf32>
    scf.reduce
  }
  gpu.dealloc %x : memref<4x64xf32>
  gpu.dealloc %m : memref<4xf32>
  gpu.dealloc %y : memref<4x64xf32>
  return %s : memref<4xf32>
}

// -----

// A row reduction after an elementwise phase reads what other lanes wrote
// (here the sum of x - mean): it starts a kernel of its own.
// CHECK-LABEL: func.func @reduce_after_elementwise
// CHECK: gpu.launch
// CHECK-COUNT-5: gpu.shuffle  xor
// CHECK: memref.store %{{.*}} : memref<4x64xf32>
// CHECK: gpu.terminator
// CHECK: gpu.launch
// CHECK: memref.load %{{.*}} : memref<4x64xf32>
// CHECK: gpu.shuffle  xor
func.func @reduce_after_elementwise() -> memref<4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  %zero = arith.constant 0.0 : f32
  %x = gpu.alloc () : memref<4x64xf32>
  %m = gpu.alloc () : memref<4xf32>
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    memref.store %zero, %m[%i] : memref<4xf32>
    scf.reduce
  }
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    scf.for %j = %c0 to %c64 step %c1 {
      %v = memref.load %x[%i, %j] : memref<4x64xf32>
      %acc = memref.load %m[%i] : memref<4xf32>
      %r = arith.addf %acc, %v : f32
      memref.store %r, %m[%i] : memref<4xf32>
    }
    scf.reduce
  }
  %y = gpu.alloc () : memref<4x64xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%c4, %c64) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<4x64xf32>
    %t = memref.load %m[%i] : memref<4xf32>
    %d = arith.subf %v, %t : f32
    memref.store %d, %y[%i, %j] : memref<4x64xf32>
    scf.reduce
  }
  %s = gpu.alloc () : memref<4xf32>
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    memref.store %zero, %s[%i] : memref<4xf32>
    scf.reduce
  }
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    scf.for %j = %c0 to %c64 step %c1 {
      %v = memref.load %y[%i, %j] : memref<4x64xf32>
      %acc = memref.load %s[%i] : memref<4xf32>
      %r = arith.addf %acc, %v : f32
      memref.store %r, %s[%i] : memref<4xf32>
    }
    scf.reduce
  }
  gpu.dealloc %x : memref<4x64xf32>
  gpu.dealloc %m : memref<4xf32>
  gpu.dealloc %y : memref<4x64xf32>
  return %s : memref<4xf32>
}
