//===- QForgeDialect.cpp - qforge dialect registration --------------------===//

#include "dialect/QForgeDialect.h"
#include "dialect/QForgeOps.h"

#include "mlir/Transforms/InliningUtils.h"

using namespace mlir;
using namespace qforge;

#include "dialect/QForgeDialect.cpp.inc"

namespace {
/// Every qforge op may be inlined with the function that holds it: none
/// has regions or refers to its enclosing function. Without this the
/// inliner keeps any callee holding one (a quantized f16 body called from
/// its f32 wrapper stayed a call, whose buffers then needed host-side
/// deallocation bookkeeping the cuda target cannot have).
struct QForgeInlinerInterface : public DialectInlinerInterface {
  using DialectInlinerInterface::DialectInlinerInterface;
  bool isLegalToInline(Operation *, Region *, bool, IRMapping &) const final {
    return true;
  }
};
} // namespace

void QForgeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialect/QForgeOps.cpp.inc"
      >();
  addInterfaces<QForgeInlinerInterface>();
}
