//===- QForgeOps.td - qforge dialect ops -------------------*- tablegen -*-===//

#ifndef QFORGE_DIALECT_QFORGEOPS_TD
#define QFORGE_DIALECT_QFORGEOPS_TD

include "dialect/QForgeBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// observe
//===----------------------------------------------------------------------===//

def QForge_ObserveOp : QForge_Op<"observe", [
    AllTypesMatch<["input", "result"]>]> {
  let summary = "identity that marks a calibration point";
  let description = [{
    Returns its input unchanged. In a calibration build the runtime records
    the running min/max and a histogram of every value that flows through it,
    keyed by `id`. Ids are unique per module and stable: `qforge-fold-scales`
    finds the statistics of an observer by its id, on the instrumented module
    and on the original one alike.

    The op is not `Pure`: it writes calibration statistics, so it is neither
    erased when its result is unused nor merged with another observer.

    ```mlir
    %0 = qforge.observe %x {id = "matmul_0.lhs"} : tensor<4x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, StrAttr:$id);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// quantize / dequantize / requantize
//===----------------------------------------------------------------------===//

def QForge_QuantizeOp : QForge_Op<"quantize", [Pure]> {
  let summary = "float tensor to a !quant.uniform tensor";
  let description = [{
    `q = clamp(round_half_even(x / scale) + zero_point, qmin, qmax)` with the
    scale, zero point and storage range of the result's quantized element type
    (per tensor, per axis or per sub-channel block). NaN quantizes to the zero
    point; +-Inf saturate.

    ```mlir
    %q = qforge.quantize %x : tensor<4x8xf32> to tensor<4x8x!quant.uniform<i8:f32, 0.05>>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
}

def QForge_DequantizeOp : QForge_Op<"dequantize", [Pure]> {
  let summary = "!quant.uniform tensor to a float tensor";
  let description = [{
    `x = (q - zero_point) * scale`, computed in f32 and rounded to the result
    element type, which must be the quantized type's expressed type.

    ```mlir
    %x = qforge.dequantize %q : tensor<4x8x!quant.uniform<i8:f32, 0.05>> to tensor<4x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
}

def QForge_RequantizeOp : QForge_Op<"requantize", [Pure]> {
  let summary = "one quantized type to another";
  let description = [{
    Re-expresses a quantized tensor in another quantized type with the same
    expressed type: `q' = clamp(round_half_even((q - z) * s / s') + z')`.
    A requantize to its own input type folds away.

    ```mlir
    %r = qforge.requantize %q : tensor<8x!quant.uniform<i32:f32, 0.001>> to tensor<8x!quant.uniform<i8:f32, 0.1>>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// dynamic_quantize
//===----------------------------------------------------------------------===//

def QForge_DynamicQuantizeOp : QForge_Op<"dynamic_quantize", [Pure]> {
  let summary = "float tensor to i8 with scales computed at run time";
  let description = [{
    Symmetric int8 quantization whose scales are computed from the data:
    `scale = max|x| / 127` over the whole tensor (`per_tensor`, scales of shape
    [1]) or over the last dimension (`per_token`, scales of the input's shape
    without its last dimension), then
    `q = clamp(round_half_even(x * (127 / max|x|)), -127, 127)`. A group that is all zero gets scale 1 (documented fallback:
    never 0 or NaN). This is the activation path of BMINF and LLM.int8.

    With `activation(relu)` or `activation(gelu)`, the quantized tensor is
    `act(x)`: each element widened to f32, the activation applied (as in a
    matmul epilogue), then the scale and codes computed from the activated
    values. qforge-fuse-qdq moves a matmul's GELU here when the quantization
    is the matmul's only user and its rows are long (see docs/PASSES.md).

    ```mlir
    %q, %s = qforge.dynamic_quantize per_token %x : tensor<16x64xf16> -> tensor<16x64xi8>, tensor<16xf32>
    %g, %t = qforge.dynamic_quantize per_token %y activation(gelu) : tensor<16x8192xf16> -> tensor<16x8192xi8>, tensor<16xf32>
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$input,
    QForge_Granularity:$granularity,
    DefaultValuedAttr<QForge_Activation, "::qforge::Activation::none">:$activation
  );
  let results = (outs AnyRankedTensor:$result, AnyRankedTensor:$scales);
  let assemblyFormat = [{
    $granularity $input (`activation` `(` $activation^ `)`)?
    attr-dict `:` type($input) `->` type($result) `,` type($scales)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// matmul
//===----------------------------------------------------------------------===//

def QForge_MatmulOp : QForge_Op<"matmul", [Pure, AttrSizedOperandSegments]> {
  let summary = "int8 x int8 matmul with i32 accumulation and a fused epilogue";
  let description = [{
    `acc[b, m, n] = sum_k lhs[b, m, k] * rhs[b, k, n]` in i32, with `lhs` of
    shape [batch..., M, K] and `rhs` of shape [K, N] (or [N, K] with
    `rhs_transposed`), or with the same leading batch dimensions as `lhs`. The
    epilogue then computes, in f32:

    ```
    y = act((acc + bias_i32[n]) * lhs_scale[b, m] * rhs_scale[n] + bias_f32[n])
    ```

    * `lhs_scale`: f32 of shape [1] (per tensor) or lhs's shape without K
      (per row / per token); absent means 1.
    * `rhs_scale`: f32 of shape [1] (per tensor) or [N] (per output channel),
      or rhs's batch dimensions followed by N; absent means 1.
    * `bias`: shape [N]; an i32 bias is added to the accumulator (it was
      quantized at scale lhs_scale * rhs_scale), an f32 bias after scaling.
    * `activation`: `relu` or `gelu` (exact erf form, as PyTorch's default), applied last.

    The result is f32, f16 or bf16; or an i8 `!quant.uniform` per-tensor type,
    in which case `y` is requantized with that type's scale and zero point; or
    plain i32, the raw accumulator, which admits no epilogue.

    ```mlir
    %y = qforge.matmul %a, %w rhs_transposed lhs_scale(%sa : tensor<16xf32>)
           rhs_scale(%sw : tensor<32xf32>) bias(%b : tensor<32xi32>) activation(relu)
           : tensor<16x64xi8>, tensor<32x64xi8> -> tensor<16x32xf16>
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$lhs,
    AnyRankedTensor:$rhs,
    Optional<AnyRankedTensor>:$lhs_scale,
    Optional<AnyRankedTensor>:$rhs_scale,
    Optional<AnyRankedTensor>:$bias,
    UnitAttr:$rhs_transposed,
    DefaultValuedAttr<QForge_Activation, "::qforge::Activation::none">:$activation
  );
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs (`rhs_transposed` $rhs_transposed^)?
    (`lhs_scale` `(` $lhs_scale^ `:` type($lhs_scale) `)`)?
    (`rhs_scale` `(` $rhs_scale^ `:` type($rhs_scale) `)`)?
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`activation` `(` $activation^ `)`)?
    attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Number of leading batch dimensions of the result.
    int64_t getNumBatchDims() {
      return getLhs().getType().getRank() - 2;
    }
  }];
}

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

def QForge_AttentionOp : QForge_Op<"attention", [Pure]> {
  let summary = "scaled dot-product attention without a mask, as one op";
  let description = [{
    `result[b, i, :] = sum_j p[b, i, j] * value[b, j, :]` with
    `p[b, i, :] = softmax_j(scale * dot(query[b, i, :], key[b, j, :]))`,
    for `query` [B, S, D], `key` and `value` [B, Skv, D] and a result of
    query's shape; all of one float type (f32, f16 or bf16). `scale` is a
    finite f32. With `causal`, query row i attends to keys 0..i only (the
    mask of PyTorch's `is_causal=True`, aligned at the top left). The scores
    are kept in f32 and never stored: the runtime computes the softmax online
    over blocks of keys (flash attention), so the result rounds differently
    from the unfused matmul / softmax / matmul chain it replaces
    (qforge-fuse-attention), within the float type's precision.

    With `int8` (f16 / bf16 only) both products run on int8 operands
    quantized at run time: Q and K symmetric per row / per block of keys,
    V per channel, the probabilities as u8 per block of keys
    (`QFORGE_ATTENTION_INT8` in qforge_rt.h gives the arithmetic). The
    result keeps its float type; the error is that of 7-bit operands.

    ```mlir
    %o = qforge.attention %q, %k, %v scale 1.250000e-01
           : tensor<16x2048x64xf16>, tensor<16x2048x64xf16>, tensor<16x2048x64xf16>
             -> tensor<16x2048x64xf16>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                       AnyRankedTensor:$value, F32Attr:$scale,
                       UnitAttr:$causal, UnitAttr:$int8);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value `scale` $scale (`causal` $causal^)?
    (`int8` $int8^)? attr-dict
    `:` type($query) `,` type($key) `,` type($value) `->` type($result)
  }];
  let hasVerifier = 1;
}

#endif // QFORGE_DIALECT_QFORGEOPS_TD
