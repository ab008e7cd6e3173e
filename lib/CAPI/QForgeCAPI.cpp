//===- QForgeCAPI.cpp - C API of the qforge dialect and passes ------------===//

#include "qforge-c/QForge.h"

#include "dialect/QForgeDialect.h"
#include "qforge/InitAll.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Registration.h"

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(QForge, qforge, qforge::QForgeDialect)

void qforgeRegisterDialects(MlirDialectRegistry registry) {
  qforge::registerAllDialects(*unwrap(registry));
}

void qforgeRegisterPasses(void) { qforge::registerAllPasses(); }

const char *qforgeVersion(void) { return QFORGE_VERSION_STRING; }
