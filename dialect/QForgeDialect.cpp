//===- QForgeDialect.cpp - qforge dialect registration --------------------===//

#include "dialect/QForgeDialect.h"
#include "dialect/QForgeOps.h"

using namespace mlir;
using namespace qforge;

#include "dialect/QForgeDialect.cpp.inc"

void QForgeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialect/QForgeOps.cpp.inc"
      >();
}
