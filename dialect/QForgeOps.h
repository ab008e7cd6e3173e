//===- QForgeOps.h - qforge dialect ops ------------------------*- C++ -*-===//

#ifndef QFORGE_DIALECT_QFORGEOPS_H
#define QFORGE_DIALECT_QFORGEOPS_H

#include "dialect/QForgeDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialect/QForgeEnums.h.inc"

#define GET_OP_CLASSES
#include "dialect/QForgeOps.h.inc"

#endif // QFORGE_DIALECT_QFORGEOPS_H
