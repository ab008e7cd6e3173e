// qforge-parallel-to-gpu reads and writes contiguous, aligned memory in
// 16-byte vectors: a thread of an elementwise kernel takes 16 bytes of its
// widest element type, a lane of a row kernel takes vectors strided by the
// warp, several per iteration with their loads first, or, when at most 16
// vectors per lane cover a row, all of them without a loop, loaded once
// for every phase of the kernel. Accesses that are
// not contiguous along the innermost index, or whose start is not known to
// be aligned, stay scalar; function arguments read as vectors are checked
// for 16-byte alignment on entry.
//
// RUN: qforge-opt %s -split-input-file --qforge-parallel-to-gpu | FileCheck %s

// f16 in, f32 out: 16 bytes of f32 = 4 elements per thread (8 x 64 / 4 =
// 128 threads), the f16 input read 8 bytes at a time. %x is an argument:
// checked on entry.
// CHECK-LABEL: func.func @widen
// CHECK: %[[TEXT:.*]] = memref.get_global @__qforge_alignment_0
// CHECK: %[[P:.*]] = memref.extract_aligned_pointer_as_index %arg0
// CHECK: %[[MIS:.*]] = arith.remui %[[P]], %c16
// CHECK: %[[MIS64:.*]] = arith.index_cast %[[MIS]] : index to i64
// CHECK: call @qforge_rt_m_check_size(%[[MIS64]], %c0_i64
// CHECK: gpu.launch
// CHECK: arith.cmpi slt, %{{.*}}, %c128
// CHECK: arith.muli %{{.*}}, %c4
// CHECK: %[[V:.*]] = vector.load %arg0[%{{.*}}, %{{.*}}] {alignment = 8 : i64} : memref<8x64xf16>, vector<4xf16>
// CHECK-COUNT-4: arith.extf
// CHECK: %[[W:.*]] = vector.from_elements
// CHECK: vector.store %[[W]], %{{.*}} {alignment = 16 : i64} : memref<8x64xf32>, vector<4xf32>
// CHECK-NOT: memref.store
func.func @widen(%x: memref<8x64xf16>) -> memref<8x64xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %y = gpu.alloc () : memref<8x64xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%c8, %c64) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<8x64xf16>
    %w = arith.extf %v : f16 to f32
    memref.store %w, %y[%i, %j] : memref<8x64xf32>
    scf.reduce
  }
  return %y : memref<8x64xf32>
}

// -----

// A transpose: the output walks j contiguously (a vector store), the input
// is read at [j, i], one scalar load per element. Nothing of the argument
// is read as a vector: no entry check.
// CHECK-LABEL: func.func @transpose
// CHECK-NOT: qforge_rt_m_check_size
// CHECK: gpu.launch
// CHECK-COUNT-8: memref.load %arg0
// CHECK: vector.from_elements
// CHECK: vector.store {{.*}} {alignment = 16 : i64} : memref<16x32xf16>, vector<8xf16>
func.func @transpose(%x: memref<32x16xf16>) -> memref<16x32xf16> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %y = gpu.alloc () : memref<16x32xf16>
  scf.parallel (%i, %j) = (%c0, %c0) to (%c16, %c32) step (%c1, %c1) {
    %v = memref.load %x[%j, %i] : memref<32x16xf16>
    memref.store %v, %y[%i, %j] : memref<16x32xf16>
    scf.reduce
  }
  return %y : memref<16x32xf16>
}

// -----

// A view 4 bytes into its buffer is not 16-byte aligned: read one element
// at a time; the aligned buffer beside it is still read as vectors.
// CHECK-LABEL: func.func @shifted_view
// CHECK: gpu.launch
// CHECK-DAG: vector.load %[[A:.*]][%{{.*}}] {alignment = 16 : i64} : memref<64xf32>, vector<4xf32>
// CHECK-DAG: memref.load %[[V:.*]][%{{.*}}] : memref<64xf32>
// CHECK: vector.store
func.func @shifted_view() -> memref<64xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  %raw = gpu.alloc () : memref<260xi8>
  %shifted = memref.view %raw[%c4][] : memref<260xi8> to memref<64xf32>
  %a = gpu.alloc () : memref<64xf32>
  %y = gpu.alloc () : memref<64xf32>
  scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
    %u = memref.load %a[%i] : memref<64xf32>
    %v = memref.load %shifted[%i] : memref<64xf32>
    %s = arith.addf %u, %v : f32
    memref.store %s, %y[%i] : memref<64xf32>
    scf.reduce
  }
  return %y : memref<64xf32>
}

// -----

// An innermost trip count no vector width divides (7 x f32): one element
// per thread. (6 would take vectors of 2.)
// CHECK-LABEL: func.func @ragged
// CHECK: gpu.launch
// CHECK-NOT: vector.
// CHECK: memref.store
func.func @ragged() -> memref<5x7xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %c7 = arith.constant 7 : index
  %zero = arith.constant 0.0 : f32
  %y = gpu.alloc () : memref<5x7xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%c5, %c7) step (%c1, %c1) {
    memref.store %zero, %y[%i, %j] : memref<5x7xf32>
    scf.reduce
  }
  return %y : memref<5x7xf32>
}

// -----

// A row sum over 2592 f32 per row: each lane takes vectors of 4 at
// lane * 4 + 128 k; 20 rounds of 128 elements (more than 16: a loop), 4
// vectors per iteration (their loads first, then the adds in order); the
// last 32 elements in the scalar lane loop; then the shuffles.
// CHECK-LABEL: func.func @row_sum
// CHECK: gpu.launch
// CHECK: %[[PART:.*]] = scf.for %{{.*}} = %{{.*}} to %c2560{{.*}} step %c512{{.*}} iter_args
// CHECK-COUNT-4: vector.load %{{.*}} {alignment = 16 : i64} : memref<4x2592xf32>, vector<4xf32>
// CHECK-NOT: vector.load
// CHECK-COUNT-16: arith.addf
// CHECK: scf.yield
// CHECK: scf.for %{{.*}} = %{{.*}} to %c2592 step %{{.*}} iter_args(%{{.*}} = %[[PART]])
// CHECK: memref.load %{{.*}} : memref<4x2592xf32>
// CHECK-COUNT-5: gpu.shuffle  xor
func.func @row_sum() -> memref<4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c2592 = arith.constant 2592 : index
  %zero = arith.constant 0.0 : f32
  %x = gpu.alloc () : memref<4x2592xf32>
  %s = gpu.alloc () : memref<4xf32>
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    memref.store %zero, %s[%i] : memref<4xf32>
    scf.reduce
  }
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    scf.for %j = %c0 to %c2592 step %c1 {
      %v = memref.load %x[%i, %j] : memref<4x2592xf32>
      %acc = memref.load %s[%i] : memref<4xf32>
      %r = arith.addf %v, %acc : f32
      memref.store %r, %s[%i] : memref<4xf32>
    }
    scf.reduce
  }
  gpu.dealloc %x : memref<4x2592xf32>
  return %s : memref<4xf32>
}

// -----

// x - mean over rows of 512 f16: 512 / (32 * 8) = 2 rounds, at most 16,
// so no loop: each lane loads its 2 vectors of x once, for the sum, and
// the elementwise phase takes them from registers (x is not written in
// the kernel) and stores 8 halves at a time; no scalar rest.
// CHECK-LABEL: func.func @center
// CHECK: gpu.launch
// CHECK-NOT: scf.for
// CHECK-COUNT-2: vector.load %{{.*}} : memref<2x512xf16>, vector<8xf16>
// CHECK: gpu.shuffle  xor
// CHECK-NOT: vector.load
// CHECK-NOT: scf.for
// CHECK: vector.store %{{.*}} : memref<2x512xf16>, vector<8xf16>
// CHECK-NOT: vector.load
// CHECK: vector.store %{{.*}} : memref<2x512xf16>, vector<8xf16>
// CHECK-NOT: memref.store %{{.*}} : memref<2x512xf16>
// CHECK: gpu.terminator
func.func @center() -> memref<2x512xf16> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c512 = arith.constant 512 : index
  %zero = arith.constant 0.0 : f16
  %x = gpu.alloc () : memref<2x512xf16>
  %s = gpu.alloc () : memref<2xf16>
  %y = gpu.alloc () : memref<2x512xf16>
  scf.parallel (%i) = (%c0) to (%c2) step (%c1) {
    memref.store %zero, %s[%i] : memref<2xf16>
    scf.reduce
  }
  scf.parallel (%i) = (%c0) to (%c2) step (%c1) {
    scf.for %j = %c0 to %c512 step %c1 {
      %v = memref.load %x[%i, %j] : memref<2x512xf16>
      %acc = memref.load %s[%i] : memref<2xf16>
      %r = arith.addf %v, %acc : f16
      memref.store %r, %s[%i] : memref<2xf16>
    }
    scf.reduce
  }
  scf.parallel (%i, %j) = (%c0, %c0) to (%c2, %c512) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<2x512xf16>
    %t = memref.load %s[%i] : memref<2xf16>
    %d = arith.subf %v, %t : f16
    memref.store %d, %y[%i, %j] : memref<2x512xf16>
    scf.reduce
  }
  gpu.dealloc %x : memref<2x512xf16>
  gpu.dealloc %s : memref<2xf16>
  return %y : memref<2x512xf16>
}
