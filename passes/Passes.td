//===- Passes.td - qforge passes ---------------------------*- tablegen -*-===//
//
// Command-line names are the contract (docs/DESIGN.md §3). One pass per file
// under passes/; no `let constructor`: tablegen generates create functions.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_PASSES_TD
#define QFORGE_PASSES_TD

include "mlir/Pass/PassBase.td"

def QuantizeWeights : Pass<"qforge-quantize-weights", "::mlir::ModuleOp"> {
  let summary = "Rewrite constant weights of matmuls and convolutions to int8 "
                "(QDQ form)";
  let description = [{
    For every constant weight of a `linalg.matmul` (any indexing maps, so
    transposed weights too), `linalg.batch_matmul`, `linalg.conv_2d_nhwc_hwcf`
    or `linalg.conv_2d_nchw_fchw` — also when the constant reaches the op
    through `linalg.transpose`, a transposing `linalg.generic`,
    `tensor.collapse_shape` / `expand_shape` / `reshape` or `tensor.cast`, as
    torch-mlir emits for `nn.Linear` — the float constant is replaced by an
    integer constant, `quant.scast` to a `!quant.uniform` type and
    `qforge.dequantize`, placed at the constant; the layout ops are kept
    between the dequantize and the op.

    Scales are symmetric: `s = max|w| / 127` (or `/ 7` for 4 bits) over each
    output channel (the N of a matmul, the F of a convolution, wherever the
    layout puts it), over the whole tensor, or over each group of
    `group-size` reduction elements of a channel (sub-channel
    `!quant.uniform`). Codes are `clamp(rne(w / s), -127, 127)`; an all-zero
    channel gets scale 1.

    A constant shared by several quantizable ops is quantized once; a use by
    any other op keeps the float constant. A NaN or Inf in a weight is an
    error naming the op. Large weights stored as `dense_resource` blobs stay
    blobs.
  }];
  let options = [
    Option<"granularity", "granularity", "std::string", "\"per-channel\"",
           "per-channel | per-tensor | per-group">,
    Option<"groupSize", "group-size", "int64_t", "128",
           "reduction elements per scale with granularity=per-group">,
    Option<"bits", "bits", "int", "8",
           "code width: 8, or 4 with granularity=per-group">
  ];
  let dependentDialects = ["::qforge::QForgeDialect",
                           "::mlir::quant::QuantDialect",
                           "::mlir::arith::ArithDialect"];
}

def InsertCalibration : Pass<"qforge-insert-calibration", "::mlir::ModuleOp"> {
  let summary = "Insert qforge.observe on the float activations of "
                "quantizable ops";
  let description = [{
    For every `linalg.matmul`, `linalg.batch_matmul`, `linalg.conv_2d_nhwc_hwcf`
    and `linalg.conv_2d_nchw_fchw`, each float input that is not a constant
    weight (the activation; both inputs of an activation x activation product
    such as attention's Q K^T) gets a `qforge.observe`. A value feeding
    several ops is observed once.

    Ids are deterministic and readable: `<function>.<op kind>_<n>.<operand>`,
    e.g. `mlp.matmul_1.lhs`, where n counts the quantizable ops of that kind
    in the function in order; an op with a name location (torch-mlir's
    `loc("...")`) uses that name instead of `<op kind>_<n>` (`<name>_1`,
    `<name>_2`, ... for later ops sharing the name). Running the pass
    on the original float module again gives the same ids, so a calibration
    table made with the instrumented module applies to the original.
  }];
  let options = [
    Option<"ops", "ops", "std::string", "\"matmul,batch_matmul,conv\"",
           "comma-separated op kinds to observe: matmul, batch_matmul, conv">,
    Option<"exclude", "exclude", "std::string", "\"\"",
           "regular expression; matching ids (or op locations) get no "
           "observer">,
    Option<"observeResults", "observe-results", "bool", "false",
           "also observe each quantizable op's result (id suffix .out), for "
           "outputs that are requantized but feed no other quantizable op">
  ];
  let dependentDialects = ["::qforge::QForgeDialect"];
}

def FoldScales : Pass<"qforge-fold-scales", "::mlir::ModuleOp"> {
  let summary = "Turn calibration observers into quantize/dequantize with "
                "concrete scales from a calibration table";
  let description = [{
    Reads the table written by `qforge-run --calibrate` and replaces every
    `qforge.observe %x {id}` by `qforge.dequantize(qforge.quantize(%x))` with
    the `!quant.uniform` type the calibration method gives that id:
    symmetric int8 `[-127, 127]`, scale `t / 127` (default), or asymmetric
    `[-128, 127]` with a zero point. On a module without observers (the
    original float model, possibly after qforge-quantize-weights) the
    observers are first inserted as qforge-insert-calibration does, with the
    same ids. The table must match the module's calibration points (hash of
    the observers' ids and types) and hold every id: a stale or incomplete
    table is an error, never a silent default.
  }];
  let options = [
    Option<"calibration", "calibration", "std::string", "\"\"",
           "the calibration table (JSON from qforge-run --calibrate)">,
    Option<"method", "method", "std::string", "\"minmax\"",
           "minmax | percentile | entropy | mse">,
    Option<"percentile", "percentile", "double", "99.99",
           "percentile of the percentile method">,
    Option<"symmetric", "symmetric", "bool", "true",
           "symmetric ranges (false: asymmetric, minmax or percentile)">,
    Option<"exclude", "exclude", "std::string", "\"\"",
           "regular expression over observer ids: matching activations stay "
           "float (their observers are dropped)">
  ];
  let dependentDialects = ["::qforge::QForgeDialect",
                           "::mlir::quant::QuantDialect"];
}

def FuseQDQ : Pass<"qforge-fuse-qdq", "::mlir::ModuleOp"> {
  let summary = "Fuse dequantize -> matmul chains into integer qforge.matmul";
  let description = [{
    Rewrites `linalg.matmul(dequantize(x_q), W)` where x_q is a symmetric
    per-tensor int8 activation and W reaches the matmul as
    `dequantize(quant.scast(int8 constant))` — directly ([K, N]), through a
    `linalg.transpose` of an [N, K] constant, or with a transposed-B indexing
    map — into `qforge.matmul` on the int8 operands with the scales as
    epilogue vectors (lhs: [sx]; rhs: per output channel or per tensor),
    when the matmul accumulates into a zero-filled f32, f16 or bf16 init
    (the fused op writes that type). A following `linalg.generic` that adds
    a bias vector along N (and optionally applies `max(x, 0)`) becomes the
    matmul's f32 bias and relu epilogue (a constant f16 / bf16 bias is
    converted exactly). quantize of a dequantize of the same type is
    removed.

    With `dynamic=true`, a matmul whose activation is plain float (f32, f16
    or bf16) is fused too:
    the activation goes through `qforge.dynamic_quantize per_token` and its
    run-time scales become the matmul's per-row lhs scales (dynamic PTQ, as
    in BMINF and LLM.int8; no calibration needed).

    With `remarks=true`, a matmul fed by a dequantize that stays float gets a
    remark saying why (asymmetric activation, weight not constant, non-zero
    init, unsupported types or layout).

    batch_matmul fuses when both operands are static int8 activations or the
    rhs is an int8 constant weight.

    A GELU matmul whose only user is a per-token `qforge.dynamic_quantize`
    of rows longer than 2048 (or of unknown length) hands its GELU to the
    quantization (`activation(gelu)`), where it keeps no tensor cores
    waiting as it does in the int8 GEMM's epilogue.

    Not yet: convolutions' epilogues, requantized outputs of f16 graphs,
    moving q/dq through reshapes.
  }];
  let options = [
    Option<"remarks", "remarks", "bool", "false",
           "emit a remark for each matmul left float, saying why">,
    Option<"intBias", "int-bias", "bool", "false",
           "store fused biases as i32 at scale sx * sw[c] (TensorRT/ONNX "
           "style; kept f32 with a remark if it could overflow i32). "
           "Default: f32 bias added after scaling (more accurate)">,
    Option<"dynamic", "dynamic", "bool", "false",
           "also fuse matmuls on float activations, quantizing them per "
           "token at run time (qforge.dynamic_quantize): dynamic PTQ">
  ];
  let dependentDialects = ["::qforge::QForgeDialect",
                           "::mlir::quant::QuantDialect",
                           "::mlir::arith::ArithDialect"];
}

def LowerToRuntime : Pass<"qforge-lower-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lower qforge ops to calls into the qforge runtime";
  let description = [{
    Rewrites every qforge op into a call of the runtime's compiled-model entry
    points (`qforge_rt_m_*`, see runtime/include/qforge_rt.h) on buffers:
    operands go through `bufferization.to_buffer`, results are fresh
    `memref.alloc`s returned through `bufferization.to_tensor`, and pointers
    are passed as i64 addresses (aligned pointer plus offset). Quantized
    tensor types become their storage types everywhere (function signatures
    included) and `quant.scast` disappears. Public functions get
    `llvm.emit_c_interface`, so the compiled model exports
    `_mlir_ciface_<name>`.

    The result is ready for one-shot bufferization and upstream lowering to
    LLVM: the `qforge-to-llvm` pipeline runs all of it.

    `qforge.observe` becomes `qforge_rt_m_observe` with the id's bytes in a
    constant global: the runtime collects statistics per id (a calibration
    build). Not lowered yet, with an error saying so: sub-channel
    (per-group) quantized types, per-axis requantize.

    With `float-gemms=true` (the cuda target's pipeline sets it), float
    `linalg.matmul` / `linalg.batch_matmul` (f32, f16, bf16; default
    indexing maps; accumulating into a zero fill) become calls of the
    runtime's float GEMM (`qforge_rt_m_gemm_float`: cuBLASLt on cuda) too;
    an rhs made by a `linalg.transpose` of the last two dimensions is read
    in its stored layout (`rhs_transposed`), as nn.Linear weights are.

    With `quantize-kernels=true` (also set by the cuda target's pipeline),
    a per-tensor `qforge.quantize` becomes a `linalg.generic` computing
    the runtime's formula op for op (`clamp(roundeven(x / scale) + zp)` in
    f32, NaN to the zero point), so that the quantization of a layernorm's
    or softmax's output is done by the kernel that computes it. A
    per-token `qforge.dynamic_quantize` whose input comes from a linalg op,
    or whose rows have at most 2048 elements, becomes linalg the same way
    (the runtime's formula: max of the finite |x| per row, the codes
    `clamp(roundeven(x * 127 / max), -127, 127)` with NaN to 0, the scales
    `max / 127`, 1 for an all-zero row).
  }];
  let options = [
    Option<"floatGemms", "float-gemms", "bool", /*default=*/"false",
           "Lower float matmuls to the runtime's float GEMM">,
    Option<"quantizeKernels", "quantize-kernels", "bool",
           /*default=*/"false",
           "Per-tensor qforge.quantize as a linalg.generic (the runtime's "
           "formula, bit for bit) that qforge-fuse-elementwise can fuse "
           "into the op producing its input, instead of a runtime call">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::tensor::TensorDialect"];
}

def DeviceMemory : Pass<"qforge-device-memory", "::mlir::ModuleOp"> {
  let summary = "Keep a bufferized model's tensors in device memory";
  let description = [{
    For the cuda target (pipeline `qforge-to-nvvm`), after bufferization:
    every `memref.alloc` / `memref.dealloc` of the host functions becomes
    `gpu.alloc` / `gpu.dealloc`, every `memref.copy` a `gpu.memcpy`, and
    every constant global the model reads (`memref.get_global` of a
    bufferized `arith.constant`) the device copy the runtime uploads once
    per context (`qforge_rt_m_device_constant`, viewed with `memref.view`).
    The byte strings of qforge's own runtime calls (observer ids, shape-check
    messages: globals named `__qforge_*`) stay host data. Together with the
    runtime calls, which use device pointers in place, a model's tensors
    then stay on the device from its inputs to its outputs.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect"];
}

def FuseElementwise : Pass<"qforge-fuse-elementwise", "::mlir::ModuleOp"> {
  let summary = "Fuse chains of elementwise linalg ops into their consumers";
  let description = [{
    For the cuda target (pipeline `qforge-to-nvvm`, after
    `qforge-lower-to-runtime`, on tensors), where each remaining linalg op
    becomes one generated kernel and one trip of its result through device
    memory: named all-parallel ops (transpose, broadcast, elementwise named
    ops, copy) are generalized; an elementwise `linalg.generic` with several
    users is cloned once per user when recomputing it reads fewer bytes
    than writing its result once and reading it back in every user
    (`users * in <= in + out + users * out`, `in` counting the inputs read
    in full); then upstream's producer-consumer fusion of elementwise
    generics into their consumers (reductions included) runs, with reshapes
    folded into generics by expansion and dead operands dropped; last, a
    `linalg.fill` read by several ops (reductions' accumulators) is cloned
    once per user, so that each folds into its reduction's kernel. A softmax
    becomes three ops (max, sum of exponentials, normalize) that each
    read the scores once, a layernorm three (sum, sum of squares,
    normalize), which qforge-parallel-to-gpu runs as one row kernel.
    Values are computed by the same ops in the same order.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def DecomposeAggregates : Pass<"qforge-decompose-aggregates", "::mlir::ModuleOp"> {
  let summary = "Decompose linalg.softmax (and other aggregated linalg ops)";
  let description = [{
    Replaces every op of upstream's `AggregatedOpInterface` (`linalg.softmax`
    among them) with the simpler linalg ops it stands for, through the op's
    own `decomposeOperation`: a softmax becomes a max reduction, `exp(x -
    max)`, a sum reduction and a division. Neither pipeline could lower
    these ops otherwise. Both pipelines run it early (the cuda pipeline
    after `qforge-fuse-attention`, which takes a `linalg.softmax` between
    the attention matmuls as it is).
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect"];
}

def FuseSiblingMatmuls : Pass<"qforge-fuse-sibling-matmuls", "::mlir::ModuleOp"> {
  let summary = "Fuse matmuls that share their activation into one GEMM";
  let description = [{
    Horizontal fusion of matmuls reading the same activation with constant
    two-dimensional weights (a transformer's Q, K and V projections, a gated
    MLP's gate and up projections): they become one matmul over the weights
    concatenated along N, at compile time; each former result is a
    `tensor.extract_slice` of its columns. Integer `qforge.matmul`s must
    share `lhs` and `lhs_scale` and agree on activation, result type, weight
    layout (`rhs_transposed`) and the presence and element types of
    `rhs_scale` and `bias` (concatenated too). Float `linalg.matmul`s into a
    zero fill, with the weight constant or a transposed constant (nn.Linear),
    fuse with the `x + bias[n]` op that is each one's only user when those
    compute alike: one op over the concatenated bias follows the fused
    matmul. Results are bit-identical; one wide GEMM fills the GPU where
    several narrow ones each end in a partial wave. The cuda pipeline runs
    it first (`qforge-to-nvvm{fuse-siblings}`); qforge-lower-to-runtime
    reads attention operands that are such slices in place (their row
    stride is the fused width).
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect"];
}

def FuseAttention : Pass<"qforge-fuse-attention", "::mlir::ModuleOp"> {
  let summary = "Raise matmul / softmax / matmul attention to qforge.attention";
  let description = [{
    Finds `batch_matmul(softmax(scale * batch_matmul(Q, K^T)), V)` written
    out in linalg as torch-mlir emits it (row max from -inf, `exp((x - max)
    [* c])`, row sum from 0, division by the sum; the scale applied inside
    the exponential, to the scores before the softmax, or both) and replaces
    it with one `qforge.attention`, which the runtime computes as flash
    attention without storing the scores. A transpose that produced K^T is
    composed into the key's transpose. Only chains whose intermediates have
    no other users, in f16 or bf16, with a head dim in `head-dims` (those
    the CUDA kernel takes) are rewritten; the cuda pipeline runs it first.
    Rounding changes: scores stay f32, probabilities are rounded once.
    With `int8`, the fused ops compute both products in int8 (the op's
    `int8` attribute; qforge-compile sets it for quantized models), with
    `int8-min-keys` only those over at least that many (static) keys
    (`int8-min-keys-narrow`, when set, instead for head dims below 128:
    the int8 kernel saves less per key there).
  }];
  let options = [
    ListOption<"headDims", "head-dims", "int64_t",
               "Head dims to fuse (default: 32, 64, 128, the CUDA kernel's)">,
    Option<"int8", "int8", "bool", "false",
           "Mark the fused ops int8: both products on int8 operands "
           "quantized at run time">,
    Option<"int8MinKeys", "int8-min-keys", "int64_t", "0",
           "With int8: only attention over at least this many keys (a "
           "static count); shorter or dynamic key lengths stay float">,
    Option<"int8MinKeysNarrow", "int8-min-keys-narrow", "int64_t", "0",
           "With int8: the minimum for head dims below 128 instead of "
           "int8-min-keys (0: int8-min-keys for every head dim)">,
  ];
  let dependentDialects = ["::qforge::QForgeDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def ParallelToGPU : Pass<"qforge-parallel-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Run the parallel loops of host functions as GPU kernels";
  let description = [{
    Every outermost `scf.parallel` of a host function (what
    `convert-linalg-to-parallel-loops` makes of elementwise ops, broadcasts,
    transposes, reductions such as softmax and layernorm, and float matmuls)
    becomes a `gpu.launch`: its iteration space is flattened to one index,
    one thread per point, `block-size` threads per block, the innermost
    dimension fastest (coalesced). A row reduction (the parallel loop's
    body an scf.for accumulating into out[ivs] with add, mul, max or min,
    as linalg reductions such as softmax's and layernorm's become) gets one
    warp per row instead: lanes stride over the row, a butterfly of
    `gpu.shuffle`s combines them and lane 0 folds the result into the
    accumulator (`row-reductions=false`: one thread per row); the fill that
    initializes the accumulator just before is folded into the kernel.
    Consecutive row reductions over the same rows and range, and an
    elementwise loop over those rows' elements right after them, share one
    kernel when every access to memory they write is at the warp's own row
    (`row-fusion`): a softmax (max, sum of exponentials, normalization) or
    a layernorm becomes one kernel whose later phases take the row totals
    from registers. Other
    reductions stay sequential loops inside a thread. Loads and stores
    along the innermost index of contiguous memory whose start is known
    aligned (gpu.alloc, device constants, views of them, function
    arguments, which are checked on entry for 16-byte alignment) become
    16-byte vector accesses: one thread per vector in an elementwise
    kernel, vectors strided by the warp in a row kernel. Then every host operation that would read or write device
    memory (a `memref.load` / `memref.store` outside a kernel) is an error
    naming it, since the cuda target keeps tensors on the device.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block">,
    Option<"rowReductions", "row-reductions", "bool", /*default=*/"true",
           "Reduce rows with one warp each (shuffles) instead of one "
           "thread each">,
    Option<"rowFusion", "row-fusion", "bool", /*default=*/"true",
           "Run consecutive row reductions over the same rows, and the "
           "elementwise loop over those rows that follows them, in one "
           "kernel (one warp per row)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def FloatPrecision : Pass<"qforge-float-precision", "::mlir::ModuleOp"> {
  let summary = "Compute a model's float parts in f16 or bf16";
  let description = [{
    Retypes every f32 value of the public functions' bodies (tensors,
    scalars in linalg bodies, constants, the expressed type of quantized
    types) to `type`, keeping the functions' f32 signatures: inputs are
    converted on entry, results on return. What must stay f32 stays: the
    scale and bias vectors of `qforge.matmul` and the scales of
    `qforge.dynamic_quantize`. Run after inlining (private functions are
    left as they are). `qforge-compile --float-precision f16|bf16` runs it
    first; the float GEMMs then run in that type (cuBLASLt with f32
    accumulation) and so do the generated kernels.
  }];
  let options = [
    Option<"type", "type", "std::string", /*default=*/"\"f16\"",
           "f16 or bf16">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::quant::QuantDialect"];
}

#endif // QFORGE_PASSES_TD
