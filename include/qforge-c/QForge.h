/*===- qforge-c/QForge.h - C API of the qforge dialect and passes -*- C -*-===*\
|*                                                                            *|
|* In the style of MLIR's own C API (mlir-c/Dialect/*.h): a dialect handle   *|
|* for the qforge dialect and registration functions for its passes and      *|
|* pipelines, so that Python, Rust or any C-ABI stack that drives MLIR       *|
|* through the upstream C API can load qforge and run qforge-ptq. Link       *|
|* QForge::QForgeCAPI (see docs/INTEGRATION.md).                             *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef QFORGE_C_QFORGE_H
#define QFORGE_C_QFORGE_H

#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mlirGetDialectHandle__qforge__(): the qforge dialect, to insert into a
 * registry (mlirDialectHandleInsertDialect) or load into a context
 * (mlirDialectHandleLoadDialect). */
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(QForge, qforge);

/* Inserts qforge and the dialects its inputs and passes use (quant, arith,
 * func, linalg, tensor) into `registry`. */
MLIR_CAPI_EXPORTED void qforgeRegisterDialects(MlirDialectRegistry registry);

/* Registers every qforge pass (qforge-quantize-weights,
 * qforge-insert-calibration, qforge-fold-scales, qforge-fuse-qdq,
 * qforge-lower-to-runtime) and the pipelines qforge-ptq and qforge-to-llvm
 * with MLIR's global registry, so mlirParsePassPipeline finds them.
 * Idempotent. */
MLIR_CAPI_EXPORTED void qforgeRegisterPasses(void);

/* The qforge version, "MAJOR.MINOR.PATCH". */
MLIR_CAPI_EXPORTED const char *qforgeVersion(void);

#ifdef __cplusplus
}
#endif

#endif /* QFORGE_C_QFORGE_H */
