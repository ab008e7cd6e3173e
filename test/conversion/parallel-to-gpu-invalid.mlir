// RUN: qforge-opt %s -split-input-file --qforge-parallel-to-gpu -verify-diagnostics
// RUN: not qforge-opt %s -split-input-file --qforge-parallel-to-gpu=block-size=2048 2>&1 | FileCheck %s --check-prefix=BLOCK
// BLOCK: error: qforge-parallel-to-gpu: block-size must be in [1, 1024], got 2048

// A host loop over a tensor the cuda target keeps on the device.
func.func @host_read(%m: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{the cuda target keeps tensors in device memory, but this host operation accesses one; compile this model with --target cpu}}
  %v = memref.load %m[%c0] : memref<4xf32>
  return %v : f32
}

