//===- qforge-opt.cpp - the qforge optimizer driver -----------------------===//
//
// mlir-opt with every upstream dialect, pass and extension plus qforge's.
//
//===----------------------------------------------------------------------===//

#include "qforge/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  qforge::registerAllPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  qforge::registerAllDialects(registry);
  qforge::registerCodegenInterfaces(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "qforge optimizer: quantization passes over MLIR\n",
      registry));
}
