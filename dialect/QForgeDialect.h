//===- QForgeDialect.h - qforge dialect ------------------------*- C++ -*-===//

#ifndef QFORGE_DIALECT_QFORGEDIALECT_H
#define QFORGE_DIALECT_QFORGEDIALECT_H

#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/IR/Dialect.h"

#include "dialect/QForgeDialect.h.inc"

#endif // QFORGE_DIALECT_QFORGEDIALECT_H
