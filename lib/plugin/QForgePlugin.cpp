//===- QForgePlugin.cpp - qforge as an mlir-opt plugin --------------------===//
//
// Lets a stock mlir-opt (or any MlirOptMain tool linked against the same
// libMLIR.so) load the qforge dialect and passes:
//
//   mlir-opt --load-dialect-plugin=libQForgePlugin.so \
//            --load-pass-plugin=libQForgePlugin.so \
//            --pass-pipeline='builtin.module(qforge-quantize-weights)' in.mlir
//
//===----------------------------------------------------------------------===//

#include "qforge/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"

#include "llvm/Config/llvm-config.h"

extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "QForge", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            qforge::registerAllDialects(*registry);
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK mlir::PassPluginLibraryInfo
mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "QForgePasses", LLVM_VERSION_STRING,
          []() { qforge::registerAllPasses(); }};
}
