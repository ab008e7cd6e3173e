// Downstream use of the installed compiler libraries: the registration
// entry points of qforge/InitAll.h in an MLIR context of the project's own,
// then the qforge-ptq pipeline by name.
#include "qforge/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/Support/raw_ostream.h"

static const char *kLinear = R"(
func.func @linear(%x: tensor<8x16xf32>) -> tensor<8x4xf32> {
  %w = arith.constant dense<0.25> : tensor<16x4xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<8x4xf32>) -> tensor<8x4xf32>
  %y = linalg.matmul ins(%x, %w : tensor<8x16xf32>, tensor<16x4xf32>) outs(%init : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %y : tensor<8x4xf32>
}
)";

int main() {
  mlir::DialectRegistry registry;
  qforge::registerAllDialects(registry);
  qforge::registerAllPasses();
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(kLinear, &context);
  if (!module)
    return 1;
  // Anchored on the module; the pipeline text is then its elements alone
  // ("builtin.module(...)" here would nest a pipeline for inner modules).
  auto pm = mlir::PassManager::on<mlir::ModuleOp>(&context);
  if (mlir::failed(mlir::parsePassPipeline("qforge-ptq{mode=dynamic}", pm)) ||
      mlir::failed(pm.run(*module)))
    return 1;
  module->print(llvm::outs());
  llvm::outs() << "downstream compiler OK\n";
  return 0;
}
