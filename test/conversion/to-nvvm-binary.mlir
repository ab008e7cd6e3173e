// The whole qforge-to-nvvm pipeline: needs the CUDA toolkit's libdevice.
// REQUIRES: cuda-toolkit
// RUN: qforge-opt %s --qforge-to-nvvm | FileCheck %s

// The kernels' PTX in a gpu.binary; the host calls the runtime's GPU ABI.
// CHECK-LABEL: llvm.func @bias_gelu
// CHECK: llvm.call @mgpuMemAlloc
// CHECK: llvm.call @qforge_rt_m_gemm
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @bias_gelu_kernel::@bias_gelu_kernel
// CHECK: gpu.binary @bias_gelu_kernel {{.*}}#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">{{.*}}assembly = "
// libdevice is linked in: no external erf is left for the JIT to resolve.
// CHECK-NOT: .extern .func {{.*}}__nv_erff
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
