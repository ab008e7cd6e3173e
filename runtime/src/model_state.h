//===- model_state.h - what the calls of a compiled model share -*- C++ -*-===//
//
// A compiled model calls the runtime through scalar-only C functions
// (qforge_rt_m_*, and the mgpu* ABI of MLIR's GPU lowering): they act on the
// thread's current context and record the first failure instead of
// returning it (model_abi.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_RT_MODEL_STATE_H
#define QFORGE_RT_MODEL_STATE_H

#include "backend.h"

struct qforge_context;

namespace qforge::rt {

/// The calling thread's current context (qforge_rt_set_current), or null.
qforge_context *modelContext();
/// Whether a model call may run now (a current context, no failure yet);
/// records why not otherwise.
bool modelReady();
/// Records `status` if it is the first failure since set_current.
void modelRecord(qforge_status status);
/// The backend of a context.
Backend &backendOf(qforge_context *ctx);

} // namespace qforge::rt

#endif // QFORGE_RT_MODEL_STATE_H
