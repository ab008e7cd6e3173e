//===- ir_pipeline_fuzzer.cpp - fuzz the parser, verifiers and qforge-ptq -===//
//
// Input: MLIR text. It is parsed with every upstream dialect and qforge's
// registered (which runs the qforge verifiers); a module that parses and
// verifies is run through qforge-insert-calibration on one copy, and
// `qforge-ptq{mode=dynamic}` then `qforge-lower-to-runtime` on another.
// Errors (diagnostics, failed passes) are expected outcomes; what the fuzzer
// looks for is a crash, a sanitizer report, or a pass that succeeds but
// leaves IR that no longer verifies (a bug in the pass, reported by abort()).
//
//===----------------------------------------------------------------------===//

#include "qforge/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

const mlir::DialectRegistry &registry() {
  static const mlir::DialectRegistry *instance = [] {
    mlir::registerAllPasses();
    qforge::registerAllPasses();
    auto *reg = new mlir::DialectRegistry();
    mlir::registerAllDialects(*reg);
    mlir::registerAllExtensions(*reg);
    qforge::registerAllDialects(*reg);
    return reg;
  }();
  return *instance;
}

// Runs `pipeline` on a copy of `module`. A pass may fail (the input can be
// anything); a pass that succeeds must leave valid IR.
void runPipeline(mlir::ModuleOp module, llvm::StringRef pipeline) {
  mlir::OwningOpRef<mlir::ModuleOp> copy(module.clone());
  auto pm = mlir::PassManager::on<mlir::ModuleOp>(module.getContext());
  // Verification after each pass is what we check ourselves below, so a
  // broken pass is told apart from a rejected input.
  pm.enableVerifier(false);
  if (mlir::failed(mlir::parsePassPipeline(pipeline, pm))) {
    llvm::errs() << "fuzzer: bad pipeline " << pipeline << "\n";
    std::abort();
  }
  if (mlir::failed(pm.run(*copy)))
    return;
  // QFORGE_FUZZ_PRINT=1 shows what the pipeline made (to check, on the
  // replay build, that the passes really run on the seeds).
  static const bool print = std::getenv("QFORGE_FUZZ_PRINT") != nullptr;
  if (print)
    llvm::outs() << "// after " << pipeline << "\n" << *copy << "\n";
  if (mlir::failed(mlir::verify(*copy))) {
    llvm::errs() << "fuzzer: '" << pipeline
                 << "' succeeded but left IR that does not verify\n";
    std::abort();
  }
}

/// Inputs that crash upstream MLIR 22's own parsers, screened out so that
/// the fuzzer keeps looking at qforge's code. Each has its reproducer in
/// fuzz/upstream/ and an entry in docs/RELIABILITY.md.
bool hitsKnownUpstreamCrash(llvm::StringRef text) {
  // linalg.transpose (`permutation`) and linalg.broadcast (`dimensions`):
  // any syntax error in the integer list makes the op's parser dereference
  // a null attribute (fuzz/upstream/linalg-transpose-permutation*.mlir).
  // Screened: every such keyword not followed by a well-formed list.
  static const llvm::Regex wellFormed(
      "^[[:space:]]*=[[:space:]]*\\[[[:space:]]*(-?[0-9]+([[:space:]]*,[[:space:]]*-?[0-9]+)*)?[[:space:]]*\\]");
  for (llvm::StringRef keyword : {"permutation", "dimensions"}) {
    for (size_t at = text.find(keyword); at != llvm::StringRef::npos;
         at = text.find(keyword, at + 1)) {
      if (!wellFormed.match(text.substr(at + keyword.size())))
        return true;
    }
  }
  // linalg.generic: an attribute dictionary followed by anything but its
  // ins/outs makes the parser sort garbage attribute names
  // (fuzz/upstream/linalg-generic-after-attributes.mlir).
  for (size_t at = text.find("linalg.generic"); at != llvm::StringRef::npos;
       at = text.find("linalg.generic", at + 1)) {
    size_t open = text.find_first_not_of(" \t\n", at + 14);
    if (open == llvm::StringRef::npos || text[open] != '{')
      continue;
    int depth = 0;
    size_t close = open;
    for (; close < text.size(); ++close) {
      depth += text[close] == '{' ? 1 : text[close] == '}' ? -1 : 0;
      if (depth == 0)
        break;
    }
    llvm::StringRef rest = text.substr(close + 1).ltrim();
    if (!rest.starts_with("ins(") && !rest.starts_with("outs("))
      return true;
  }
  return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // Large inputs only slow the search down; the bugs live in small ones.
  if (size > 16384)
    return 0;
  // A context per input: attributes and types are uniqued for the life of a
  // context, so a shared one would grow with every random constant.
  mlir::MLIRContext context(registry(), mlir::MLIRContext::Threading::DISABLED);
  context.allowUnregisteredDialects(false);
  mlir::ScopedDiagnosticHandler silence(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });

  // MLIR's lexer reads up to a terminating NUL (as in a file's
  // MemoryBuffer); the fuzzer's bytes have none, so copy them into a string.
  std::string owned(reinterpret_cast<const char *>(data), size);
  llvm::StringRef text(owned);
  if (hitsKnownUpstreamCrash(text))
    return 0;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  if (!module)
    return 0;
  runPipeline(*module, "qforge-insert-calibration");
  runPipeline(*module, "qforge-ptq{mode=dynamic},qforge-lower-to-runtime");
  return 0;
}
