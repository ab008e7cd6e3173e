//===- Passes.td - qforge passes ---------------------------*- tablegen -*-===//
//
// Command-line names are the contract (docs/DESIGN.md §3). One pass per file
// under passes/; no `let constructor`: tablegen generates create functions.
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_PASSES_TD
#define QFORGE_PASSES_TD

include "mlir/Pass/PassBase.td"

#endif // QFORGE_PASSES_TD
