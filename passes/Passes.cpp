//===- Passes.cpp - qforge pass registration ------------------------------===//
//
// Holds what is shared by every pass file; each pass lives in its own file.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
