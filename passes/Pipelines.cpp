//===- Pipelines.cpp - qforge pass pipelines ------------------------------===//

#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include <string>

using namespace mlir;

namespace {
// The CPU recipe of docs/DESIGN.md §8, after qforge's own lowering.
constexpr const char *kToLLVM =
    // linalg.softmax and friends as the generics they stand for.
    "qforge-decompose-aggregates,"
    // Float matmuls through the runtime's GEMM too: its CPU loop is the
    // same k-order sum (identical results) and vectorizes.
    "qforge-lower-to-runtime{float-gemms=true},"
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "buffer-deallocation-pipeline,"
    "convert-linalg-to-loops,"
    // bf16 (--float-precision bf16): arithmetic in f32, conversions as
    // integer ops (libgcc has no bf16 helpers).
    "func.func(math-extend-to-supported-types{target-type=f32},"
    "arith-emulate-unsupported-floats{source-types=bf16 target-type=f32}),"
    "arith-expand{include-bf16=true},"
    "convert-scf-to-cf,"
    "expand-strided-metadata,"
    "lower-affine,"
    "finalize-memref-to-llvm,"
    // LLVM intrinsics (and rsqrt as 1/sqrt) first; libm for what has none
    // (erf): libm has no rsqrtf.
    "convert-math-to-llvm,"
    "convert-math-to-libm,"
    "convert-arith-to-llvm,"
    "convert-index-to-llvm,"
    "convert-cf-to-llvm,"
    "convert-func-to-llvm,"
    "reconcile-unrealized-casts";
/// The cuda target (docs/DESIGN.md §9): tensors in device memory, runtime
/// calls on device pointers, every other op a kernel from MLIR's GPU path
/// (PTX embedded in the library, JIT-compiled by the driver on first use).
/// The host tail follows upstream's gpu-lower-to-nvvm-pipeline; libdevice
/// (math in kernels) comes from the toolkit given.
std::string toNVVMPipeline(const std::string &chip, const std::string &features,
                           const std::string &toolkit, int64_t blockSize,
                           bool fuseSiblings, bool fuseAttention,
                           bool attentionInt8, int64_t attentionInt8MinKeys,
                           int64_t attentionInt8MinKeysNarrow) {
  // Calls inlined first: buffer deallocation across a call needs run-time
  // bookkeeping arrays on the host, which the device pipeline would move.
  return std::string("inline,") +
         // Q, K and V as one GEMM (int8 and float): wider GEMMs fill the
         // GPU; the attention reads the slices in place.
         (fuseSiblings ? "qforge-fuse-sibling-matmuls," : "") +
         // Attention as one flash-attention call (f16 / bf16): the scores
         // never reach memory.
         (!fuseAttention ? std::string()
          : attentionInt8
              ? "qforge-fuse-attention{int8=true int8-min-keys=" +
                    std::to_string(attentionInt8MinKeys) +
                    " int8-min-keys-narrow=" +
                    std::to_string(attentionInt8MinKeysNarrow) + "},"
              : std::string("qforge-fuse-attention,")) +
         "qforge-decompose-aggregates,"
         "qforge-lower-to-runtime{float-gemms=true quantize-kernels=true},"
         // One kernel per chain of elementwise ops (and per softmax /
         // layernorm step) instead of one per op.
         "qforge-fuse-elementwise,"
         "one-shot-bufferize{bufferize-function-boundaries "
         "function-boundary-type-conversion=identity-layout-map},"
         "buffer-deallocation-pipeline,"
         "qforge-device-memory,"
         "func.func(convert-linalg-to-parallel-loops),"
         "qforge-parallel-to-gpu{block-size=" +
         std::to_string(blockSize) +
         "},"
         // Constants (trip counts, strides) into the kernels: divisions
         // by them become multiplications, loops get known trip counts.
         "gpu-launch-sink-index-computations,"
         "gpu-kernel-outlining,"
         // gpu-to-llvm lowers device allocations and copies in async form
         // only; the runtime runs every "stream" in order on the context's
         // one stream (runtime/src/gpu_abi.cpp).
         "func.func(gpu-async-region),"
         "convert-scf-to-cf,"
         "convert-cf-to-llvm,"
         "convert-func-to-llvm,"
         "expand-strided-metadata,"
         "nvvm-attach-target{chip=" +
         chip + " features=" + features +
         " O=3},"
         "lower-affine,"
         "convert-arith-to-llvm,"
         "convert-index-to-llvm,"
         "canonicalize,cse,"
         "gpu.module(strip-debuginfo,convert-gpu-to-nvvm,canonicalize,cse,"
         "reconcile-unrealized-casts),"
         "gpu-to-llvm,"
         "gpu-module-to-binary{format=isa toolkit=" +
         toolkit +
         "},"
         "finalize-memref-to-llvm,"
         "convert-math-to-llvm,"
         "canonicalize,cse,"
         "reconcile-unrealized-casts";
}

/// Options of the qforge-to-nvvm pipeline.
struct NVVMOptions : public PassPipelineOptions<NVVMOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("GPU architecture of the PTX"),
                           llvm::cl::init("sm_90")};
  Option<std::string> features{*this, "features",
                               llvm::cl::desc("PTX features (ISA version)"),
                               llvm::cl::init("+ptx80")};
  Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit whose libdevice the kernels link"),
      llvm::cl::init("/usr/local/cuda")};
  Option<int64_t> blockSize{*this, "block-size",
                            llvm::cl::desc("threads per block of the kernels"),
                            llvm::cl::init(256)};
  Option<bool> fuseSiblings{
      *this, "fuse-siblings",
      llvm::cl::desc("run qforge-fuse-sibling-matmuls first (matmuls of one "
                     "activation with constant weights as one GEMM)"),
      llvm::cl::init(true)};
  Option<bool> fuseAttention{
      *this, "fuse-attention",
      llvm::cl::desc("run qforge-fuse-attention first (f16/bf16 attention "
                     "as one flash-attention call)"),
      llvm::cl::init(true)};
  Option<bool> attentionInt8{
      *this, "attention-int8",
      llvm::cl::desc("the fused attention computes both products in int8 "
                     "(qforge-fuse-attention{int8=true})"),
      llvm::cl::init(false)};
  Option<int64_t> attentionInt8MinKeys{
      *this, "attention-int8-min-keys",
      llvm::cl::desc("with attention-int8: only attention over at least "
                     "this many (static) keys"),
      llvm::cl::init(0)};
  Option<int64_t> attentionInt8MinKeysNarrow{
      *this, "attention-int8-min-keys-narrow",
      llvm::cl::desc("with attention-int8: the minimum for head dims below "
                     "128 (0: attention-int8-min-keys)"),
      llvm::cl::init(0)};
};

/// Fails with `message`: how a pipeline reports an option it cannot honour
/// (a pipeline builder itself cannot fail).
struct ErrorPass : public PassWrapper<ErrorPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ErrorPass)
  explicit ErrorPass(std::string message) : message(std::move(message)) {}
  StringRef getArgument() const override { return "qforge-pipeline-error"; }
  void runOnOperation() override {
    getOperation().emitError(message);
    signalPassFailure();
  }
  std::string message;
};

/// Options of the qforge-ptq pipeline (DESIGN §3).
struct PTQOptions : public PassPipelineOptions<PTQOptions> {
  Option<std::string> calibration{*this, "calibration",
                                  llvm::cl::desc("calibration table (JSON)")};
  Option<std::string> method{
      *this, "method", llvm::cl::desc("minmax | percentile | entropy | mse"),
      llvm::cl::init("minmax")};
  Option<std::string> mode{
      *this, "mode",
      llvm::cl::desc("static (calibrated activation scales) | dynamic "
                     "(per-token scales at run time, no table)"),
      llvm::cl::init("static")};
  Option<std::string> granularity{
      *this, "granularity",
      llvm::cl::desc("weights: per-channel | per-tensor | per-group"),
      llvm::cl::init("per-channel")};
  Option<int64_t> groupSize{*this, "group-size",
                            llvm::cl::desc("per-group weights: group size"),
                            llvm::cl::init(128)};
  Option<bool> intBias{
      *this, "int-bias",
      llvm::cl::desc("fused biases as i32 at scale sx * sw[c] (static mode)"),
      llvm::cl::init(false)};
  Option<bool> symmetric{
      *this, "symmetric",
      llvm::cl::desc("static activations: symmetric ranges (zero point 0); "
                     "false: asymmetric (minmax / percentile), the zero "
                     "point corrected by an i32 bias in the fused matmul"),
      llvm::cl::init(true)};
  Option<std::string> exclude{
      *this, "exclude",
      llvm::cl::desc(
          "regex: activations whose observer id matches stay float")};
};

} // namespace

void qforge::registerQForgePipelines() {
  PassPipelineRegistration<PTQOptions>(
      "qforge-ptq",
      "Post-training quantization: qforge-quantize-weights, then "
      "qforge-fold-scales (mode=static, from a calibration table) and "
      "qforge-fuse-qdq, or qforge-fuse-qdq{dynamic} (mode=dynamic), then "
      "canonicalize and cse. Accepts the original float module or the "
      "instrumented one.",
      [](OpPassManager &pm, const PTQOptions &options) {
        if (options.mode != "static" && options.mode != "dynamic") {
          // A pipeline builder cannot fail: a pass reports the error.
          pm.addPass(std::make_unique<ErrorPass>(
              "qforge-ptq: mode must be static or dynamic, got '" +
              options.mode + "'"));
          return;
        }
        QuantizeWeightsOptions weights;
        weights.granularity = options.granularity;
        weights.groupSize = options.groupSize;
        pm.addPass(createQuantizeWeights(weights));
        if (options.mode == "dynamic") {
          // No table: activations are quantized per token at run time.
          FuseQDQOptions fuse;
          fuse.dynamic = true;
          pm.addPass(createFuseQDQ(fuse));
          pm.addPass(createCanonicalizerPass());
          pm.addPass(createCSEPass());
          return;
        }
        FoldScalesOptions scales;
        scales.calibration = options.calibration;
        scales.method = options.method;
        scales.exclude = options.exclude;
        scales.symmetric = options.symmetric;
        pm.addPass(createFoldScales(scales));
        FuseQDQOptions fuse;
        fuse.intBias = options.intBias;
        pm.addPass(createFuseQDQ(fuse));
        pm.addPass(createCanonicalizerPass());
        pm.addPass(createCSEPass());
      });
  PassPipelineRegistration<NVVMOptions>(
      "qforge-to-nvvm",
      "Lower a module with qforge ops for the cuda target: tensors stay in "
      "device memory, qforge ops become runtime calls on device pointers, "
      "every other op a generated GPU kernel (PTX in the module), host code "
      "to the LLVM dialect",
      [](OpPassManager &pm, const NVVMOptions &options) {
        std::string text = toNVVMPipeline(
            options.chip, options.features, options.toolkit, options.blockSize,
            options.fuseSiblings, options.fuseAttention, options.attentionInt8,
            options.attentionInt8MinKeys, options.attentionInt8MinKeysNarrow);
        if (failed(parsePassPipeline(text, pm)))
          pm.addPass(std::make_unique<ErrorPass>(
              "qforge-to-nvvm: bad pipeline options (chip '" + options.chip +
              "', features '" + options.features + "', toolkit '" +
              options.toolkit + "')"));
      });
  PassPipelineRegistration<>(
      "qforge-to-llvm",
      "Lower a module with qforge ops to the LLVM dialect: runtime calls for "
      "qforge ops, one-shot bufferization, loops for the rest",
      [](OpPassManager &pm) {
        if (failed(parsePassPipeline(kToLLVM, pm)))
          llvm::report_fatal_error("qforge-to-llvm: bad pipeline text");
      });
}
