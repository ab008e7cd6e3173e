//===- QForgeBase.td - qforge dialect definition -----------*- tablegen -*-===//
//
// The qforge dialect: quantize / dequantize in QDQ form, calibration points,
// dynamic quantization and the int8 matmul with its epilogue. Quantized
// element types are upstream's !quant.uniform; qforge defines no types.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_DIALECT_QFORGEBASE_TD
#define QFORGE_DIALECT_QFORGEBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/EnumAttr.td"

def QForge_Dialect : Dialect {
  let name = "qforge";
  let cppNamespace = "::qforge";
  let summary = "Post-training quantization ops lowered to the qforge runtime";
  let description = [{
    Ops of the qforge quantization compiler. Between passes a quantized value
    is written in QDQ form: `qforge.quantize` / `qforge.dequantize` around
    float ops. Unlike upstream `quant.qcast` / `quant.dcast`, the pair
    `qforge.dequantize(qforge.quantize(x))` is never folded to `x`: the
    rounding it models is the point of the program.
  }];
  let dependentDialects = ["::mlir::quant::QuantDialect"];
}

class QForge_Op<string mnemonic, list<Trait> traits = []>
    : Op<QForge_Dialect, mnemonic, traits>;

def QForge_Granularity : I32EnumAttr<"Granularity",
    "how many scales a dynamic quantization computes", [
      I32EnumAttrCase<"per_tensor", 0>,
      I32EnumAttrCase<"per_token", 1>
    ]> {
  let cppNamespace = "::qforge";
}

def QForge_Activation : I32EnumAttr<"Activation",
    "activation applied in the matmul epilogue", [
      I32EnumAttrCase<"none", 0>,
      I32EnumAttrCase<"relu", 1>,
      I32EnumAttrCase<"gelu", 2>
    ]> {
  let cppNamespace = "::qforge";
}

#endif // QFORGE_DIALECT_QFORGEBASE_TD
